"""The checkpoint browser dock: file system (checkpoints marked), HF cache and recent items."""

from __future__ import annotations

import time
from pathlib import Path

from PySide6.QtCore import QDir, QModelIndex, Qt, Signal
from PySide6.QtGui import QBrush, QColor, QFont
from PySide6.QtWidgets import (
    QDockWidget,
    QFileSystemModel,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QTabWidget,
    QToolButton,
    QTreeView,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from workbench.core.checkpoint.hf_cache import display_name
from workbench.core.units import human_bytes
from workbench.qt.common.labels import ElidedLabel

CHECKPOINT_MARKERS = ("config.json", "model.safetensors", "model.safetensors.index.json",
                      "pytorch_model.bin", "adapter_config.json")
WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth")


def looks_like_checkpoint(path: Path) -> bool:
    """Cheap check (a few stat calls) used to mark items in the file tree."""
    if path.is_dir():
        return any((path / m).is_file() for m in CHECKPOINT_MARKERS)
    return path.suffix in WEIGHT_SUFFIXES or path.name.endswith(".index.json")


class CheckpointFileModel(QFileSystemModel):
    """A file system model that shows checkpoint folders and weight files in bold blue."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self._marks: dict[str, bool] = {}

    def data(self, index: QModelIndex, role=Qt.ItemDataRole.DisplayRole):
        if index.column() == 0 and role in (Qt.ItemDataRole.FontRole,
                                            Qt.ItemDataRole.ForegroundRole):
            path = self.filePath(index)
            mark = self._marks.get(path)
            if mark is None:
                mark = self._marks[path] = looks_like_checkpoint(Path(path))
            if mark:
                if role == Qt.ItemDataRole.FontRole:
                    font = QFont()
                    font.setBold(True)
                    return font
                return QBrush(QColor(25, 90, 170))
        return super().data(index, role)


class BrowserDock(QDockWidget):
    """Emits `openRequested(path)` when the user picks a checkpoint anywhere in the dock."""

    openRequested = Signal(str)

    def __init__(self, parent=None):
        super().__init__("Checkpoints", parent)
        self.setObjectName("BrowserDock")
        self.scan_task = None  # the cache scan running in the window's runner, if any
        self.tabs = QTabWidget()
        self.tabs.addTab(self._make_files_tab(), "Files")
        self.tabs.addTab(self._make_cache_tab(), "HF cache")
        self.recent_list = QListWidget()
        self.recent_list.itemActivated.connect(
            lambda item: self.openRequested.emit(item.data(Qt.ItemDataRole.UserRole)))
        self.tabs.addTab(self.recent_list, "Recent")
        self.setWidget(self.tabs)

    def _make_files_tab(self) -> QWidget:
        self.fs_model = CheckpointFileModel(self)
        self.fs_model.setFilter(
            QDir.Filter.AllDirs | QDir.Filter.Files | QDir.Filter.NoDotAndDotDot)
        self.fs_model.setRootPath(QDir.rootPath())
        self.file_tree = QTreeView()
        self.file_tree.setModel(self.fs_model)
        for col in (1, 2, 3):
            self.file_tree.hideColumn(col)
        self.file_tree.setHeaderHidden(True)
        self.file_tree.setSortingEnabled(True)
        self.file_tree.sortByColumn(0, Qt.SortOrder.AscendingOrder)
        self.file_tree.activated.connect(self._on_file_tree_activated)
        # The folder shown, with a way up and home: without them a tree rooted at an empty
        # home folder showed nothing and led nowhere.
        self.up_button = QToolButton()
        self.up_button.setText("\u2191 Up")
        self.up_button.setToolTip("Show the folder above")
        self.up_button.clicked.connect(lambda: self.set_tree_root(str(Path(self.tree_root).parent)))
        home = QToolButton()
        home.setText("Home")
        home.setToolTip(f"Show your home folder ({QDir.homePath()})")
        home.clicked.connect(lambda: self.set_tree_root(QDir.homePath()))
        self.root_label = ElidedLabel("")
        self.tree_empty = QLabel("This folder has no files to show. Go up, or use File > Open "
                                 "folder... to open a checkpoint elsewhere.")
        self.tree_empty.setWordWrap(True)
        self.tree_empty.setStyleSheet("color: palette(placeholder-text);")
        self.tree_empty.hide()
        self._listed: set[str] = set()  # folders the model has finished listing
        self.fs_model.directoryLoaded.connect(self._on_directory_loaded)
        self.fs_model.rowsInserted.connect(self._show_empty_state)
        self.fs_model.rowsRemoved.connect(self._show_empty_state)
        # Start in the home folder (not the file-system root); show_path moves the root up
        # when a checkpoint opened elsewhere.
        self.set_tree_root(QDir.homePath())
        hint = QLabel("Bold blue items are checkpoints: double-click to open.")
        hint.setWordWrap(True)
        bar = QHBoxLayout()
        bar.addWidget(self.up_button)
        bar.addWidget(self.root_label, 1)
        bar.addWidget(home)
        box = QWidget()
        layout = QVBoxLayout(box)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addWidget(hint)
        layout.addLayout(bar)
        layout.addWidget(self.tree_empty)
        layout.addWidget(self.file_tree)
        return box

    def _on_directory_loaded(self, folder: str) -> None:
        self._listed.add(str(Path(folder)))
        self._show_empty_state()

    def _show_empty_state(self, *_args) -> None:
        """The empty-folder note, once the shown folder is listed and has nothing to show."""
        root = self.fs_model.index(self.tree_root)
        self.tree_empty.setVisible(self.tree_root in self._listed
                                   and self.fs_model.rowCount(root) == 0)

    def _on_file_tree_activated(self, index: QModelIndex) -> None:
        path = Path(self.fs_model.filePath(index))
        if looks_like_checkpoint(path):
            self.openRequested.emit(str(path))

    def set_tree_root(self, folder: str) -> None:
        """Show the file tree from `folder` down."""
        self.tree_root = str(Path(folder))
        root = self.fs_model.index(self.tree_root)
        self.file_tree.setRootIndex(root)
        self.root_label.set_full_text(self.tree_root)
        self.up_button.setEnabled(Path(self.tree_root).parent != Path(self.tree_root))
        if self.fs_model.canFetchMore(root):  # listed in the model's thread: directoryLoaded
            self.fs_model.fetchMore(root)
        self._show_empty_state()

    def show_path(self, path: str) -> None:
        """Select `path` in the file tree with only its own parent folders expanded."""
        index = self.fs_model.index(path)
        if not index.isValid():
            return
        target = Path(path)
        if not target.is_relative_to(self.tree_root):
            # Outside the shown folder: show the folder holding it, with its siblings.
            self.set_tree_root(str(target.parent))
        self.file_tree.collapseAll()
        parent = index.parent()
        while parent.isValid():
            self.file_tree.expand(parent)
            parent = parent.parent()
        self.file_tree.setCurrentIndex(index)
        self.file_tree.scrollTo(index)

    # -- HF cache ------------------------------------------------------------------------------
    def _make_cache_tab(self) -> QWidget:
        self.cache_tree = QTreeWidget()
        self.cache_tree.setHeaderLabels(["Repository", "Size", "Last used"])
        self.cache_tree.setColumnWidth(0, 220)
        self.cache_tree.itemActivated.connect(
            lambda item, _col: self.openRequested.emit(item.data(0, Qt.ItemDataRole.UserRole)))
        self.cache_status = QLabel("Not scanned yet.")
        self.cache_status.setWordWrap(True)
        refresh = QPushButton("Scan cache")
        refresh.clicked.connect(self.refresh_cache)
        box = QWidget()
        layout = QVBoxLayout(box)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addWidget(self.cache_status)
        layout.addWidget(self.cache_tree)
        layout.addWidget(refresh)
        return box

    def refresh_cache(self) -> None:
        """Scan the HF cache (a bounded directory walk: in a worker of the owner's runner)."""
        from workbench.core.checkpoint.hf_cache import hub_cache_dir, scan_cached_models

        runner = getattr(self.parent(), "runner", None)
        self.cache_status.setText(f"Scanning {hub_cache_dir()} ...")
        if self.scan_task is not None:
            self.scan_task.cancel()
        if runner is None:
            self._show_scan(scan_cached_models())
        else:
            self.scan_task = runner.start(
                scan_cached_models, on_success=self._show_scan,
                on_error=lambda msg, _d: self.cache_status.setText(msg))

    def _show_scan(self, scan) -> None:
        from workbench.qt.browser.start_page import cut_short_text

        self._show_cache(scan.models)
        if not scan.complete:
            self.cache_status.setText(cut_short_text(scan))

    def _show_cache(self, models) -> None:
        from workbench.core.checkpoint.hf_cache import hub_cache_dir

        self.cache_tree.clear()
        for m in models:
            used = time.strftime("%Y-%m-%d %H:%M", time.localtime(m.last_accessed))
            item = QTreeWidgetItem([m.repo_id, human_bytes(m.size_on_disk), used])
            item.setData(0, Qt.ItemDataRole.UserRole, m.snapshot_path)
            item.setToolTip(0, f"{m.snapshot_path}\nrevisions: {', '.join(m.revisions)}")
            self.cache_tree.addTopLevelItem(item)
        self.cache_status.setText(
            f"{len(models)} model(s) in {hub_cache_dir()}. Double-click one to open it."
            if models else f"No models cached in {hub_cache_dir()} (set HF_HOME or HF_HUB_CACHE "
                           f"to use another cache).")

    # -- recent ----------------------------------------------------------------------------------
    def set_recent(self, paths: list[str]) -> None:
        self.recent_list.clear()
        for p in paths:
            item = QListWidgetItem(display_name(p))
            item.setToolTip(p)
            item.setData(Qt.ItemDataRole.UserRole, p)
            self.recent_list.addItem(item)
