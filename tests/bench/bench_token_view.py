"""Token view paint cost at 2,048 tokens (prints numbers; no asserts on time).

    QT_QPA_PLATFORM=offscreen python tests/bench/bench_token_view.py

Peaked random attention (4 heads, softmax of N(0, 3^2) logits), the link table made once as
the worker does, then 15 page-down scrolls each repainted at once: one head, then every head
and the mean. Also the link table's own cost (worker side).
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))


def main() -> None:
    import numpy as np
    from PySide6.QtWidgets import QApplication

    from workbench.core.attention.compute import Token
    from workbench.core.attention.links import MEAN, link_table
    from workbench.qt.attention.token_view import TokenView

    app = QApplication.instance() or QApplication(sys.argv[:1])
    heads, n = 4, 2048
    rng = np.random.default_rng(0)
    maps = rng.standard_normal((heads, n, n), dtype=np.float32) * 3
    maps = np.exp(maps - maps.max(-1, keepdims=True))
    maps /= maps.sum(-1, keepdims=True)
    t0 = time.perf_counter()
    table = link_table(maps)
    print(f"link table ({heads} heads + mean, {n} tokens): {(time.perf_counter() - t0) * 1e3:.0f}"
          f" ms in the worker, {len(table.weight)} links")
    tokens = [Token(f"t{i}", i, False) for i in range(n)]
    view = TokenView()
    view.resize(1440, 700)
    view.show()
    view.set_data(maps, tokens, tokens, 0, table=table)
    for _ in range(5):
        app.processEvents()
    bar = view.scroll.verticalScrollBar()
    for label, selected in (("one head", [0]), ("all heads + mean", [*range(heads), MEAN])):
        view.select_heads(selected)
        times = []
        for _ in range(15):
            bar.setValue(bar.value() + bar.pageStep())
            t0 = time.perf_counter()
            view.scroll.viewport().repaint()
            times.append((time.perf_counter() - t0) * 1e3)
        print(f"{label:18s}: paint median {statistics.median(times):5.1f} ms, max "
              f"{max(times):5.1f} ms, {view.canvas.painted[1]} lines in view")
    view.close()


if __name__ == "__main__":
    main()
