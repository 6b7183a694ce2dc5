"""pyqtgraph plots whose right-click menu is built on the first right-click, not up front.

pyqtgraph's ViewBox builds its context menu (ViewBoxMenu: a QMenu with two axis sub-menus of
line edits, spin boxes and check boxes) in its constructor: 20-40 ms per plot, most of a
plot's construction cost after PlotItem's own options form. A view with a dozen plots spent
a few hundred ms of one GUI step on menus nobody had opened. LazyMenuViewBox has the same
menu, made when it is first asked for.
"""

from __future__ import annotations

from typing import Any

import pyqtgraph as pg
from pyqtgraph.graphicsItems.ViewBox.ViewBoxMenu import ViewBoxMenu


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
