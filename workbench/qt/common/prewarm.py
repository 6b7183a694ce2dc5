"""Import what the plotting views need off the GUI thread, once the window is up.

pyqtgraph takes ~0.8 s to import here; imported lazily on the GUI thread it froze the window
the first time Attention, Graph or Fine-tune opened. Pure-Python imports in a worker release
the GIL every few milliseconds, so the window keeps painting meanwhile; a view opened while the
import still runs waits for it (Python's import lock) instead of importing twice.
"""

from __future__ import annotations


def prewarm_imports() -> None:
    """Worker side: import the plotting library (defines classes, makes no widgets)."""
    import pyqtgraph  # noqa: F401
