"""Draw a core Layout with QGraphicsItems, and a zoomable QGraphicsView to look at it."""

from __future__ import annotations

from functools import cache

from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtGui import (
    QBrush,
    QColor,
    QFont,
    QFontMetricsF,
    QPainter,
    QPainterPath,
    QPen,
    QPolygonF,
)
from PySide6.QtWidgets import QGraphicsItem, QGraphicsScene, QGraphicsView, QStyle

from workbench.core.graph.layout import KIND_COLORS, LINK_COLORS, Box, Layout, Link

TOGGLE_W = 22  # the expand/collapse triangle at the left of a box's title line
LINK_FONT_PT = 7.5


@cache
def _font(size: float) -> QFont:
    """The box fonts, made on first paint (on the GUI thread): the module itself makes no Qt
    objects, so the start-up prewarm can import it in a worker."""
    font = QFont()
    font.setPointSizeF(size)
    return font


class NodeItem(QGraphicsItem):
    """One box: kind colour, title, parameters and shape; thicker border for an "x N" fold."""

    def __init__(self, box: Box):
        super().__init__()
        self.box = box
        self.highlighted = False
        self.setPos(box.x, box.y)
        self.setZValue(box.depth)
        self.setFlag(QGraphicsItem.GraphicsItemFlag.ItemIsSelectable)
        self.setToolTip(f"{box.key}\n{box.title}\n{box.subtitle}")

    def boundingRect(self) -> QRectF:
        return QRectF(-2, -2, self.box.w + 12, self.box.h + 12)

    def paint(self, painter: QPainter, _option, _widget=None) -> None:
        b = self.box
        fill = QColor(KIND_COLORS.get(b.node.kind, KIND_COLORS["other"]))
        if b.expanded:
            fill = QColor("#fafafa") if b.depth == 0 else QColor(fill.red(), fill.green(),
                                                                  fill.blue(), 60)
        pen = QPen(QColor("#546e7a"), 2.5 if b.node.repeat > 1 else 1.0)
        if not b.node.called:
            pen.setStyle(Qt.PenStyle.DashLine)
        if self.isSelected():
            pen = QPen(QColor("#1976d2"), 3)
        if self.highlighted:
            pen = QPen(QColor("#f9a825"), 4)
        painter.setPen(pen)
        painter.setBrush(QBrush(fill))
        if b.node.repeat > 1 and not b.expanded:  # a stack of cards: N blocks behind this one
            for offset in (8, 4):
                painter.drawRoundedRect(QRectF(offset, offset, b.w, b.h), 6, 6)
        painter.drawRoundedRect(QRectF(0, 0, b.w, b.h), 6, 6)
        # Level of detail: text is unreadable below ~35 % zoom and costs most of the paint time.
        if painter.worldTransform().m11() < 0.35:
            return
        painter.setPen(QColor("#212121"))
        painter.setFont(_font(8.5))
        text_x = TOGGLE_W if b.expandable else 10
        if b.expandable:
            painter.drawText(QRectF(6, 4, 16, 18), Qt.AlignmentFlag.AlignLeft,
                             "▾" if b.expanded else "▸")
        painter.drawText(QRectF(text_x, 4, b.w - text_x - 6, 16),
                         Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter, b.title)
        painter.setPen(QColor("#555555"))
        painter.setFont(_font(7.5))
        painter.drawText(QRectF(text_x, 20, b.w - text_x - 6, 14),
                         Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter, b.subtitle)

    def on_toggle(self, scene_pos: QPointF) -> bool:
        """True when `scene_pos` is on the expand/collapse triangle."""
        p = self.mapFromScene(scene_pos)
        return self.box.expandable and p.x() < TOGGLE_W and p.y() < 24


class LinkItem(QGraphicsItem):
    """An arrow along a core Link's points, with its label (if any) inside its bounding rect."""

    def __init__(self, link: Link):
        super().__init__()
        self.link = link
        self.setZValue(1000)  # arrows stay visible over nested boxes
        path = QPainterPath(QPointF(*link.points[0]))
        for x, y in link.points[1:]:
            path.lineTo(x, y)
        self._path = path
        self._label_rect = self._place_label()
        self._rect = path.boundingRect().adjusted(-8, -8, 8, 8).united(self._label_rect)

    def _place_label(self) -> QRectF:
        """Where the label's text goes: along a skip's vertical lane, rotated to read downwards
        (written sideways beside the lane it ran past the drawing's right edge, and the panel
        scrolled for it); beside the first point of a side input's arrow."""
        if not self.link.label:
            return QRectF()
        metrics = QFontMetricsF(_font(LINK_FONT_PT))
        width, height = metrics.horizontalAdvance(self.link.label), metrics.height()
        if self._on_lane():
            (x, y0), (_x, y1) = self.link.points[1], self.link.points[2]
            return QRectF(x + 2, (y0 + y1 - width) / 2, height, width)
        x, y = self.link.points[0] if self.link.kind == "cross" else self.link.points[1]
        return QRectF(x + 4, y - 4 - metrics.ascent(), width, height)

    def _on_lane(self) -> bool:
        points = self.link.points
        return self.link.kind != "cross" and len(points) == 4 and points[1][0] == points[2][0]

    def boundingRect(self) -> QRectF:
        return self._rect

    def paint(self, painter: QPainter, _option, _widget=None) -> None:
        color = QColor(LINK_COLORS.get(self.link.kind, LINK_COLORS["flow"]))
        pen = QPen(color, 1.6)
        if self.link.kind == "cross":
            pen.setStyle(Qt.PenStyle.DashLine)
        painter.setPen(pen)
        painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.drawPath(self._path)
        (x0, y0), (x1, y1) = self.link.points[-2], self.link.points[-1]
        d = QPointF(x1 - x0, y1 - y0)
        length = max((d.x() ** 2 + d.y() ** 2) ** 0.5, 1e-6)
        u = QPointF(d.x() / length, d.y() / length)
        n = QPointF(-u.y(), u.x())
        tip = QPointF(x1, y1)
        painter.setBrush(color)
        painter.drawPolygon(QPolygonF([tip, tip - u * 8 + n * 4, tip - u * 8 - n * 4]))
        if self.link.label and painter.worldTransform().m11() >= 0.35:
            painter.setFont(_font(LINK_FONT_PT))
            rect = self._label_rect
            if self._on_lane():
                painter.save()
                painter.translate(rect.right(), rect.top())
                painter.rotate(90)  # reads downwards, beside the lane
                painter.drawText(QRectF(0, 0, rect.height(), rect.width()),
                                 Qt.AlignmentFlag.AlignCenter, self.link.label)
                painter.restore()
            else:
                painter.drawText(rect, Qt.AlignmentFlag.AlignLeft, self.link.label)


class GraphScene(QGraphicsScene):
    """Holds the items of one Layout; `show_layout` replaces them all."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.items_by_key: dict[str, NodeItem] = {}
        self.layout_data: Layout | None = None
        self.setBackgroundBrush(QColor("white"))
        # No BSP index: with one, replacing ~1,000 items took ~0.6 s (index rebuilt), without
        # it ~30 ms; hit tests over a thousand boxes stay fast as a plain scan.
        self.setItemIndexMethod(QGraphicsScene.ItemIndexMethod.NoIndex)

    def show_layout(self, layout: Layout) -> None:
        self.clear()
        self.items_by_key = {}
        self.layout_data = layout
        for box in layout.boxes:
            item = NodeItem(box)
            self.addItem(item)
            self.items_by_key[box.key] = item
        for link in layout.links:
            self.addItem(LinkItem(link))
        self.setSceneRect(QRectF(-40, -40, layout.width + 80, layout.height + 80))

    def node_at(self, pos: QPointF) -> NodeItem | None:
        """The innermost box under a scene position."""
        hits = [i for i in self.items(pos) if isinstance(i, NodeItem)]
        return max(hits, key=lambda i: i.box.depth) if hits else None

    def set_highlight(self, keys: set[str]) -> None:
        for key, item in self.items_by_key.items():
            on = key in keys
            if item.highlighted != on:
                item.highlighted = on
                item.update()


class GraphCanvas(QGraphicsView):
    """Pan by dragging, zoom with the wheel (around the cursor), fit on demand."""

    nodeClicked = Signal(object, bool)  # NodeItem, clicked on the expand toggle
    nodeDoubleClicked = Signal(object)

    def __init__(self, scene: GraphScene, parent=None):
        super().__init__(scene, parent)
        self.setRenderHints(QPainter.RenderHint.Antialiasing | QPainter.RenderHint.TextAntialiasing)
        self.setDragMode(QGraphicsView.DragMode.ScrollHandDrag)
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.AnchorUnderMouse)
        self.setViewportUpdateMode(QGraphicsView.ViewportUpdateMode.SmartViewportUpdate)
        self.setOptimizationFlag(QGraphicsView.OptimizationFlag.DontSavePainterState)
        self._press: QPointF | None = None
        self.fitted = False  # showing the whole graph (Fit) and not zoomed or panned since
        self.readable: tuple[float, float] | None = None  # show_readable's (min_zoom, edge)

    @property
    def zoom(self) -> float:
        return self.transform().m11()

    def zoom_by(self, factor: float) -> None:
        new = min(max(self.zoom * factor, 0.02), 4.0)
        self.setSceneRect(QRectF())  # the scene's own rect, margin included (pan anywhere)
        self.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.scale(new / self.zoom, new / self.zoom)
        self.fitted = False
        self.readable = None

    def fit(self, max_zoom: float = 2.5) -> None:
        """Fill the canvas with the whole graph, zooming in (up to `max_zoom`) on big screens."""
        # The scene's rect (the drawing and its margin), not the items': fitted to the items
        # the margin stuck out of the view and a scroll bar showed on a graph that fits.
        self.setSceneRect(QRectF())
        self.setAlignment(Qt.AlignmentFlag.AlignCenter)
        rect = self.sceneRect()
        if not self.scene().itemsBoundingRect().isEmpty():
            self.fitInView(rect, Qt.AspectRatioMode.KeepAspectRatio)
            if self.zoom > max_zoom:
                self.zoom_by(max_zoom / self.zoom)
            self.fitted = True

    def show_top_at(self, zoom: float = 1.0) -> None:
        """Readable text: this zoom, scrolled to the top of the drawing (a tall dataflow), and to
        its left edge where it is wider than the view (box labels start there)."""
        self.zoom_by(zoom / self.zoom)
        rect = self.scene().itemsBoundingRect()
        if not rect.isEmpty():
            x = min(rect.center().x(), rect.left() + self.viewport().width() / 2 / zoom)
            self.centerOn(x, rect.top() + self.viewport().height() / 2 / zoom)

    def show_readable(self, min_zoom: float, edge: float = 0.0) -> None:
        """At 100%, from the top-left; a drawing a little wider than the view is shrunk to its
        width (plus `edge` each side), never below `min_zoom`, rather than cut at the right.
        Kept as the view is resized, until the user zooms."""
        drawing = self.scene().itemsBoundingRect()
        width = drawing.width() + 2 * edge
        room = self.viewport().width()
        zoom = 1.0 if width <= room else max(min_zoom, room / width)
        bar = self.verticalScrollBar()
        if not bar.isVisible() and self.sceneRect().height() * zoom > self.viewport().height():
            # the vertical bar this tall drawing brings takes its width from the room
            room -= self.style().pixelMetric(QStyle.PixelMetric.PM_ScrollBarExtent)
            zoom = 1.0 if width <= room else max(min_zoom, room / width)
        if self.readable != (min_zoom, edge) or abs(zoom - self.zoom) > 1e-3:
            self.show_top_at(zoom)
        # Sideways, only the drawing and its edge: the scene's margin made a drawing shrunk to
        # the panel's width scroll sideways by ~70 px of white (the margin stays above/below).
        scene = self.scene().sceneRect()
        self.setSceneRect(QRectF(drawing.left() - edge, scene.top(), width, scene.height()))
        # Centred, a rect that fills the panel beside a vertical scroll bar sat ~7 px right
        # (cut there): Qt centres it in the width the bar leaves out (measured with Qt 6.11).
        fills = width * zoom > room - 2 * self.style().pixelMetric(
            QStyle.PixelMetric.PM_ScrollBarExtent)
        self.setAlignment((Qt.AlignmentFlag.AlignLeft if fills else Qt.AlignmentFlag.AlignHCenter)
                          | Qt.AlignmentFlag.AlignVCenter)
        self.readable = (min_zoom, edge)

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        # a fitted graph keeps filling the canvas as the window grows, a readable one its width
        if not self.fitted and self.readable is None:
            return
        old, new = event.oldSize(), event.size()
        bar = self.style().pixelMetric(QStyle.PixelMetric.PM_ScrollBarExtent) + 2
        # A scroll bar appearing or going changes the viewport by its own width; refitting on
        # that would toggle it again, and again (the event loop never idles).
        if old.isValid() and abs(new.width() - old.width()) <= bar \
                and abs(new.height() - old.height()) <= bar:
            return
        if self.fitted:
            self.fit()
        else:
            self.show_readable(*self.readable)

    def wheelEvent(self, event) -> None:
        self.zoom_by(1.15 if event.angleDelta().y() > 0 else 1 / 1.15)

    def mousePressEvent(self, event) -> None:
        self._press = event.position()
        super().mousePressEvent(event)

    def mouseReleaseEvent(self, event) -> None:
        super().mouseReleaseEvent(event)
        moved = self._press is not None and (event.position() - self._press).manhattanLength() > 4
        self.fitted = self.fitted and not moved  # a drag pans away from the fitted view
        if event.button() == Qt.MouseButton.LeftButton and not moved:
            pos = self.mapToScene(event.position().toPoint())
            item = self.scene().node_at(pos)
            if item is not None:
                self.nodeClicked.emit(item, item.on_toggle(pos))
        self._press = None

    def mouseDoubleClickEvent(self, event) -> None:
        item = self.scene().node_at(self.mapToScene(event.position().toPoint()))
        if item is not None:
            self.nodeDoubleClicked.emit(item)
