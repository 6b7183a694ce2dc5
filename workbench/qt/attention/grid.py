"""All layers x heads as one mosaic of thumbnails; clicking a thumbnail opens that head."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, Qt, Signal
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from workbench.core.attention.overview import GAP, THUMB, mosaic_rgb


class AttentionGrid(QWidget):
    """Thumbnails of every captured layer (rows) and head (columns)."""

    headClicked = Signal(int, int)  # layer index (model numbering), head

    def __init__(self, parent=None):
        super().__init__(parent)
        self.layers: tuple[int, ...] = ()
        self.n_heads = 0
        self.graphics = pg.GraphicsLayoutWidget()
        self.graphics.setBackground("w")
        self.plot = self.graphics.addPlot(enableMenu=False)  # no context-menu widgets
        self.plot.invertY(True)
        self.plot.setAspectLocked(True)
        self.plot.hideButtons()
        self.plot.setMenuEnabled(False)
        self.plot.showAxis("top")
        self.plot.hideAxis("bottom")
        self.image = pg.ImageItem(axisOrder="row-major")
        self.plot.addItem(self.image)
        self.label = QLabel("Run the model to see every head.")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.graphics, 1)
        layout.addWidget(self.label)
        self.graphics.scene().sigMouseClicked.connect(self._on_scene_mouseClicked)
        self.graphics.scene().sigMouseMoved.connect(self._on_scene_mouseMoved)

    def set_maps(self, maps: np.ndarray, layers: tuple[int, ...], causal: bool,
                 rgb: np.ndarray | None = None) -> None:
        """Show (L, H, Tq, Tk) maps; `layers` are the model layer numbers of the rows.

        `rgb`: their mosaic, when a worker already made it (core.attention.overview).
        """
        self.layers, self.n_heads = tuple(layers), maps.shape[1]
        if rgb is None:
            rgb = mosaic_rgb(maps, causal)
        self.image.setImage(rgb, autoLevels=False, levels=(0, 255))
        step = THUMB + GAP
        centre = THUMB / 2
        self.plot.getAxis("top").setTicks(
            [[(h * step + centre, f"H{h}") for h in range(self.n_heads)]])
        self.plot.getAxis("left").setTicks(
            [[(i * step + centre, f"L{layer}") for i, layer in enumerate(self.layers)]])
        self.plot.setRange(xRange=(0, rgb.shape[1]), yRange=(0, rgb.shape[0]), padding=0.02)
        self.label.setText(f"{len(self.layers)} layers x {self.n_heads} heads, each scaled to its "
                           f"own maximum. Click a thumbnail to open it.")

    def clear(self, message: str) -> None:
        self.image.clear()
        self.layers, self.n_heads = (), 0
        self.label.setText(message)

    def head_at(self, scene_pos: QPointF) -> tuple[int, int] | None:
        """(layer, head) of the thumbnail under a scene position, or None in a gap/outside."""
        if not self.layers:
            return None
        p = self.plot.vb.mapSceneToView(scene_pos)
        step = THUMB + GAP
        row, col = int(p.y() // step), int(p.x() // step)
        inside = p.y() % step < THUMB and p.x() % step < THUMB and p.x() >= 0 and p.y() >= 0
        if inside and row < len(self.layers) and col < self.n_heads:
            return self.layers[row], col
        return None

    def scene_pos_of(self, row: int, head: int) -> QPointF:
        """Scene position of the centre of a thumbnail (row index, head)."""
        step = THUMB + GAP
        return self.plot.vb.mapViewToScene(QPointF(head * step + THUMB / 2,
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
