"""One open checkpoint: overview, tensors, config, modules, plus the feature views.

Feature views (config editor, graph, attention, fine-tuning) register in FEATURE_VIEWS as
(title, "module:Class"). Each class is constructed as `Class(tab)` when its tab is first shown,
gets the CheckpointInfo as `tab.info` and the shared TaskRunner as `tab.runner`, and may define
`shutdown()` to release what it holds when the tab closes.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from functools import partial

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QTabWidget, QWidget

from workbench.core.checkpoint.inspection import CheckpointInfo
from workbench.qt.common.json_tree import JsonTreeView
from workbench.qt.common.tasks import TaskGroup, TaskRunner
from workbench.qt.inspect.module_tree_view import ModuleTreeView
from workbench.qt.inspect.overview import (  # noqa: F401 (the Overview's public names, here too)
    OverviewView,
    _parameters_text,
    overview_html,
    warning_badge,
)
from workbench.qt.inspect.tensor_table import TensorTableView

FEATURE_VIEWS: list[tuple[str, str]] = [
    ("Edit config", "workbench.qt.config.editor_view:ConfigEditorView"),
    ("Graph", "workbench.qt.graph.view:GraphView"),
    ("Attention", "workbench.qt.attention.view:AttentionView"),
    ("Fine-tune", "workbench.qt.train.view:TrainView"),
]


# RAM and each GPU's memory once detected (the first tab asks; later tabs reuse the answer).
_detected_devices = None


def _feature_view(target: str, tab: CheckpointTab) -> QWidget:
    """Build the feature view `target` ("module:Class") for `tab` (its module imports here)."""
    module_name, class_name = target.split(":")
    return getattr(importlib.import_module(module_name), class_name)(tab)


def _detect_memory_devices():
    """Worker-side: the memories the Overview compares with (imports torch, may start CUDA)."""
    from workbench.core.devices import available_devices, memory_devices

    return memory_devices(available_devices())


class CheckpointTab(QTabWidget):
    """The views of one checkpoint, built lazily; `shutdown()` frees what they hold."""

    def __init__(self, info: CheckpointInfo, runner: TaskRunner, parent=None):
        super().__init__(parent)
        self.info, self.runner = info, runner
        self.setDocumentMode(True)
        self._tasks = TaskGroup(runner)
        self.overview = OverviewView(info, devices=_detected_devices)
        if self.overview.devices_pending:  # GPUs: torch (and CUDA) answer in a worker
            self._tasks.start(_detect_memory_devices, on_success=self._on_devices_detected,
                              on_error=lambda _msg, _details: self.overview.set_devices(
                                  self.overview.devices))  # RAM only, and say no more
        self.addTab(self.overview, "Overview")
        self.overview.viewRequested.connect(self.show_view)
        self.overview.exportRequested.connect(self._on_overview_exportRequested)
        self.badge_text = warning_badge(len(info.warnings))
        if self.badge_text:
            self.setTabToolTip(0, f"{len(info.warnings)} warning(s): see the top of the Overview")
            self.badge_icon = warning_icon(len(info.warnings))
            self.setTabIcon(0, self.badge_icon)
            self.setIconSize(self.badge_icon.availableSizes()[0])
        # Every page but the Overview is built when first shown: building the tensor table
        # and module tree with the Overview made opening a checkpoint stall the window ~60 ms.
        pages: list[tuple[str, Callable[[], QWidget]]] = [
            ("Tensors", lambda: TensorTableView(info.tensors))]
        if info.config is not None:
            pages.append(("Config", lambda: JsonTreeView(info.config)))
        pages.append(("Modules", lambda: ModuleTreeView(info.module_tree)))
        pages += [(title, partial(_feature_view, target, self)) for title, target in FEATURE_VIEWS]
        self._lazy: dict[int, Callable[[], QWidget]] = {}
        for title, build in pages:
            self._lazy[self.addTab(QWidget(), title)] = build
        self.pages: dict[str, QWidget] = {"Overview": self.overview}
        self.views: dict[str, QWidget] = {}  # the feature views built so far
        self.currentChanged.connect(self._on_self_currentChanged)

    @property
    def tensors(self) -> TensorTableView:
        return self.page("Tensors")

    @property
    def modules(self) -> ModuleTreeView:
        return self.page("Modules")

    @property
    def title(self) -> str:
        """The name people know it by (an HF cache snapshot: its repo id; see display_name)."""
        from workbench.core.checkpoint.hf_cache import display_name

        return display_name(self.info.path)

    def show_view(self, title: str) -> QWidget | None:
        """Switch to (and build, if needed) the page with this tab title; None if none."""
        index = self._index_of(title)
        if index < 0:
            return None
        self.setCurrentIndex(index)
        return self._build(index)

    def page(self, title: str) -> QWidget | None:
        """The page with this tab title, built if needed, without switching to it."""
        index = self._index_of(title)
        return self._build(index) if index >= 0 else None

    def _index_of(self, title: str) -> int:
        return next((i for i in range(self.count()) if self.tabText(i) == title), -1)

    def _on_self_currentChanged(self, index: int) -> None:
        self._build(index)

    def _build(self, index: int) -> QWidget:
        """The page at `index`, made on first use and put in place of its placeholder.

        A page about to be seen is put in place one event-loop turn after it is made: making
        it and its first show (polish, layout) together stalled the window up to ~60 ms
        (bench_stalls "edit config: first open"); the placeholder shows for that turn.
        """
        build = self._lazy.pop(index, None)
        if build is None:
            return self.pages.get(self.tabText(index)) or self.widget(index)
        page, title = build(), self.tabText(index)
        self.pages[title] = page
        if title in dict(FEATURE_VIEWS):
            self.views[title] = page
        if index == self.currentIndex() and self.isVisible():
            page.setParent(self)  # hidden till placed, but in the window (settings, requests)
            QTimer.singleShot(0, self, lambda: self._place(index, page))
        else:
            self._place(index, page)
        return page

    def _place(self, index: int, page: QWidget) -> None:
        """Put `page` where its placeholder is, keeping which tab is current."""
        placeholder, current, title = self.widget(index), self.currentIndex(), self.tabText(index)
        if placeholder is page:
            return
        self.blockSignals(True)
        self.removeTab(index)
        self.insertTab(index, page, title)
        self.setCurrentIndex(current)
        self.blockSignals(False)
        placeholder.deleteLater()

    def _on_devices_detected(self, devices) -> None:
        global _detected_devices
        _detected_devices = devices  # devices do not come and go while the app runs
        self.overview.set_devices(devices)

    def _on_overview_exportRequested(self) -> None:
        action = getattr(self.window(), "export_action", None)  # File > Export... (deploy)
        if action is not None:
            action.trigger()

    def confirm_close(self) -> bool:
        """Ask each feature view that can veto closing (a run in progress); True to close."""
        for view in self.views.values():
            confirm = getattr(view, "confirm_close", None)
            if confirm and not confirm():
                return False
        return True

    def shutdown(self) -> None:
        """Release models and workers held by feature views."""
        self._tasks.cancel_all()
        for view in self.views.values():
            stop = getattr(view, "shutdown", None)
            if stop:
                stop()
        self.views.clear()


def warning_icon(count: int):
    """An amber pill with the warning count, for a tab bar."""
    from PySide6.QtGui import QColor, QFont, QIcon, QPainter, QPixmap

    pixmap = QPixmap(30, 16)
    pixmap.fill(Qt.GlobalColor.transparent)
    painter = QPainter(pixmap)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    painter.setBrush(QColor(224, 140, 0))
    painter.setPen(Qt.PenStyle.NoPen)
    painter.drawRoundedRect(0, 0, 30, 16, 8, 8)
    font = QFont()
    font.setBold(True)
    font.setPixelSize(11)
    painter.setFont(font)
    painter.setPen(QColor("white"))
    painter.drawText(pixmap.rect(), Qt.AlignmentFlag.AlignCenter, f"!{min(count, 99)}")
    painter.end()
    return QIcon(pixmap)
