"""pyqtgraph plots whose right-click menu is built on the first right-click, not up front.

pyqtgraph's ViewBox builds its context menu (ViewBoxMenu: a QMenu with two axis sub-menus of
line edits, spin boxes and check boxes) in its constructor: 20-40 ms per plot, most of a
plot's construction cost after PlotItem's own options form. A view with a dozen plots spent
a few hundred ms of one GUI step on menus nobody had opened. LazyMenuViewBox has the same
menu, made when it is first asked for.

Even without menus a PlotItem costs 30-100 ms (its options form, axes, title); DeferredPlot
holds the place of a plot widget and builds it after it is first shown, one per event-loop turn.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pyqtgraph as pg
from pyqtgraph.graphicsItems.ViewBox.ViewBoxMenu import ViewBoxMenu
from PySide6.QtCore import QSize, QTimer
from PySide6.QtWidgets import QSizePolicy, QVBoxLayout, QWidget


class LazyMenuViewBox(pg.ViewBox):
    """A ViewBox whose context menu is built on first use (right-click or getMenu)."""

    def __init__(self, *args: Any, enableMenu: bool = True, **kwargs: Any):
        super().__init__(*args, enableMenu=False, **kwargs)
        self.state["enableMenu"] = enableMenu  # enabled, but self.menu stays None until asked

    def _applyMenuEnabled(self) -> None:
        # pyqtgraph builds the menu here whenever it is enabled; only drop it when disabled
        if not self.state.get("enableMenu", True) and self.menu is not None:
            self.menu.setParent(None)
            self.menu = None

    def getMenu(self, ev: Any) -> Any:
        if self.menu is None and self.menuEnabled():
            self.menu = ViewBoxMenu(self)
            self.updateViewLists()
        return self.menu

    def getContextMenus(self, event: Any) -> list:
        menu = self.getMenu(event)
        return menu.actions() if menu is not None else []


def plot_widget(**kwargs: Any) -> pg.PlotWidget:
    """A pg.PlotWidget (same keyword arguments) with a LazyMenuViewBox."""
    kwargs.setdefault("viewBox", LazyMenuViewBox())
    return pg.PlotWidget(**kwargs)


class _BuildQueue:
    """Builds queued callables one per event-loop turn (a 0 ms single-shot timer each), so
    several plots shown at once never build in one GUI step."""

    def __init__(self) -> None:
        self._pending: list[Any] = []
        self._timer: QTimer | None = None

    def add(self, owner: DeferredPlot) -> None:
        if owner not in self._pending:
            self._pending.append(owner)
        if self._timer is None:
            self._timer = QTimer()
            self._timer.setSingleShot(True)
            self._timer.setInterval(0)
            self._timer.timeout.connect(self._on_timeout)
        if not self._timer.isActive():
            self._timer.start()

    def discard(self, owner: DeferredPlot) -> None:
        if owner in self._pending:
            self._pending.remove(owner)

    def _on_timeout(self) -> None:
        while self._pending:
            owner = self._pending.pop(0)
            try:
                owner.widget()
            except RuntimeError:  # its C++ side was deleted meanwhile: nothing to build
                continue
            break
        if self._pending and self._timer is not None:
            self._timer.start()


_QUEUE = _BuildQueue()


class DeferredPlot(QWidget):
    """A placeholder that makes its plot with `build()` after it is first shown (in a later
    event-loop turn, one plot per turn among all DeferredPlots), or at once when `widget()`
    is asked for (a caller with data for it). `build` returns the configured widget."""

    def __init__(self, build: Callable[[], QWidget], parent: QWidget | None = None):
        super().__init__(parent)
        self._build: Callable[[], QWidget] | None = build
        self._widget: QWidget | None = None
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        # sized as the pg.PlotWidget it stands for, so splitters share space as they did
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)

    @property
    def built(self) -> bool:
        return self._widget is not None

    def widget(self) -> QWidget:
        """The plot widget, built now when it was not yet."""
        if self._widget is None:
            build, self._build = self._build, None
            self._widget = build()
            self.layout().addWidget(self._widget)
            _QUEUE.discard(self)
        return self._widget

    def sizeHint(self) -> QSize:
        return super().sizeHint() if self._widget is not None else QSize(600, 480)

    def minimumSizeHint(self) -> QSize:
        return super().minimumSizeHint() if self._widget is not None else QSize(68, 68)

    def showEvent(self, event: Any) -> None:
        super().showEvent(event)
        if self._widget is None:
            _QUEUE.add(self)
