"""Tokens as text, coloured by attention from or to a clicked token (BertViz head-view style)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from PySide6.QtCore import QRect, QSize, Qt, Signal
from PySide6.QtGui import QColor, QFont, QFontMetrics, QPainter, QPen
from PySide6.QtWidgets import (
    QButtonGroup,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from workbench.core.attention.compute import Token
from workbench.core.attention.links import strongest_links

ACCENT = QColor(255, 140, 0)  # weight colour (orange, as in BertViz)
SELECTED = QColor(30, 110, 220)
PAD_X, PAD_Y, GAP = 5, 3, 4
SMOOTH_LINKS = 150  # more links than this in view are drawn without antialiasing


class TokenStrip(QWidget):
    """Tokens laid out like wrapped text; each has a background intensity; click selects one."""

    tokenClicked = Signal(int)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.tokens: tuple[Token, ...] = ()
        self.weights: np.ndarray | None = None  # (T,) in [0, 1] after scaling
        self.raw: np.ndarray | None = None
        self.selected: int | None = None
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        self.setMouseTracking(True)

    def set_tokens(self, tokens: Sequence[Token]) -> None:
        self.tokens, self.weights, self.raw, self.selected = tuple(tokens), None, None, None
        self._layout(self.width())
        self.updateGeometry()
        self.update()

    def set_weights(self, weights: np.ndarray | None) -> None:
        """Per-token weights (any scale); shown relative to the largest."""
        self.raw = None if weights is None else np.asarray(weights, dtype=np.float32)
        if self.raw is None:
            self.weights = None
        else:
            top = float(np.nanmax(self.raw)) if self.raw.size else 0.0
            self.weights = np.nan_to_num(self.raw / top if top > 0 else self.raw)
        self.update()

    def _layout(self, width: int) -> int:
        """Place the chips for `width`; returns the height (cached per width and tokens:
        size hints ask again and again, and 2,048 chips take ~20 ms to measure)."""
        font = self.font()
        key = (self.tokens, font.key())
        if getattr(self, "_layout_key", None) != key:
            fm = QFontMetrics(font)
            self._widths = [fm.horizontalAdvance(t.text) + 2 * PAD_X for t in self.tokens]
            self._chip_h = fm.height() + 2 * PAD_Y
            self._layout_key, self._layouts = key, {}
        if width not in self._layouts:
            x, y, h = 0, 0, self._chip_h
            rects = []
            for w in self._widths:
                if x and x + w > width:
                    x, y = 0, y + h + GAP
                rects.append(QRect(x, y, w, h))
                x += w + GAP
            if len(self._layouts) > 8:
                self._layouts.clear()
            self._layouts[width] = (y + h if self.tokens else h, rects)
        return self._layouts[width][0]

    @property
    def _rects(self) -> list[QRect]:
        """The chips' places at the current width."""
        self._layout(self.width())
        return self._layouts[self.width()][1]

    def rows_height(self, rows: int) -> int:
        """The height `rows` lines of chips take."""
        h = QFontMetrics(self.font()).height() + 2 * PAD_Y
        return rows * h + (rows - 1) * GAP

    def hasHeightForWidth(self) -> bool:
        return True

    def heightForWidth(self, width: int) -> int:
        return self._layout(width)

    def sizeHint(self) -> QSize:
        return QSize(400, self._layout(max(self.width(), 400)))

    def resizeEvent(self, event) -> None:
        self._layout(event.size().width())
        super().resizeEvent(event)

    def token_rect(self, index: int) -> QRect:
        return self._rects[index]

    def index_at(self, pos) -> int | None:
        for i, rect in enumerate(self._rects):
            if rect.contains(pos):
                return i
        return None

    def mousePressEvent(self, event) -> None:
        index = self.index_at(event.position().toPoint())
        if index is not None:
            self.tokenClicked.emit(index)

    def mouseMoveEvent(self, event) -> None:
        index = self.index_at(event.position().toPoint())
        if index is None:
            self.setToolTip("")
            return
        t = self.tokens[index]
        tip = f"#{index} '{t.text}' id {t.id}" + (" (special)" if t.special else "") + \
              (" (unknown to the vocabulary)" if t.unknown else "")
        if self.raw is not None:
            tip += f"\nweight {self.raw[index]:.4f}"
        self.setToolTip(tip)

    def paintEvent(self, event) -> None:
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        base = self.font()
        italic = QFont(base)
        italic.setItalic(True)
        clip = event.rect()
        for i, (token, rect) in enumerate(zip(self.tokens, self._rects, strict=False)):
            if not rect.intersects(clip):  # 2,048 chips: paint only those scrolled into view
                continue
            fill = QColor(255, 255, 255)
            if self.weights is not None:
                c = QColor(ACCENT)
                c.setAlphaF(float(np.clip(self.weights[i], 0, 1)))
                fill = c
            painter.setBrush(fill)
            pen = QPen(SELECTED if i == self.selected else QColor(180, 180, 180))
            pen.setWidth(2 if i == self.selected else 1)
            if token.special:
                pen.setStyle(Qt.PenStyle.DashLine)
            painter.setPen(pen)
            painter.drawRoundedRect(rect, 4, 4)
            painter.setFont(italic if token.special or token.unknown else base)
            painter.setPen(QColor(120, 120, 120) if token.special else QColor(20, 20, 20))
            painter.drawText(rect, Qt.AlignmentFlag.AlignCenter, token.text)
        painter.end()


def head_colour(head: int, heads: int) -> QColor:
    """One distinct hue per head (BertViz colours heads, not weights)."""
    return QColor.fromHsv(int(360 * head / max(heads, 1)) % 360, 200, 210)


class LinksCanvas(QWidget):
    """Query tokens left, key tokens right, lines between them coloured by head (BertViz).

    Only rows in the painted rectangle are drawn and only each head's strongest links, so a
    2,048-token input paints in milliseconds; hovering a token shows just its links.
    """

    focusChanged = Signal()

    def __init__(self, parent=None):
        super().__init__(parent)
        self.matrices: np.ndarray | None = None  # (heads, Tq, Tk)
        self.queries: tuple[Token, ...] = ()
        self.keys: tuple[Token, ...] = ()
        self.heads: set[int] = set()
        self.focus: tuple[str, int] | None = None  # ("query" | "key", index) under the mouse
        self.pinned: tuple[str, int] | None = None  # a clicked token stays focused
        self.painted: tuple | None = None  # see _draw_links
        self.setMouseTracking(True)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)

    @property
    def row_height(self) -> int:
        font = self.font()
        if getattr(self, "_row_font", None) != font:  # font metrics once per font
            self._row_font, self._row_height = QFont(font), QFontMetrics(font).height() + 4
        return self._row_height

    @property
    def column_width(self) -> int:
        return min(180, max(60, self.width() // 4))

    @property
    def key_x(self) -> int:
        """Left edge of the key column: lines at most ~520 px long, as in BertViz, so the two
        columns stay readable together on a wide screen."""
        return min(self.width(), 2 * self.column_width + 520) - self.column_width

    def set_data(self, matrices, queries, keys) -> None:
        if tuple(queries) != self.queries or tuple(keys) != self.keys:
            self.focus = self.pinned = None
        self.matrices, self.queries, self.keys = matrices, tuple(queries), tuple(keys)
        self.setFixedHeight(max(len(self.queries), len(self.keys), 1) * self.row_height + 8)
        self.update()

    def active(self) -> tuple[str, int] | None:
        """The token whose links are shown alone: hovered, else clicked, else None (all)."""
        return self.focus or self.pinned

    def links(self, rows: range | None = None):
        """The links drawn now: those of the active token, else of `rows` (default: all)."""
        if self.matrices is None:
            return None
        active = self.active()
        if active is not None and active[0] == "key":
            return strongest_links(self.matrices, self.heads, None, keys=[active[1]])
        queries = [active[1]] if active else (rows or range(len(self.queries)))
        return strongest_links(self.matrices, self.heads, list(queries))

    def token_at(self, pos) -> tuple[str, int] | None:
        index = int((pos.y() - 4) // self.row_height)
        if pos.x() < self.column_width and 0 <= index < len(self.queries):
            return ("query", index)
        if self.key_x < pos.x() < self.key_x + self.column_width and 0 <= index < len(self.keys):
            return ("key", index)
        return None

    def row_center(self, index: int) -> int:
        return 4 + index * self.row_height + self.row_height // 2

    def token_pos(self, side: str, index: int):
        """Where a token is drawn (for tests and tool tips)."""
        from PySide6.QtCore import QPoint

        x = self.column_width // 2 if side == "query" else self.key_x + self.column_width // 2
        return QPoint(x, self.row_center(index))

    def mouseMoveEvent(self, event) -> None:
        hit = self.token_at(event.position().toPoint())
        if hit != self.focus:
            self.focus = hit
            self.update()
            self.focusChanged.emit()

    def leaveEvent(self, event) -> None:
        if self.focus is not None:
            self.focus = None
            self.update()
            self.focusChanged.emit()
        super().leaveEvent(event)

    def mousePressEvent(self, event) -> None:
        hit = self.token_at(event.position().toPoint())
        self.pinned = None if hit == self.pinned else hit
        self.update()
        self.focusChanged.emit()

    def _draw_links(self, painter: QPainter, links, n_heads: int, clip: QRect) -> None:
        """Each link's visible part only (a line to a key 2,000 rows away is cut to the
        painted band first), one drawLines call per head and weight step."""
        from PySide6.QtCore import QLineF

        x0, x1 = self.column_width + 4, self.key_x - 4
        rh = self.row_height
        y0 = 4 + links.query * rh + rh // 2
        y1 = 4 + links.key * rh + rh // 2
        top, bottom = clip.top() - 4.0, clip.bottom() + 4.0
        lo, hi = np.minimum(y0, y1), np.maximum(y0, y1)
        seen = (hi >= top) & (lo <= bottom)
        dy = np.where(y1 == y0, 1, y1 - y0).astype(np.float64)
        # the parameter range of each line inside [top, bottom] (flat lines: all of it)
        ta = np.clip((top - y0) / dy, 0, 1)
        tb = np.clip((bottom - y0) / dy, 0, 1)
        t_start = np.where(y1 == y0, 0.0, np.minimum(ta, tb))
        t_end = np.where(y1 == y0, 1.0, np.maximum(ta, tb))
        xs, xe = x0 + (x1 - x0) * t_start, x0 + (x1 - x0) * t_end
        ys, ye = y0 + (y1 - y0) * t_start, y0 + (y1 - y0) * t_end
        step = np.minimum((links.weight * 8).astype(np.intp), 7)  # 8 pen strengths
        group = links.head * 8 + step
        # what was drawn, for tests: (queries asked for, segments, their y range)
        self.painted = (np.unique(links.query).tolist(), int(seen.sum()),
                        (float(min(ys[seen].min(), ye[seen].min())),
                         float(max(ys[seen].max(), ye[seen].max()))) if seen.any() else None)
        for g in np.unique(group[seen]).tolist():
            pick = np.nonzero(seen & (group == g))[0]
            weight = (g % 8 + 0.5) / 8
            colour = head_colour(g // 8, n_heads)
            colour.setAlphaF(min(1.0, 0.15 + 0.85 * weight))
            pen = QPen(colour)
            pen.setWidthF(1.0 + 2.0 * weight)
            painter.setPen(pen)
            painter.drawLines([QLineF(a, b, c, d) for a, b, c, d in zip(
                xs[pick].tolist(), ys[pick].tolist(), xe[pick].tolist(), ye[pick].tolist(),
                strict=True)])

    def paintEvent(self, event) -> None:
        painter = QPainter(self)
        rh, cw, kx = self.row_height, self.column_width, self.key_x
        clip = event.rect()
        first = max(0, (clip.top() - 4) // rh - 1)
        last = (clip.bottom() - 4) // rh + 2
        links = self.links(range(first, min(last, len(self.queries)))) \
            if self.matrices is not None else None
        n_heads = 0 if self.matrices is None else self.matrices.shape[0]
        self.painted = ([], 0, None)
        if links is not None and len(links):
            # smooth lines while few; hundreds of translucent smooth lines cost ~0.1 ms each
            painter.setRenderHint(QPainter.RenderHint.Antialiasing, len(links) <= SMOOTH_LINKS)
            self._draw_links(painter, links, n_heads, clip)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, False)
        active = self.active()
        for side, tokens, rect_x, align in (
                ("query", self.queries, 0, Qt.AlignmentFlag.AlignRight),
                ("key", self.keys, kx, Qt.AlignmentFlag.AlignLeft)):
            for i in range(first, min(last, len(tokens))):
                rect = QRect(rect_x + 4, 4 + i * rh, cw - 8, rh)
                if active == (side, i):
                    painter.fillRect(rect, QColor(SELECTED.red(), SELECTED.green(),
                                                  SELECTED.blue(), 60))
                painter.setPen(QColor(120, 120, 120) if tokens[i].special else QColor(20, 20, 20))
                painter.drawText(rect, align | Qt.AlignmentFlag.AlignVCenter, tokens[i].text)
        painter.end()


class TokenView(QWidget):
    """BertViz-style token view: lines from query to key tokens, one colour per head.

    Hover a token to see only its links, click to keep it focused; click heads on and off.
    The heads follow the tab's Head selector whenever it changes.
    """

    def __init__(self, parent=None):
        super().__init__(parent)
        self.matrices: np.ndarray | None = None  # (heads, Tq, Tk) of the current layer
        self.heads: set[int] = set()
        self._followed: int | None = None  # the Head selector's value last applied
        self.canvas = LinksCanvas()
        self.head_bar = QHBoxLayout()
        self.head_bar.setSpacing(2)
        self.head_buttons = QButtonGroup(self)
        self.head_buttons.setExclusive(False)
        self.head_buttons.idToggled.connect(self._on_head_buttons_idToggled)
        self.all_button = QPushButton("All heads")
        self.all_button.clicked.connect(lambda: self.select_heads(range(len(self._head_ids()))))
        self.hint = QLabel("Left: the token that attends (query); right: the token attended to "
                           "(key). Hover a token to see only its lines, click to keep it.")
        self.hint.setWordWrap(True)
        self.scroll = QScrollArea()
        self.scroll.setWidgetResizable(True)
        self.scroll.setWidget(self.canvas)
        top = QHBoxLayout()
        top.addWidget(QLabel("Heads:"))
        top.addLayout(self.head_bar)
        top.addWidget(self.all_button)
        top.addStretch()
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.hint)
        layout.addWidget(self.scroll, 1)

    def _head_ids(self) -> list[int]:
        return [self.head_buttons.id(b) for b in self.head_buttons.buttons()]

    def set_data(self, matrices: np.ndarray, queries: Sequence[Token], keys: Sequence[Token],
                 current_head: int) -> None:
        """Show (heads, Tq, Tk) maps of one layer; follow the Head selector when it moved."""
        self.matrices = np.asarray(matrices)
        n = self.matrices.shape[0]
        if len(self._head_ids()) != n:
            for b in self.head_buttons.buttons():
                self.head_buttons.removeButton(b)
                b.deleteLater()
            for h in range(n):
                b = QToolButton()
                b.setText(f"H{h}")
                b.setCheckable(True)
                c = head_colour(h, n).name()
                b.setStyleSheet(f"QToolButton {{ border: 2px solid {c}; padding: 1px 3px; }}"
                                f"QToolButton:checked {{ background: {c}; color: white; }}")
                self.head_buttons.addButton(b, h)
                self.head_bar.addWidget(b)
            self._followed = None
        self.canvas.set_data(self.matrices, queries, keys)
        if current_head != self._followed:
            self._followed = current_head
            self.select_heads([current_head])

    def select_heads(self, heads) -> None:
        """Check exactly these heads."""
        wanted = set(heads)
        self.head_buttons.blockSignals(True)
        for b in self.head_buttons.buttons():
            b.setChecked(self.head_buttons.id(b) in wanted)
        self.head_buttons.blockSignals(False)
        self.heads = wanted
        self.canvas.heads = wanted
        self.canvas.update()

    def checked_heads(self) -> set[int]:
        """The heads whose buttons are checked (what the user sees)."""
        return {self.head_buttons.id(b) for b in self.head_buttons.buttons() if b.isChecked()}

    def _on_head_buttons_idToggled(self, head: int, checked: bool) -> None:
        (self.heads.add if checked else self.heads.discard)(head)
        self.canvas.heads = self.heads
        self.canvas.update()
