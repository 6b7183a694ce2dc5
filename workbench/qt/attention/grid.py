"""All layers x heads as one mosaic of thumbnails; clicking a thumbnail opens that head.

The thumbnails and their QImage are made in the worker that ran the model; this view is a bare
ViewBox with two axes (no PlotItem: its menus and controls were half of the first show's cost).
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QImage
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from workbench.core.attention.overview import GAP, THUMB, mosaic_rgb
from workbench.qt.common.heatmap import QImageItem


def mosaic_image(rgb: np.ndarray) -> QImage:
    """The mosaic's (rows, cols, 3) uint8 pixels as a QImage owning its memory (worker-safe)."""
    rgb = np.ascontiguousarray(rgb, dtype=np.uint8)
    rows, cols = rgb.shape[:2]
    return QImage(rgb.data, cols, rows, 3 * cols, QImage.Format.Format_RGB888).copy()


class AttentionGrid(QWidget):
    """Thumbnails of every captured layer (rows) and head (columns)."""

    headClicked = Signal(int, int)  # layer index (model numbering), head

    def __init__(self, parent=None):
        super().__init__(parent)
        self.layers: tuple[int, ...] = ()
        self.n_heads = 0
        self.rgb: np.ndarray | None = None  # the mosaic shown, (rows, cols, 3) uint8
        self.graphics = pg.GraphicsLayoutWidget()
        self.graphics.setBackground("w")
        self.vb = pg.ViewBox(enableMenu=False, invertY=True, lockAspect=True)
        self.top_axis, self.left_axis = pg.AxisItem("top"), pg.AxisItem("left")
        self.graphics.addItem(self.top_axis, row=0, col=1)
        self.graphics.addItem(self.left_axis, row=1, col=0)
        self.graphics.addItem(self.vb, row=1, col=1)
        self.top_axis.linkToView(self.vb)
        self.left_axis.linkToView(self.vb)
        self.image = QImageItem()
        self.vb.addItem(self.image)
        self.label = QLabel("Run the model to see every head.")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.graphics, 1)
        layout.addWidget(self.label)
        self.graphics.scene().sigMouseClicked.connect(self._on_scene_mouseClicked)
        self.graphics.scene().sigMouseMoved.connect(self._on_scene_mouseMoved)

    def set_maps(self, maps: np.ndarray, layers: tuple[int, ...], causal: bool,
                 rgb: np.ndarray | None = None, image: QImage | None = None) -> None:
        """Show (L, H, Tq, Tk) maps; `layers` are the model layer numbers of the rows.

        `rgb`: their mosaic, and `image` its QImage, when a worker already made them
        (core.attention.overview, `mosaic_image`).
        """
        self.layers, self.n_heads = tuple(layers), maps.shape[1]
        if rgb is None:
            rgb = mosaic_rgb(maps, causal)
        self.rgb = rgb
        self.image.set_image(image if image is not None else mosaic_image(rgb),
                             QRectF(0, 0, rgb.shape[1], rgb.shape[0]))
        step = THUMB + GAP
        centre = THUMB / 2
        self.top_axis.setTicks([[(h * step + centre, f"H{h}") for h in range(self.n_heads)]])
        self.left_axis.setTicks(
            [[(i * step + centre, f"L{layer}") for i, layer in enumerate(self.layers)]])
        self.vb.setRange(xRange=(0, rgb.shape[1]), yRange=(0, rgb.shape[0]), padding=0.02)
        self.label.setText(f"{len(self.layers)} layers x {self.n_heads} heads, each scaled to its "
                           f"own maximum. Click a thumbnail to open it.")

    def clear(self, message: str) -> None:
        self.image.set_image(None)
        self.rgb = None
        self.layers, self.n_heads = (), 0
        self.label.setText(message)

    def head_at(self, scene_pos: QPointF) -> tuple[int, int] | None:
        """(layer, head) of the thumbnail under a scene position, or None in a gap/outside."""
        if not self.layers:
            return None
        p = self.vb.mapSceneToView(scene_pos)
        step = THUMB + GAP
        row, col = int(p.y() // step), int(p.x() // step)
        inside = p.y() % step < THUMB and p.x() % step < THUMB and p.x() >= 0 and p.y() >= 0
        if inside and row < len(self.layers) and col < self.n_heads:
            return self.layers[row], col
        return None

    def scene_pos_of(self, row: int, head: int) -> QPointF:
        """Scene position of the centre of a thumbnail (row index, head)."""
        step = THUMB + GAP
        return self.vb.mapViewToScene(QPointF(head * step + THUMB / 2,
                                                   row * step + THUMB / 2))

    def _on_scene_mouseClicked(self, event) -> None:
        if event.button() != Qt.MouseButton.LeftButton:
            return
        hit = self.head_at(event.scenePos())
        if hit is not None:
            self.headClicked.emit(*hit)

    def _on_scene_mouseMoved(self, scene_pos: QPointF) -> None:
        hit = self.head_at(scene_pos)
        if hit is not None:
            self.graphics.setToolTip(f"layer {hit[0]}, head {hit[1]}: click to open")
