"""Benchmark: opening checkpoints (header-only) and cold start to a visible window.

    python tests/bench/bench_open.py

Prints: time to a full overview + module tree for a Llama-3-70B-shaped sharded checkpoint
(30 sparse shards) and for the 22M-parameter MiniLM, both after imports, in the core and through
the GUI; RSS growth for the 70B open; cold start of `MainWindow` to a visible window.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.bench.fake_70b import make_fake_llama70b


def rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def median_time(fn, reps: int = 5) -> float:
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def cold_start(reps: int = 3) -> float:
    code = ("import time, sys; t0 = float(sys.argv[1]);"
            "from PySide6.QtWidgets import QApplication; app = QApplication([]);"
            "from workbench.qt.main_window import MainWindow; w = MainWindow(); w.show();"
            "app.processEvents(); print(time.time() - t0)")
    times = []
    for _ in range(reps):
        out = subprocess.run([sys.executable, "-c", code, repr(time.time())], capture_output=True,
                             text=True, check=True).stdout
        times.append(float(out.strip().splitlines()[-1]))
    return statistics.median(times)


def gui_open_time(path: Path) -> float:
    from PySide6.QtWidgets import QApplication

    from workbench.qt.main_window import MainWindow

    app = QApplication.instance() or QApplication([])
    window = MainWindow()
    window.show()
    opened = []
    window.checkpointOpened.connect(opened.append)
    start = time.perf_counter()
    window.open_checkpoint(str(path))
    while not opened:
        app.processEvents()
        time.sleep(0.001)
    app.processEvents()  # the tab is laid out and painted
    elapsed = time.perf_counter() - start
    window.close()
    return elapsed


def main() -> None:
    print(f"cold start to a visible window: {cold_start():.2f} s (median of 3)")
    t = time.perf_counter()
    import torch  # noqa: F401
    import transformers  # noqa: F401

    from workbench.core.checkpoint.inspection import inspect_checkpoint
    from workbench.core.model.loading import demo_checkpoint_path

    print(f"imports (torch, transformers, workbench.core): {time.perf_counter() - t:.2f} s")
    with tempfile.TemporaryDirectory() as tmp:
        big = make_fake_llama70b(Path(tmp) / "llama70b")
        small = demo_checkpoint_path()
        # Warm the lazily imported modeling modules once per family (part of "imports").
        inspect_checkpoint(small)
        rss0 = rss_mb()
        info = inspect_checkpoint(big)
        rss_growth = rss_mb() - rss0
        print(f"70B checkpoint: {info.num_parameters / 1e9:.2f} B params, {len(info.shards)} "
              f"shards, {info.num_tensors} tensors, module tree of "
              f"{sum(1 for _ in info.module_tree.walk())} modules")
        t_big = median_time(lambda: inspect_checkpoint(big))
        t_small = median_time(lambda: inspect_checkpoint(small))
        print(f"core open, 70B: {t_big * 1000:.0f} ms; 22M MiniLM: {t_small * 1000:.0f} ms; "
              f"ratio {t_big / t_small:.2f}x (median of 5)")
        print(f"RSS growth for the first 70B open: {rss_growth:.0f} MB")
        g_big = statistics.median(gui_open_time(big) for _ in range(3))
        g_small = statistics.median(gui_open_time(small) for _ in range(3))
        print(f"GUI open to a shown tab, 70B: {g_big * 1000:.0f} ms; 22M: {g_small * 1000:.0f} ms;"
              f" ratio {g_big / g_small:.2f}x (median of 3)")


if __name__ == "__main__":
    main()
