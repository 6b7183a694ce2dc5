"""One attention matrix as a heatmap: token labels on both axes, colour bar, hover, zoom/pan."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QBrush, QColor, QImage, QPen, QPolygonF
from PySide6.QtWidgets import (
    QGraphicsPolygonItem,
    QToolTip,
    QVBoxLayout,
    QWidget,
)

from workbench.core.attention.export import MASKED_RGB, colormap_lut, to_rgb
from workbench.qt.common.labels import ElidedLabel

LUT = colormap_lut()  # (256, 3) uint8, the same colours as the PNG/SVG exports


def heatmap_levels(matrix: np.ndarray, levels: tuple[float, float] | None
                   ) -> tuple[float, float]:
    """`levels`, or 0 to the largest weight when None."""
    if levels is not None:
        return levels
    top = float(np.nanmax(matrix)) if matrix.size and not np.isnan(matrix).all() else 1.0
    return 0.0, top if top > 0 else 1.0


def heatmap_image(matrix: np.ndarray, levels: tuple[float, float],
                  lut: np.ndarray | None = None) -> QImage:
    """The heatmap's pixels (export colours, or `lut`'s; NaN grey) as a QImage that owns its
    memory.

    Safe to call in a worker thread (QImage, unlike QPixmap, is not tied to the GUI thread):
    a 2,048 x 2,048 map takes ~60 ms to colour, which must not happen on the GUI thread.
    """
    m = np.asarray(matrix, dtype=np.float32)
    rows, cols = m.shape
    rgb = np.empty((rows, cols, 3), dtype=np.uint8)
    # A band of rows at a time: the colour lookup (fancy indexing) holds the GIL throughout,
    # and on a whole 2,048^2 map that froze the GUI thread for ~100 ms.
    band = max(1, (1 << 18) // max(cols, 1))
    for top in range(0, rows, band):
        part = m[top:top + band]
        if lut is None:
            rgb[top:top + band] = to_rgb(part, levels)
        else:
            lo, hi = levels
            scaled = np.clip((np.nan_to_num(part, nan=lo) - lo) / max(hi - lo, 1e-12), 0, 1)
            block = lut[np.round(scaled * (len(lut) - 1)).astype(np.intp)]
            block[np.isnan(part)] = MASKED_RGB
            rgb[top:top + band] = block
    return QImage(rgb.data, cols, rows, 3 * cols, QImage.Format.Format_RGB888).copy()


class QImageItem(pg.GraphicsObject):
    """A QImage drawn over a rectangle of the plot (the image is made elsewhere, e.g. in a
    worker; painting only scales it)."""

    def __init__(self):
        super().__init__()
        self.qimage: QImage | None = None
        self._rect = QRectF()

    def set_image(self, image: QImage | None, rect: QRectF | None = None) -> None:
        self.prepareGeometryChange()
        self.qimage, self._rect = image, QRectF(rect) if rect is not None else QRectF()
        self.update()

    def boundingRect(self) -> QRectF:
        return QRectF(self._rect)

    def paint(self, painter, *_args) -> None:
        if self.qimage is not None and not self.qimage.isNull():
            painter.drawImage(self._rect, self.qimage)


def viridis_colormap() -> pg.ColorMap:
    """The export LUT as a pyqtgraph ColorMap (for colour bars)."""
    return pg.ColorMap(np.linspace(0, 1, len(LUT)), LUT)


class TokenAxis(pg.AxisItem):
    """An axis that labels integer positions with token texts, thinned to fit when zoomed out."""

    def __init__(self, orientation: str, **kwargs):
        super().__init__(orientation, **kwargs)
        self.labels: list[str] = []
        # positions, not quantities: an empty map's axis read "layer (x0.001)"
        self.enableAutoSIPrefix(False)

    def set_labels(self, labels: Sequence[str]) -> None:
        self.labels = [s if len(s) <= 16 else s[:15] + "…" for s in labels]
        self.picture = None
        self.update()

    def tickValues(self, minVal, maxVal, size):
        if not self.labels:
            return []
        minVal, maxVal = sorted((minVal, maxVal))  # an inverted axis passes them swapped
        lo, hi = max(0, math.ceil(minVal)), min(len(self.labels) - 1, math.floor(maxVal))
        if hi < lo:
            return []
        if self.orientation in ("left", "right"):
            per_label = 13.0
        else:
            per_label = 6.5 * max(len(s) for s in self.labels[lo:hi + 1]) + 8
        pixels_per_token = max(size, 1.0) / max(maxVal - minVal, 1e-9)
        step = max(1, math.ceil(per_label / pixels_per_token))
        return [(step, list(range(lo - lo % step, hi + 1, step)))]

    def tickStrings(self, values, scale, spacing):
        return [self.labels[int(v)] if 0 <= int(v) < len(self.labels) else "" for v in values]


class AttentionHeatmap(QWidget):
    """Heatmap of a (T_query, T_key) matrix; the masked future of causal maps is drawn grey.

    NaN cells are grey too (coloured so in the image). For causal maps a
    grey staircase polygon covers the upper triangle instead of NaN-filling a copy of the data,
    which keeps switching heads on 2048 tokens cheap.
    """

    hovered = Signal(str)

    def __init__(self, parent=None, square: bool = False):
        super().__init__(parent)
        self.matrix: np.ndarray | None = None
        self.rows: list[str] = []
        self.cols: list[str] = []
        self.levels = (0.0, 1.0)
        self.lut: np.ndarray | None = None  # None: the export colours
        self.graphics = pg.GraphicsLayoutWidget()
        self.graphics.setBackground("w")
        self.left_axis, self.bottom_axis = TokenAxis("left"), TokenAxis("bottom")
        # enableMenu=False: no context-menu widgets built per plot (a fifth of its cost)
        self.plot = self.graphics.addPlot(axisItems={"left": self.left_axis,
                                                     "bottom": self.bottom_axis},
                                          enableMenu=False)
        self.plot.setLabel("left", "query (attends)")
        self.plot.setLabel("bottom", "key (is attended)")
        self.plot.invertY(True)
        if square:  # square cells whatever the widget's shape (the view pads the longer side)
            self.plot.setAspectLocked(True, ratio=1.0)
        self.plot.hideButtons()
        self.plot.setMenuEnabled(False)
        self.image = QImageItem()  # NaN cells are coloured grey in the image itself
        self.plot.addItem(self.image)
        self.future = QGraphicsPolygonItem()
        self.future.setBrush(QBrush(QColor(*MASKED_RGB)))
        self.future.setPen(QPen(Qt.PenStyle.NoPen))
        self.future.setZValue(5)
        self.plot.addItem(self.future)
        self.causal = False
        self.hover_template = "{row} ({i}) -> {col} ({j}): {value}"
        self.colorbar = pg.ColorBarItem(values=self.levels, colorMap=viridis_colormap(),
                                        interactive=False, colorMapMenu=False, width=14)
        self.graphics.addItem(self.colorbar)
        # one line whatever it says (an error's whole text is in its dialog and the tooltip)
        self.status = ElidedLabel("Run the model to see its attention.",
                                  mode=Qt.TextElideMode.ElideRight)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.graphics, 1)
        layout.addWidget(self.status)
        self.graphics.scene().sigMouseMoved.connect(self._on_scene_mouseMoved)

    def set_matrix(self, matrix: np.ndarray, rows: Sequence[str], cols: Sequence[str],
                   levels: tuple[float, float] | None = None, title: str = "",
                   keep_view: bool = False, causal: bool = False,
                   image: QImage | None = None) -> None:
        """Show a matrix (float32, row = query); `levels` None: 0 to the largest weight.

        `image`: its pixels, when a worker already coloured them (`heatmap_image` with these
        levels); else they are made here, which is fine for small maps only.
        """
        data = np.ascontiguousarray(matrix, dtype=np.float32)
        if causal != self.causal or data.shape != getattr(self.matrix, "shape", None):
            self.future.setPolygon(_future_polygon(data.shape[0]) if causal else QPolygonF())
        self.causal = causal
        levels = heatmap_levels(data, levels)
        same_shape = self.matrix is not None and self.matrix.shape == data.shape
        self.matrix, self.levels = data, levels
        if list(rows) != self.rows or list(cols) != self.cols:
            self.rows, self.cols = list(rows), list(cols)
            self.left_axis.set_labels(self.rows)
            self.bottom_axis.set_labels(self.cols)
        n_rows, n_cols = data.shape
        rect = QRectF(-0.5, -0.5, n_cols, n_rows)  # pixel i is centred on tick i
        if image is None:
            image = heatmap_image(data, levels, self.lut)
        self.image.set_image(image, rect)
        self.colorbar.setLevels(levels)
        self.plot.setTitle(title)
        if not (keep_view and same_shape):
            self.plot.setRange(rect, padding=0)
        self.status.set_full_text(title or f"{n_rows} x {n_cols}")

    def set_lut(self, lut: np.ndarray) -> None:
        """Colour with this (n, 3) uint8 table instead of the export colours (colour bar too)."""
        self.lut = np.asarray(lut, dtype=np.uint8)
        self.colorbar.setColorMap(pg.ColorMap(np.linspace(0, 1, len(self.lut)), self.lut))

    def clear(self, message: str) -> None:
        """Show no matrix, and say why."""
        self.matrix = None
        self.image.set_image(None)
        self.future.setPolygon(QPolygonF())
        self.causal = False
        self.plot.setTitle("")
        self.status.set_full_text(message)

    def hover_text(self, row: int, col: int) -> str:
        """'token i -> token j: weight' for a cell."""
        if self.matrix is None or not (0 <= row < self.matrix.shape[0]
                                       and 0 <= col < self.matrix.shape[1]):
            return ""
        value = float(self.matrix[row, col])
        masked = math.isnan(value) or (self.causal and col > row)
        weight = "masked (future)" if masked else f"{value:.4f}"
        return self.hover_template.format(row=self.rows[row], i=row, col=self.cols[col], j=col,
                                          value=weight)

    def cell_at(self, scene_pos: QPointF) -> tuple[int, int]:
        """(row, col) of the cell under a scene position (may be out of range)."""
        point = self.plot.vb.mapSceneToView(scene_pos)
        return math.floor(point.y() + 0.5), math.floor(point.x() + 0.5)

    def cell_size(self) -> tuple[float, float]:
        """(width, height) of one cell on screen, in pixels."""
        a, b = self.scene_pos_of(0, 0), self.scene_pos_of(1, 1)
        return abs(b.x() - a.x()), abs(b.y() - a.y())

    def scene_pos_of(self, row: int, col: int) -> QPointF:
        """Scene position of a cell's centre (for tests and tooltips)."""
        return self.plot.vb.mapViewToScene(QPointF(col, row))

    def _on_scene_mouseMoved(self, scene_pos: QPointF) -> None:
        text = self.hover_text(*self.cell_at(scene_pos))
        if text:
            self.status.set_full_text(text)
            view = self.graphics
            QToolTip.showText(view.mapToGlobal(view.mapFromScene(scene_pos)), text, view)
            self.hovered.emit(text)


def _future_polygon(n: int) -> QPolygonF:
    """The staircase covering cells (r, c) with c > r of an n x n map (cell i centred on i)."""
    if n < 2:
        return QPolygonF()
    points = [QPointF(0.5, -0.5), QPointF(n - 0.5, -0.5), QPointF(n - 0.5, n - 1.5)]
    for r in range(n - 2, -1, -1):
        points += [QPointF(r + 0.5, r + 0.5), QPointF(r + 0.5, r - 0.5)]
    return QPolygonF(points)
