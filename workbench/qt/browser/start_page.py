"""The empty state: what the user can do first."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from workbench.core.checkpoint.hf_cache import display_name
from workbench.core.units import human_bytes
from workbench.qt.common.splitter_memory import RememberedSplitter

CACHE_COLUMNS = ("Repository", "Size", "Last used", "Revisions")


def cut_short_text(scan) -> str:
    """The status line of a cache scan that stopped at a limit."""
    return (f"Scan of {scan.folder} {scan.reason}: showing the {len(scan.models)} most "
            f"recently changed model(s) found so far (sizes of the last may be partial); more "
            f"may be in the cache.")


class _SortItem(QTableWidgetItem):
    """A cell that sorts by the number behind its text (sizes, times)."""

    def __lt__(self, other):
        a, b = self.data(Qt.ItemDataRole.UserRole + 1), other.data(Qt.ItemDataRole.UserRole + 1)
        return a < b if a is not None and b is not None else self.text() < other.text()


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
        # Long paths are elided in the middle (the tooltip has them whole), never scrolled
        # sideways: a horizontal scroll bar in a list of names is a layout failure.
        self.recent.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.recent.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        self.recent_empty = QLabel("Nothing yet: checkpoints you open appear here. Start with "
                                   "<b>Open demo model</b> if you have none at hand.")
        self.recent_empty.setWordWrap(True)
        self.recent_empty.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        self.recent_empty.setStyleSheet("color: palette(placeholder-text); padding: 6px;")
        self.recent.itemActivated.connect(
            lambda item: self.recentActivated.emit(item.data(Qt.ItemDataRole.UserRole)))
        layout = QVBoxLayout(self)
        layout.setContentsMargins(40, 30, 40, 30)
        layout.addWidget(title)
        layout.addLayout(buttons)
        self.cache_table = QTableWidget(0, len(CACHE_COLUMNS))
        self.cache_table.setHorizontalHeaderLabels(CACHE_COLUMNS)
        self.cache_table.setSortingEnabled(True)
        self.cache_table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.cache_table.setSelectionBehavior(QTableWidget.SelectionBehavior.SelectRows)
        self.cache_table.verticalHeader().hide()
        self.cache_table.horizontalHeader().setStretchLastSection(False)
        self.cache_table.horizontalHeader().setSectionResizeMode(
            0, self.cache_table.horizontalHeader().ResizeMode.Stretch)
        self.cache_table.cellDoubleClicked.connect(self._on_cache_table_cellDoubleClicked)
        self.cache_status = QLabel("Scanning the Hugging Face cache...")
        self.cache_status.setWordWrap(True)
        self._scanned = False
        self.scan_task = None  # the scan running in the window's runner, if any
        left, right = QWidget(), QWidget()
        left_layout, right_layout = QVBoxLayout(left), QVBoxLayout(right)
        left_layout.addWidget(QLabel("<b>Recent checkpoints</b>"))
        left_layout.addWidget(self.recent, 1)
        left_layout.addWidget(self.recent_empty, 1)
        self.recent.hide()
        right_layout.addWidget(QLabel("<b>Models in the Hugging Face cache</b>"))
        right_layout.addWidget(self.cache_status)
        right_layout.addWidget(self.cache_table, 1)
        right_layout.addStretch()  # holds the message at the top while the table is hidden
        for w in (left_layout, right_layout):
            w.setContentsMargins(0, 8, 0, 0)
        split = RememberedSplitter()
        split.addWidget(left)
        split.addWidget(right)
        split.setStretchFactor(0, 2)
        split.setStretchFactor(1, 3)
        layout.addWidget(split, 1)

    def showEvent(self, event) -> None:
        super().showEvent(event)
        if not self._scanned:
            self.scan_cache()

    def scan_cache(self) -> None:
        """List the cache's models in a worker of the window's runner: a walk bounded in time
        and entries (core's scan_cached_models), cancelled when the window closes."""
        from workbench.core.checkpoint.hf_cache import scan_cached_models

        self._scanned = True
        if self.scan_task is not None:
            self.scan_task.cancel()  # a rescan replaces the one still running
        runner = getattr(self.window(), "runner", None)
        if runner is None:
            self.set_cache_scan(scan_cached_models())
        else:
            self.scan_task = runner.start(
                scan_cached_models, on_success=self.set_cache_scan,
                on_error=lambda msg, _d: self.cache_status.setText(msg))

    def set_cache_scan(self, scan) -> None:
        """Fill the table from a core CacheScan; say so when the scan stopped early."""
        self.set_cache_models(scan.models)
        if not scan.complete:
            self.cache_status.setText(cut_short_text(scan))

    def set_cache_models(self, models) -> None:
        """Fill the table from CachedModel rows (core/checkpoint/hf_cache)."""
        import time

        from workbench.core.checkpoint.hf_cache import hub_cache_dir

        table = self.cache_table
        table.setSortingEnabled(False)
        table.setRowCount(len(models))
        for r, m in enumerate(models):
            cells = [(m.repo_id, None), (human_bytes(m.size_on_disk), m.size_on_disk),
                     (time.strftime("%Y-%m-%d %H:%M", time.localtime(m.last_accessed)),
                      m.last_accessed), (str(len(m.revisions)), len(m.revisions))]
            for c, (text, key) in enumerate(cells):
                item = _SortItem(text)
                item.setData(Qt.ItemDataRole.UserRole, m.snapshot_path)
                item.setData(Qt.ItemDataRole.UserRole + 1, key)
                item.setToolTip(m.snapshot_path)
                table.setItem(r, c, item)
        table.setSortingEnabled(True)
        table.resizeColumnsToContents()
        table.setVisible(bool(models))  # an empty table filled half the start page
        self.cache_status.setText(
            f"{len(models)} model(s) in {hub_cache_dir()}; double-click one to open it."
            if models else f"No models in {hub_cache_dir()} yet. Download one with File > "
                           f"Download from Hub, or set HF_HOME / HF_HUB_CACHE to use another "
                           f"cache.")

    def _on_cache_table_cellDoubleClicked(self, row: int, _column: int) -> None:
        item = self.cache_table.item(row, 0)
        if item is not None:
            self.recentActivated.emit(item.data(Qt.ItemDataRole.UserRole))

    def set_recent(self, paths: list[str]) -> None:
        """Show the recent checkpoints, name over path, or the empty state when there are none."""
        self.recent.clear()
        self.recent.setVisible(bool(paths))
        self.recent_empty.setVisible(not paths)
        for p in paths:
            item = QListWidgetItem(f"{display_name(p)}\n{p}")
            item.setData(Qt.ItemDataRole.UserRole, p)
            item.setToolTip(p)
            self.recent.addItem(item)
