"""Event-loop stalls per screen while it does its heaviest thing (prints figures, no asserts).

    QT_QPA_PLATFORM=offscreen python tests/bench/bench_stalls.py

A 16 ms QTimer records the interval between its ticks; a tick late by more than the period
means the GUI thread was busy. For each screen the probe runs while the screen does its
heaviest work, and p99 and max of (interval - 16 ms) are printed:
attention at 512 tokens (MiniLM) and at 2,048 tokens (a tiny Llama with MiniLM's tokenizer),
rollout, the all-heads grid, the token view, and the graph layout (expand all) of MiniLM and of
the 70B-shaped checkpoint from tests/bench/fake_70b.py.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

PERIOD_MS = 16


class StallProbe:
    """Ticks every 16 ms; `stalls()` are how late each tick came (ms)."""

    def __init__(self):
        from PySide6.QtCore import QTimer

        self.timer = QTimer()
        self.timer.setInterval(PERIOD_MS)
        self.timer.timeout.connect(self._tick)
        self.times: list[float] = []

    def _tick(self) -> None:
        self.times.append(time.perf_counter())

    def start(self) -> None:
        self.times = [time.perf_counter()]
        self.timer.start()

    def stop(self) -> np.ndarray:
        self.timer.stop()
        gaps = np.diff(np.asarray(self.times)) * 1000 - PERIOD_MS
        return np.clip(gaps, 0, None)


def main() -> int:
    from PySide6.QtCore import QEventLoop, QSettings
    from PySide6.QtWidgets import QApplication

    from tests.bench.bench_attention import text_of_tokens
    from tests.bench.fake_70b import make_fake_llama70b
    from tests.fixtures.attention import tiny_with_tokenizer
    from workbench.core.model.loading import demo_checkpoint_path, load_tokenizer
    from workbench.qt.main_window import MainWindow

    app = QApplication.instance() or QApplication(sys.argv[:1])
    import workbench.qt.attention.view as attention_view
    import workbench.qt.main_window as main_window

    def report(_parent, title, message, details=""):  # a modal box would hang the script
        raise SystemExit(f"{title}: {message}\n{details}")

    attention_view.show_error = main_window.show_error = report
    root = Path(tempfile.mkdtemp(prefix="stalls_"))
    window = MainWindow(settings=QSettings(str(root / "s.ini"), QSettings.Format.IniFormat))
    window.resize(1440, 900)
    window.show()
    probe = StallProbe()
    rows: list[tuple[str, np.ndarray]] = []

    def wait(condition, seconds: float = 240) -> None:
        deadline = time.time() + seconds
        while not condition():
            if time.time() > deadline:
                raise TimeoutError
            app.processEvents(QEventLoop.ProcessEventsFlag.AllEvents, 20)
            time.sleep(0.002)

    def measure(name: str, action, done, settle: float = 0.3) -> None:
        probe.start()
        action()
        wait(done)
        end = time.time() + settle  # what follows the result (repaints) counts too
        wait(lambda: time.time() > end)
        rows.append((name, probe.stop()))
        print(f"{name:42s} p99 {np.percentile(rows[-1][1], 99):6.1f} ms   "
              f"max {rows[-1][1].max():6.1f} ms   ({rows[-1][1].size} ticks)", flush=True)

    def open_tab(path: str):
        before = window.tabs.count()
        if window.open_checkpoint(path) is None:  # already open: now in front
            return window.current_tab()
        wait(lambda: window.tabs.count() > before)
        return window.tabs.widget(window.tabs.count() - 1)

    minilm = str(demo_checkpoint_path())
    tokenizer = load_tokenizer(minilm)
    files = [Path(minilm) / n for n in ("tokenizer.json", "tokenizer_config.json",
                                        "vocab.txt", "special_tokens_map.json")
             if (Path(minilm) / n).is_file()]
    llama = tiny_with_tokenizer("llama", root / "llama2k", files,
                                max_position_embeddings=4096)

    for path, tokens in ((minilm, 512), (str(llama), 2048)):
        tab = open_tab(path)
        view = tab.show_view("Attention")
        view.text_edit.setPlainText(text_of_tokens(tokenizer, tokens))
        count = [0]
        view.rendered.connect(lambda c=count: c.__setitem__(0, c[0] + 1))
        view.failed.connect(lambda message: sys.exit(f"attention failed: {message}"))
        label = f"attention {tokens} tokens"
        measure(f"{label}: run + render", view.run, lambda c=count: c[0] >= 1)
        shown = [0]
        view.matrixShown.connect(lambda s=shown: s.__setitem__(0, s[0] + 1))
        measure(f"{label}: rollout", lambda v=view: v.select(mode=3), lambda s=shown: s[0] >= 1)
        measure(f"{label}: all-heads grid", lambda v=view: v.views.setCurrentWidget(v.grid),
                lambda: True)
        measure(f"{label}: token view", lambda v=view: v.views.setCurrentWidget(v.token_view),
                lambda: True)
        view.select(mode=0)
        tab.setCurrentIndex(0)
    fake = make_fake_llama70b(root / "llama70b")
    for name, path in (("MiniLM", minilm), ("70B-shaped", str(fake))):
        tab = open_tab(path)
        graph = [None]

        def show(t=tab, g=graph):
            g[0] = t.show_view("Graph")

        measure(f"graph {name}: open + trace", show,
                lambda g=graph: g[0] is not None and g[0].report is not None)
        measure(f"graph {name}: expand all", lambda g=graph: g[0].expand_all(), lambda: True)
    window.close()
    worst = max(rows, key=lambda r: r[1].max())
    print(f"worst: {worst[0]} (max {worst[1].max():.1f} ms)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
