"""The empty state: what the user can do first."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from workbench.core.checkpoint.hf_cache import display_name


class StartPage(QWidget):
    """Buttons for Open / demo / cache, and the recent checkpoints."""

    openFolderClicked = Signal()
    openFileClicked = Signal()
    demoClicked = Signal()
    cacheClicked = Signal()
    recentActivated = Signal(str)

    def __init__(self, parent=None):
        super().__init__(parent)
        title = QLabel("<h1>Transformer Workbench</h1><p>Open a checkpoint to see its "
                       "architecture, tensors and parameters; everything is read from headers, "
                       "so even a 70B model opens instantly.</p><p>You can also drop a folder "
                       "or a weights file onto this window.</p>")
        title.setWordWrap(True)
        buttons = QHBoxLayout()
        for text, signal in (("Open folder...", self.openFolderClicked),
                             ("Open file...", self.openFileClicked),
                             ("Open demo model", self.demoClicked),
                             ("Browse HF cache", self.cacheClicked)):
            button = QPushButton(text)
            button.setMinimumHeight(36)
            button.clicked.connect(signal.emit)
            buttons.addWidget(button)
        buttons.addStretch()
        self.recent = QListWidget()
        self.recent.itemActivated.connect(
            lambda item: self.recentActivated.emit(item.data(Qt.ItemDataRole.UserRole)))
        layout = QVBoxLayout(self)
        layout.setContentsMargins(40, 30, 40, 30)
        layout.addWidget(title)
        layout.addLayout(buttons)
        layout.addWidget(QLabel("<b>Recent checkpoints</b>"))
        layout.addWidget(self.recent, 1)

    def set_recent(self, paths: list[str]) -> None:
        self.recent.clear()
        if not paths:
            item = QListWidgetItem("Nothing yet: checkpoints you open appear here.")
            item.setFlags(Qt.ItemFlag.NoItemFlags)
            self.recent.addItem(item)
        for p in paths:
            item = QListWidgetItem(f"{display_name(p)}    {p}")
            item.setData(Qt.ItemDataRole.UserRole, p)
            self.recent.addItem(item)
