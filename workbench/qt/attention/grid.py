"""All layers x heads as one mosaic of thumbnails; clicking a thumbnail opens that head."""

from __future__ import annotations

import functools
import math

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, Qt, Signal
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from workbench.core.attention.export import MASKED_RGB, colormap_lut

THUMB = 64  # thumbnail side in pixels
GAP = 4
GAP_RGB = (255, 255, 255)


def thumbnails(maps: np.ndarray, side: int = THUMB
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(L, H, Tq, Tk) -> (L, H, side, side) float32 thumbnails, plus (side, side) bool masks of
    pixels wholly in the future of a causal map and of pixels outside a small map.

    Larger maps are reduced by block max (keeps thin diagonals visible), smaller ones enlarged
    by repetition; all tiles at once, no Python loop over heads.
    """
    n_l, n_h, rows, cols = maps.shape
    fy, fx = max(1, math.ceil(rows / side)), max(1, math.ceil(cols / side))
    data = maps
    if fy > 1 or fx > 1:
        pr, pc = math.ceil(rows / fy) * fy, math.ceil(cols / fx) * fx
        if (pr, pc) != (rows, cols):
            data = np.zeros((n_l, n_h, pr, pc), dtype=np.float32)
            data[..., :rows, :cols] = maps
        # Strided slices + elementwise max: a multi-axis reduce over tiny blocks is ~10x slower.
        data = functools.reduce(np.maximum, (data[..., k::fx] for k in range(fx)))
        data = functools.reduce(np.maximum, (data[..., k::fy, :] for k in range(fy)))
    r, c = data.shape[-2:]
    k = max(1, side // max(r, c))  # whole pixels per cell: uneven cells would look like stripes
    ys, xs = np.arange(side) // k, np.arange(side) // k
    outside = (ys[:, None] >= r) | (xs[None, :] >= c)  # left blank (gap colour)
    ys, xs = np.minimum(ys, r - 1), np.minimum(xs, c - 1)
    thumbs = data[:, :, ys][:, :, :, xs]
    # A block is future-only when its last query row is before its first key column.
    future = ((ys[:, None] + 1) * fy - 1) < (xs[None, :] * fx)
    return np.ascontiguousarray(thumbs, dtype=np.float32), future, outside


def mosaic_rgb(maps: np.ndarray, causal: bool) -> np.ndarray:
    """(L, H, Tq, Tk) -> one RGB image of L rows x H columns of thumbnails, each scaled to its
    own largest weight (so weak heads stay readable); masked future grey, gaps white."""
    n_layers, n_heads = maps.shape[:2]
    thumbs, future, outside = thumbnails(maps)
    top = thumbs.max(axis=(2, 3), keepdims=True)
    scaled = thumbs / np.where(top > 0, top, 1.0)
    rgb = colormap_lut()[np.clip(np.round(scaled * 255), 0, 255).astype(np.intp)]  # L,H,S,S,3
    if causal:
        rgb[:, :, future] = MASKED_RGB
    rgb[:, :, outside] = GAP_RGB
    step = THUMB + GAP
    tiles = np.empty((n_layers, n_heads, step, step, 3), dtype=np.uint8)
    tiles[:] = GAP_RGB
    tiles[:, :, :THUMB, :THUMB] = rgb
    out = tiles.transpose(0, 2, 1, 3, 4).reshape(n_layers * step, n_heads * step, 3)
    return np.ascontiguousarray(out[:-GAP, :-GAP])


class AttentionGrid(QWidget):
    """Thumbnails of every captured layer (rows) and head (columns)."""

    headClicked = Signal(int, int)  # layer index (model numbering), head

    def __init__(self, parent=None):
        super().__init__(parent)
        self.layers: tuple[int, ...] = ()
        self.n_heads = 0
        self.graphics = pg.GraphicsLayoutWidget()
        self.graphics.setBackground("w")
        self.plot = self.graphics.addPlot()
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

    def set_maps(self, maps: np.ndarray, layers: tuple[int, ...], causal: bool) -> None:
        """Show (L, H, Tq, Tk) maps; `layers` are the model layer numbers of the rows."""
        self.layers, self.n_heads = tuple(layers), maps.shape[1]
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
