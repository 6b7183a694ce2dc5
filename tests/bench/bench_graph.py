"""Benchmark: the Graph view on a Llama-3-70B-shaped sharded checkpoint (headers only).

    QT_QPA_PLATFORM=offscreen python tests/bench/bench_graph.py [--shots DIR]

Prints: time to the folded graph after open, trace time, expand-all time, and frame times of
viewport repaints while zooming and panning with all 80 layers expanded. No asserts.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.bench.fake_70b import make_fake_llama70b


def _wait(app, condition, timeout: float = 120.0) -> None:
    end = time.perf_counter() + timeout
    while not condition():
        if time.perf_counter() > end:
            raise TimeoutError("benchmark step timed out")
        app.processEvents()
        time.sleep(0.002)


def _frames(app, view, steps) -> list[float]:
    """Milliseconds per synchronous viewport repaint after each interaction step."""
    out = []
    for step in steps:
        step()
        app.processEvents()
        t = time.perf_counter()
        view.canvas.viewport().repaint()
        out.append((time.perf_counter() - t) * 1000)
    return out


def _summary(name: str, ms: list[float]) -> str:
    ms = sorted(ms)
    p95 = ms[min(len(ms) - 1, int(len(ms) * 0.95))]
    return (f"  {name:34} median {statistics.median(ms):6.1f} ms   p95 {p95:6.1f} ms   "
            f"max {ms[-1]:6.1f} ms   ({len(ms)} frames)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--shots", help="save folded/expanded screenshots into this folder")
    args = parser.parse_args()

    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QApplication

    app = QApplication([])
    from workbench.qt.main_window import MainWindow

    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        folder = make_fake_llama70b(Path(tmp) / "llama-3-70b")
        print(f"fixture: 30 sparse shards written in {time.perf_counter() - t:.2f} s")

        window = MainWindow(settings=QSettings(str(Path(tmp) / "s.ini"),
                                               QSettings.Format.IniFormat))
        window.resize(1600, 1000)
        window.show()
        tabs: list = []
        window.checkpointOpened.connect(tabs.append)
        t_open = time.perf_counter()
        window.open_checkpoint(str(folder))
        _wait(app, lambda: tabs)
        t_tab = time.perf_counter()
        cpu_tab = time.process_time()
        tab = tabs[0]
        view = tab.show_view("Graph")
        app.processEvents()
        view.canvas.fit()
        view.canvas.viewport().repaint()
        t_graph = time.perf_counter()
        cpu_graph = time.process_time() - cpu_tab
        boxes = len(view.scene.layout_data.boxes)
        done: list = []
        view.traced.connect(lambda: done.append(1))
        _wait(app, lambda: done or view.report is not None)
        t_traced = time.perf_counter()
        print(f"open -> tab (headers of 30 shards + meta model, worker): "
              f"{t_tab - t_open:.2f} s")
        print(f"Graph tab -> folded graph painted ({boxes} boxes): "
              f"{(t_graph - t_tab) * 1000:.0f} ms wall, {cpu_graph * 1000:.0f} ms CPU "
              f"(load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores)")
        print(f"open -> folded graph painted: {t_graph - t_open:.2f} s")
        print(f"shape + dataflow trace (worker, FakeTensor forward of 80 layers): "
              f"{t_traced - t_graph:.2f} s; banner: "
              f"{view.banner.text() if view.banner.isVisible() else 'none'}")
        if args.shots:
            Path(args.shots).mkdir(parents=True, exist_ok=True)
            view.canvas.fit()
            view.select("model.layers")
            app.processEvents()
            window.grab().save(str(Path(args.shots) / "graph-folded.png"))

        t = time.perf_counter()
        view.expand_all()
        app.processEvents()
        view.canvas.viewport().repaint()
        total = len(view.scene.layout_data.boxes)
        print(f"expand all: {total} boxes laid out and painted in "
              f"{(time.perf_counter() - t) * 1000:.0f} ms")

        canvas = view.canvas
        view.canvas.fit()
        zoom_fit = canvas.zoom
        print(f"frame times, all 80 layers expanded (zoom at fit = {zoom_fit:.3f}):")
        zoom_out = [lambda: canvas.zoom_by(1.1)] * 20 + [lambda: canvas.zoom_by(1 / 1.1)] * 20
        print(_summary("zoom in/out around fit", _frames(app, view, zoom_out)))
        canvas.zoom_by(1.0 / canvas.zoom)  # 100 %: readable text
        target = view.scene.items_by_key["model.layers.40.self_attn"]
        canvas.centerOn(target)
        bar = canvas.verticalScrollBar()
        pan = [lambda: bar.setValue(bar.value() + 40)] * 40 + \
              [lambda: bar.setValue(bar.value() - 40)] * 40
        print(_summary("pan at 100 % zoom", _frames(app, view, pan)))
        zoom_100 = [lambda: canvas.zoom_by(1.1)] * 10 + [lambda: canvas.zoom_by(1 / 1.1)] * 10
        print(_summary("zoom in/out at 100 %", _frames(app, view, zoom_100)))
        canvas.zoom_by(0.3 / canvas.zoom)
        pan_far = [lambda: bar.setValue(bar.value() + 200)] * 30
        print(_summary("pan at 30 % zoom (no text)", _frames(app, view, pan_far)))
        t = time.perf_counter()
        view.search("layers.79.mlp.down_proj")
        print(f"search + jump to layers.79.mlp.down_proj: "
              f"{(time.perf_counter() - t) * 1000:.0f} ms")
        if args.shots:
            canvas.zoom_by(0.75 / canvas.zoom)
            canvas.centerOn(view.scene.items_by_key["model.layers.1"])
            view.select("model.layers.1.self_attn")
            app.processEvents()
            window.grab().save(str(Path(args.shots) / "graph-expanded.png"))
        window.close()


if __name__ == "__main__":
    main()
