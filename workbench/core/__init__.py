"""The Qt-free core: every fact about checkpoints, models, configs, graphs, attention, training.

Serves the GUI, the CLI and training processes alike;
must never import PySide6, pyqtgraph, workbench.qt or workbench.commands."""
