"""The label distribution as horizontal bars, each label's name and count written on its bar.

Names under vertical bars had to be shortened and thinned to fit a side pane: at 1024 px the four
demo labels had ~32 px each and only "food" was drawn (pyqtgraph also hides a tick label that
would cross the axis' end). Written on horizontal bars, every name reads left to right across the
plot's whole width; a name is elided only where it is wider than the plot, and rows lose their
text only when they are lower than a line of it (then a name is drawn wherever a whole line fits
below the last one drawn).
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtGui import QFontMetrics

BAR_BRUSH = "#fdae6b"  # light orange: the dark names on it stay readable
TEXT_COLOUR = "#202020"
ROW_GAP_PX = 2
TEXT_PADDING_PX = 14  # TextItem's margins around its text, and a little air at the end


def label_text(name: str, count: int) -> str:
    return f"{name} \u00b7 {count:,}"


class LabelBars:
    """Owns the bars and name items of `plot` (a PlotWidget); `set_counts` redraws them and
    every resize or zoom re-fits the names. `shown` holds the (row, text) drawn now."""

    def __init__(self, plot: pg.PlotWidget):
        self.plot = plot
        self.view = plot.getViewBox()
        self.view.invertY(True)  # the first label on top, as in the data's order
        self.view.setMouseEnabled(x=True, y=False)
        plot.hideAxis("left")  # the names are on the bars
        plot.setLabel("bottom", "rows")
        plot.getAxis("bottom").enableAutoSIPrefix(False)
        self.texts: list[str] = []
        self.items: list[pg.TextItem] = []
        self.bars: pg.BarGraphItem | None = None
        self.shown: list[tuple[int, str]] = []
        self.view.sigResized.connect(self.fit)
        self.view.sigRangeChanged.connect(self.fit)

    def set_counts(self, counts: dict[str, int]) -> None:
        for item in [self.bars, *self.items]:
            if item is not None:
                self.plot.removeItem(item)
        self.texts = [label_text(name, count) for name, count in counts.items()]
        self.items, self.bars, self.shown = [], None, []
        if counts:
            rows = np.arange(len(counts))
            self.bars = pg.BarGraphItem(x0=0, y=rows, height=0.8, width=list(counts.values()),
                                        brush=BAR_BRUSH, pen=pg.mkPen(None))
            self.plot.addItem(self.bars)
            for row in rows:
                item = pg.TextItem(anchor=(0, 0.5), color=TEXT_COLOUR)
                item.setPos(0, float(row))
                self.plot.addItem(item, ignoreBounds=True)
                self.items.append(item)
            self.view.autoRange()
        self.fit()

    def fit(self, *_args) -> None:
        if not self.items:
            return
        (x_low, x_high), (y_low, y_high) = self.view.viewRange()
        width, height = self.view.width(), self.view.height()
        metrics = QFontMetrics(self.items[0].textItem.font())
        line = metrics.height()
        rows_span = max(y_high - y_low, 1e-9)
        # room: what the view has right of the bars' base (x = 0)
        base_px = (0 - x_low) / max(x_high - x_low, 1e-9) * width
        room = int(width - max(base_px, 0) - TEXT_PADDING_PX)
        shown, free_from = [], 0.0  # rows top to bottom; a name only where a whole line fits
        for row, (text, item) in enumerate(zip(self.texts, self.items, strict=True)):
            top = (row - y_low) / rows_span * height - line / 2
            fits = room > 0 and top >= free_from and top + line <= height
            drawn = metrics.elidedText(text, Qt.TextElideMode.ElideRight, room) if fits else ""
            if item.toPlainText() != drawn:
                item.setText(drawn)
            if drawn:
                shown.append((row, drawn))
                free_from = top + line + ROW_GAP_PX
        self.shown = shown
