"""Small QPainter charts for the Overview: a stacked bar of parts, and memory bars with device
lines. No plotting library: the Overview opens with the checkpoint and must stay instant.

Each chart draws data computed in core (workbench.core.model.overview_data), keeps it in plain
attributes for tests, and says its numbers in its tooltip and accessible description.
"""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import QPointF, QRectF, QSize, Qt
from PySide6.QtGui import QColor, QFontMetrics, QPainter, QPainterPath, QPen
from PySide6.QtWidgets import QSizePolicy, QWidget

from workbench.core.model.breakdown import MemoryRow
from workbench.core.model.overview_data import DeviceLine, Segment
from workbench.core.units import human_bytes

# Tableau 10: distinguishable, and readable for the common colour-vision deficiencies.
PALETTE = ("#4e79a7", "#f28e2b", "#59a14f", "#b07aa1", "#76b7b2", "#edc948", "#ff9da7",
           "#9c755f", "#bab0ac", "#e15759")
PART_COLORS = {"embeddings": "#4e79a7", "blocks": "#59a14f", "head": "#f28e2b",
               "other": "#bab0ac"}
FITS_ALL, FITS_SOME, FITS_NONE = QColor("#4e79a7"), QColor("#e8a33a"), QColor("#d1453b")
MIN_SEGMENT_PX = 2.0  # a non-zero part stays visible, however small its share


def percent(share: float) -> str:
    """0.5247 -> '52.5%'; tiny non-zero shares read '<0.1%', not '0.0%'."""
    if 0 < share < 0.001:
        return "<0.1%"
    return f"{100 * share:.1f}%"


def segment_colors(segments: Sequence[Segment], fixed: dict[str, str] | None = None,
                   ) -> list[QColor]:
    """A colour per segment: from `fixed` by label where given, else the palette in order."""
    fixed = fixed or {}
    return [QColor(fixed.get(s.label, PALETTE[i % len(PALETTE)]))
            for i, s in enumerate(segments)]


class StackedBarChart(QWidget):
    """One horizontal bar split into segments by share (parameters by part, bytes by dtype)."""

    BAR_HEIGHT = 18

    def __init__(self, name: str, segments: Sequence[Segment], colors: Sequence[QColor],
                 describe, parent=None):
        super().__init__(parent)
        self.segments, self.colors = tuple(segments), list(colors)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        text = "\n".join(f"{s.label}: {describe(s)} ({percent(s.share)})" for s in self.segments)
        self.setAccessibleName(name)
        self.setAccessibleDescription(text)
        self.setToolTip(f"{name}\n{text}" if text else name)

    def sizeHint(self) -> QSize:
        return QSize(360, self.BAR_HEIGHT + 4)

    def minimumSizeHint(self) -> QSize:
        return QSize(60, self.BAR_HEIGHT + 4)

    def segment_widths(self, width: float) -> list[float]:
        """Each segment's drawn width in a bar `width` px wide (tiny parts get MIN_SEGMENT_PX,
        taken from the widest)."""
        widths = [s.share * width for s in self.segments]
        if not widths:
            return widths
        widest = max(range(len(widths)), key=widths.__getitem__)
        for i, w in enumerate(widths):
            if i != widest and w < MIN_SEGMENT_PX:
                widths[widest] -= MIN_SEGMENT_PX - w
                widths[i] = MIN_SEGMENT_PX
        return widths

    def paintEvent(self, _event) -> None:
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        rect = QRectF(1, 2, self.width() - 2, self.BAR_HEIGHT)
        clip = QPainterPath()
        clip.addRoundedRect(rect, 4, 4)
        painter.setClipPath(clip)
        painter.fillRect(rect, self.palette().mid())
        x = rect.left()
        for width, color in zip(self.segment_widths(rect.width()), self.colors, strict=True):
            painter.fillRect(QRectF(x, rect.top(), width, rect.height()), color)
            x += width
        painter.end()


class MemoryChart(QWidget):
    """One bar per precision (weights only), against a vertical line per device's memory.

    Bars that fit every device are blue, some devices amber, none red; each row says which
    devices it exceeds. A device whose memory lies far beyond the largest bar is drawn as an
    arrow at the right edge rather than squeezing the bars into a sliver.
    """

    ROW_HEIGHT, ROW_GAP, PAD = 18, 5, 4
    OFF_SCALE = 2.5  # a device more than this many times the largest bar is drawn off scale

    def __init__(self, rows: Sequence[MemoryRow], devices: Sequence[DeviceLine], parent=None):
        super().__init__(parent)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.setAccessibleName("Weights memory at each precision")
        self.set_data(rows, devices)

    def set_data(self, rows: Sequence[MemoryRow], devices: Sequence[DeviceLine]) -> None:
        """Show these rows against these devices."""
        self.rows, self.devices = tuple(rows), tuple(devices)
        largest = max((r.bytes for r in self.rows), default=0)
        near = [d.total for d in self.devices if d.total <= self.OFF_SCALE * largest]
        self.scale_max = max([largest, *near]) * 1.05 or 1
        text = "\n".join(f"{r.label}: {self.row_text(r)}" for r in self.rows)
        lines = ", ".join(f"{d.name} {human_bytes(d.total)}" for d in self.devices)
        self.setAccessibleDescription(f"{text}\nDevices: {lines or 'none known'}")
        self.setToolTip(f"Weights only (activations and caches need more)\n{text}\n"
                        f"Devices: {lines or 'none known'}")
        self.updateGeometry()
        self.update()

    def exceeds(self, row: MemoryRow) -> tuple[str, ...]:
        return tuple(d.name for d in self.devices if d.name not in row.fits)

    def row_text(self, row: MemoryRow) -> str:
        """'45.3 MiB', '140.6 GiB · exceeds RAM', '262.8 GiB · fits no device'."""
        over = self.exceeds(row)
        if not over:
            return human_bytes(row.bytes)
        if len(over) == len(self.devices) and len(over) > 1:
            return f"{human_bytes(row.bytes)} · fits no device"
        names = ", ".join(over) if len(over) <= 2 else f"{len(over)} devices"
        return f"{human_bytes(row.bytes)} · exceeds {names}"

    def bar_color(self, row: MemoryRow) -> QColor:
        over = self.exceeds(row)
        if not over:
            return FITS_ALL
        return FITS_NONE if len(over) == len(self.devices) else FITS_SOME

    def device_x(self, device: DeviceLine, width: float | None = None) -> float | None:
        """Where the device's line falls along a bar area `width` px wide; None: off scale."""
        width = self._bar_area()[1] if width is None else width
        if device.total > self.scale_max:
            return None
        return device.total / self.scale_max * width

    def _header_rows(self) -> int:
        return max(1, min(3, len(self.devices)))

    def _header_height(self) -> int:
        return self._header_rows() * (self.fontMetrics().height() + 1) + 3

    def _bar_area(self) -> tuple[float, float]:
        """(left, width) of the area the bars are drawn in."""
        fm = QFontMetrics(self.font())
        label_w = max((fm.horizontalAdvance(r.label) for r in self.rows), default=0) + 10
        value_w = max((fm.horizontalAdvance(self.row_text(r)) for r in self.rows), default=0)
        value_w = min(value_w + 10, max(self.width() * 0.45, 60))
        return label_w, max(self.width() - label_w - value_w - self.PAD, 30)

    def sizeHint(self) -> QSize:
        n = len(self.rows)
        height = self._header_height() + n * self.ROW_HEIGHT + max(n - 1, 0) * self.ROW_GAP
        return QSize(460, height + 2 * self.PAD)

    def minimumSizeHint(self) -> QSize:
        return QSize(220, self.sizeHint().height())

    def paintEvent(self, _event) -> None:
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        fm = painter.fontMetrics()
        text_color = self.palette().windowText().color()
        left, width = self._bar_area()
        top = self.PAD + self._header_height()
        for i, row in enumerate(self.rows):
            y = top + i * (self.ROW_HEIGHT + self.ROW_GAP)
            painter.setPen(text_color)
            painter.drawText(QRectF(0, y, left - 6, self.ROW_HEIGHT),
                             Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter,
                             row.label)
            painter.fillRect(QRectF(left, y, width, self.ROW_HEIGHT),
                             self.palette().alternateBase())
            bar = max(row.bytes / self.scale_max * width, 1.0)
            painter.fillRect(QRectF(left, y + 2, min(bar, width), self.ROW_HEIGHT - 4),
                             self.bar_color(row))
            text = fm.elidedText(self.row_text(row), Qt.TextElideMode.ElideRight,
                                 int(self.width() - left - width - 6))
            painter.drawText(QRectF(left + width + 6, y, self.width(), self.ROW_HEIGHT),
                             Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter, text)
        bottom = top + len(self.rows) * (self.ROW_HEIGHT + self.ROW_GAP) - self.ROW_GAP
        self._draw_devices(painter, left, width, bottom)
        painter.end()

    def _draw_devices(self, painter: QPainter, left: float, width: float, bottom: float) -> None:
        """A dashed line per device across the bars, its name and size in the header above;
        labels that would overlap go one row down, and sit on the background over lines."""
        fm = painter.fontMetrics()
        line_h = fm.height() + 1
        ends: list[float] = []  # right end of the last label in each header row
        placed = []
        for device in sorted(self.devices, key=lambda d: d.total):
            x = self.device_x(device, width)
            label = f"{device.name} {human_bytes(device.total)}"
            if x is None:
                label += " \u25b8"  # beyond the scale: an arrow at the right edge
            text_w = fm.horizontalAdvance(label)
            anchor = left + (width if x is None else x)
            start = min(max(anchor - (text_w if x is None else text_w / 2), 0),
                        self.width() - text_w)
            row = next((i for i, end in enumerate(ends) if start > end + 6), None)
            if row is None:
                row = min(len(ends), self._header_rows() - 1)
                if row == len(ends):
                    ends.append(0.0)
            ends[row] = start + text_w
            placed.append((label, start, self.PAD + row * line_h, text_w, x))
        pen = QPen(self.palette().windowText().color(), 1.5, Qt.PenStyle.DashLine)
        for _label, _start, y, _w, x in placed:
            if x is not None:
                painter.setPen(pen)
                painter.drawLine(QPointF(left + x, y + line_h), QPointF(left + x, bottom))
        painter.setPen(self.palette().windowText().color())
        for label, start, y, text_w, _x in placed:
            painter.fillRect(QRectF(start - 2, y, text_w + 4, line_h), self.palette().base())
            painter.drawText(QPointF(start, y + fm.ascent()), label)
