"""Import what the plotting views need off the GUI thread, once the window is up.

pyqtgraph takes ~0.8 s to import here; imported lazily on the GUI thread it froze the window
the first time Attention, Graph or Fine-tune opened. Pure-Python imports in a worker release
the GIL every few milliseconds, so the window keeps painting meanwhile; a view opened while the
import still runs waits for it (Python's import lock) instead of importing twice.
"""

from __future__ import annotations

# Modules whose import only defines classes and plain values (no fonts, pixmaps or widgets).
MODULES = ("pyqtgraph", "workbench.qt.attention.view", "workbench.core.graph.layout")


def prewarm_imports() -> None:
    """Worker side: import the plotting library and the heaviest views' modules."""
    import importlib

    for name in MODULES:
        importlib.import_module(name)
