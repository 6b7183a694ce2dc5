"""How long the GUI thread stalls when the Attention tab switches to rollout on a long input.

    QT_QPA_PLATFORM=offscreen python tests/bench/bench_attention_select.py

MiniLM-shaped maps (6 layers x 12 heads) at 493 tokens, the input the issue measured. A 5 ms
QTimer records the longest gap of the event loop from the click until the heatmap shows the new
matrix: "inline" forces the old behaviour (every selection computed on the GUI thread),
"worker" is the default (selections above INLINE_COST go to core.attention.aggregate in a
worker). Prints numbers; asserts nothing about time.
"""

from __future__ import annotations

import dataclasses
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

T, LAYERS, HEADS, REPEATS = 493, 6, 12, 3


def main() -> None:
    import numpy as np
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    import workbench.qt.attention.view as view_module
    from workbench.core.attention.aggregate import MapMode
    from workbench.core.attention.compute import Token
    from workbench.core.model.loading import demo_checkpoint_path
    from workbench.qt.main_window import MainWindow

    app = QApplication.instance() or QApplication([])
    window = MainWindow()
    window.show()
    opened: list = []
    window.checkpointOpened.connect(opened.append)
    window.open_checkpoint(str(demo_checkpoint_path()))
    while not opened:
        app.processEvents()
    view = opened[0].show_view("Attention")
    view.text_edit.setPlainText("The cat sat on the mat.")
    done: list = []
    view.rendered.connect(lambda: done.append(1))
    view.run()
    while not done:
        app.processEvents()

    rng = np.random.default_rng(0)
    weights = rng.random((LAYERS, HEADS, T, T), dtype=np.float32)
    weights /= weights.sum(-1, keepdims=True)
    tokens = tuple(Token(f"t{i}", i, False) for i in range(T))
    view.maps = dataclasses.replace(view.maps, maps={"self": weights}, tokens=tokens,
                                    layers={"self": tuple(range(LAYERS))},
                                    num_layers={"self": LAYERS})
    view._fill_layers()

    def stall(inline: bool) -> tuple[float, float]:
        """(longest event-loop gap, click-to-shown), in ms, for one switch to rollout."""
        view_module.INLINE_COST = 10**18 if inline else default_cost
        view.select(mode=MapMode.MEAN, layer=LAYERS - 1)
        app.processEvents()
        shown: list = []
        view.matrixShown.connect(lambda: shown.append(time.perf_counter()))
        gaps, last = [0.0], [time.perf_counter()]

        def tick() -> None:
            now = time.perf_counter()
            gaps.append(now - last[0])
            last[0] = now

        timer = QTimer()
        timer.setInterval(5)
        timer.timeout.connect(tick)
        timer.start()
        app.processEvents()
        last[0] = t0 = time.perf_counter()
        view.select(mode=MapMode.ROLLOUT)
        while not shown:
            app.processEvents()
        tick()
        timer.stop()
        view.matrixShown.disconnect()
        return max(gaps) * 1e3, (shown[0] - t0) * 1e3

    default_cost = view_module.INLINE_COST
    for label, inline in (("inline (old)", True), ("worker (new)", False)):
        runs = [stall(inline) for _ in range(REPEATS)]
        print(f"{label:13s} rollout of {LAYERS} layers x {HEADS} heads at {T} tokens: longest "
              f"GUI stall {min(r[0] for r in runs):.0f}-{max(r[0] for r in runs):.0f} ms, "
              f"click to shown {min(r[1] for r in runs):.0f}-{max(r[1] for r in runs):.0f} ms")
    view_module.INLINE_COST = default_cost
    window.close()


if __name__ == "__main__":
    main()
