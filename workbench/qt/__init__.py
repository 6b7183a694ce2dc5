"""The GUI: the only package that imports PySide6 and pyqtgraph.

Draws and dispatches; everything it computes comes from workbench.core through workers."""
