"""The token chips above the views, and the BertViz head view: query and key columns, lines by
head."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from PySide6.QtCore import QRect, QSize, Qt, Signal
from PySide6.QtGui import QColor, QFont, QFontMetrics, QPainter, QPen
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from workbench.core.attention.compute import Token
from workbench.core.attention.links import MEAN, MIN_WEIGHT, Links, LinkTable

ACCENT = QColor(255, 140, 0)  # weight colour (orange, as in BertViz)
SELECTED = QColor(30, 110, 220)
PAD_X, PAD_Y, GAP = 5, 3, 4
SMOOTH_LINKS = 150  # more links than this in view are drawn without antialiasing
MAX_LINES = 4000  # lines per paint at most (the strongest): ~40 rows x 12 heads x 8 links


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
    """One distinct hue per head (BertViz colours heads, not weights); the mean is dark grey."""
    if head == MEAN:
        return QColor(70, 70, 70)
    return QColor.fromHsv(int(360 * head / max(heads, 1)) % 360, 200, 210)


class HeadStrip(QWidget):
    """BertViz's row of coloured head squares (and one for the mean): click to turn a head's
    lines on or off; wraps to more rows when narrow, so it never widens the window."""

    toggled = Signal(int, bool)  # head (MEAN for the mean), now on

    SIDE, GAP = 18, 3

    def __init__(self, parent=None):
        super().__init__(parent)
        self.n_heads = 0
        self.selected: set[int] = set()
        self.setMouseTracking(True)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        self.setMinimumWidth(4 * (self.SIDE + self.GAP))

    def set_heads(self, n: int) -> None:
        self.n_heads = n
        self.updateGeometry()
        self.update()

    def set_selected(self, heads) -> None:
        self.selected = set(heads)
        self.update()

    def squares(self, width: int | None = None) -> list[tuple[int, QRect]]:
        """(head, rectangle) of every square at `width`; the mean square comes first."""
        width = self.width() if width is None else width
        out, x, y = [], 0, 0
        mean_w = QFontMetrics(self.font()).horizontalAdvance("mean") + 10
        for head in [MEAN, *range(self.n_heads)]:
            w = mean_w if head == MEAN else self.SIDE
            if x and x + w > width:
                x, y = 0, y + self.SIDE + self.GAP
            out.append((head, QRect(x, y, w, self.SIDE)))
            x += w + self.GAP + (6 if head == MEAN else 0)
        return out

    def square_center(self, head: int):
        """Where a head's square is (for tests)."""
        return dict(self.squares())[head].center()

    def hasHeightForWidth(self) -> bool:
        return True

    def heightForWidth(self, width: int) -> int:
        squares = self.squares(max(width, 1))
        return squares[-1][1].bottom() + 1 if squares else self.SIDE

    def sizeHint(self) -> QSize:
        return QSize(400, self.heightForWidth(max(self.width(), 400)))

    def head_at(self, pos) -> int | None:
        for head, rect in self.squares():
            if rect.contains(pos):
                return head
        return None

    def mousePressEvent(self, event) -> None:
        head = self.head_at(event.position().toPoint())
        if head is not None:
            on = head not in self.selected
            (self.selected.add if on else self.selected.discard)(head)
            self.update()
            self.toggled.emit(head, on)

    def mouseMoveEvent(self, event) -> None:
        head = self.head_at(event.position().toPoint())
        if head is None:
            self.setToolTip("")
        else:
            name = "The mean over heads" if head == MEAN else f"Head {head}"
            self.setToolTip(f"{name}: click to turn its lines "
                            f"{'off' if head in self.selected else 'on'}")

    def paintEvent(self, _event) -> None:
        painter = QPainter(self)
        small = QFont(self.font())
        small.setPixelSize(9)
        for head, rect in self.squares():
            colour = head_colour(head, self.n_heads)
            on = head in self.selected
            painter.setPen(QPen(colour, 2))
            painter.setBrush(colour if on else QColor(255, 255, 255))
            painter.drawRect(rect.adjusted(1, 1, -1, -1))
            painter.setPen(QColor(255, 255, 255) if on else colour)
            painter.setFont(self.font() if head == MEAN else small)
            painter.drawText(rect, Qt.AlignmentFlag.AlignCenter,
                             "mean" if head == MEAN else str(head))
        painter.end()


class LinksCanvas(QWidget):
    """Query tokens left, key tokens right, lines between them coloured by head (BertViz).

    The lines come from a LinkTable a worker made (each head's strongest links per query), so
    painting only slices it: the rows in the painted rectangle, at most MAX_LINES lines.
    Hovering a query shows only its lines and each key's weight; hovering a key shows the
    queries that attend to it.
    """

    focusChanged = Signal()

    def __init__(self, parent=None):
        super().__init__(parent)
        self.matrices: np.ndarray | None = None  # (heads, Tq, Tk)
        self.table: LinkTable | None = None
        self.queries: tuple[Token, ...] = ()
        self.keys: tuple[Token, ...] = ()
        self.heads: set[int] = set()
        self.focus: tuple[str, int] | None = None  # ("query" | "key", index) under the mouse
        self.pinned: tuple[str, int] | None = None  # a clicked token stays focused
        # the other side's weights from / to the focused token: (weights, strongest head)
        self.focus_weights: tuple[np.ndarray, np.ndarray] | None = None
        self.painted: tuple | None = None  # see _draw_links
        self.drawn: Links | None = None  # the lines of the last paint (after culling)
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
        return self.query_x + min(self.width(), 2 * self.column_width + 520) - self.column_width

    @property
    def query_x(self) -> int:
        """Left edge of the query column: the two columns are centred in a wide canvas."""
        return max(0, (self.width() - 2 * self.column_width - 520) // 2)

    def set_data(self, matrices, queries, keys, table: LinkTable | None) -> None:
        if tuple(queries) != self.queries or tuple(keys) != self.keys:
            self.focus = self.pinned = None
        self.matrices, self.queries, self.keys = matrices, tuple(queries), tuple(keys)
        self.table = table
        self.setFixedHeight(max(len(self.queries), len(self.keys), 1) * self.row_height + 8)
        self._refocus()

    def set_table(self, table: LinkTable | None) -> None:
        self.table = table
        self.update()

    def set_heads(self, heads) -> None:
        self.heads = set(heads)
        self._refocus()

    def active(self) -> tuple[str, int] | None:
        """The token whose links are shown alone: hovered, else clicked, else None (all)."""
        return self.focus or self.pinned

    def visible_heads(self) -> set[int]:
        """The heads whose lines are drawn (MEAN for the mean)."""
        n = 0 if self.matrices is None else self.matrices.shape[0]
        return {h for h in self.heads if h == MEAN or 0 <= h < n}

    def links(self, rows: range | None = None) -> Links | None:
        """The links drawn now: those of the active token, else of `rows` (default: all);
        None until the table is there."""
        if self.table is None:
            return None
        heads, active = self.visible_heads(), self.active()
        if active is not None and active[0] == "key":
            return self.table.links(heads, None, key=active[1], limit=MAX_LINES)
        queries = range(active[1], active[1] + 1) if active else rows
        return self.table.links(heads, queries, limit=MAX_LINES)

    def lines_by_head(self) -> dict[int, list[tuple[int, int, float]]]:
        """The last paint's lines per head: (query, key, weight) each (for tests, tool tips)."""
        out: dict[int, list[tuple[int, int, float]]] = {}
        if self.drawn is not None:
            for h, q, k, w in zip(self.drawn.head.tolist(), self.drawn.query.tolist(),
                                  self.drawn.key.tolist(), self.drawn.weight.tolist(),
                                  strict=True):
                out.setdefault(h, []).append((q, k, w))
        return out

    def token_at(self, pos) -> tuple[str, int] | None:
        index = int((pos.y() - 4) // self.row_height)
        qx = self.query_x
        if qx <= pos.x() < qx + self.column_width and 0 <= index < len(self.queries):
            return ("query", index)
        if self.key_x < pos.x() < self.key_x + self.column_width and 0 <= index < len(self.keys):
            return ("key", index)
        return None

    def row_center(self, index: int) -> int:
        return 4 + index * self.row_height + self.row_height // 2

    def token_pos(self, side: str, index: int):
        """Where a token is drawn (for tests and tool tips)."""
        from PySide6.QtCore import QPoint

        x = (self.query_x if side == "query" else self.key_x) + self.column_width // 2
        return QPoint(x, self.row_center(index))

    def _refocus(self) -> None:
        """The focused token's weights to (or from) every token of the other side, strongest
        of the visible heads: one row or column per head, a few microseconds."""
        active, m = self.active(), self.matrices
        self.focus_weights = None
        heads = sorted(self.visible_heads())
        if active is not None and m is not None and heads:
            side, i = active
            cut = m[:, i, :] if side == "query" else m[:, :, i]  # (H, T other side)
            rows = [cut.mean(axis=0) if h == MEAN else cut[h] for h in heads]
            stacked = np.stack(rows)
            best = stacked.argmax(axis=0)
            self.focus_weights = (stacked.max(axis=0), np.asarray(heads)[best])
        self.update()
        self.focusChanged.emit()

    def mouseMoveEvent(self, event) -> None:
        hit = self.token_at(event.position().toPoint())
        if hit != self.focus:
            self.focus = hit
            self._refocus()
        if hit is not None and self.focus_weights is not None:
            self.setToolTip(self._tip(*hit))
        elif hit is None:
            self.setToolTip("")

    def _tip(self, side: str, index: int) -> str:
        token = (self.queries if side == "query" else self.keys)[index]
        weights, _heads = self.focus_weights
        top = np.argsort(-weights)[:5]
        other = self.keys if side == "query" else self.queries
        verb = "attends to" if side == "query" else "is attended by"
        parts = [f"'{other[j].text}' {weights[j]:.3f}" for j in top.tolist()]
        return f"#{index} '{token.text}' {verb}: " + ", ".join(parts)

    def leaveEvent(self, event) -> None:
        if self.focus is not None:
            self.focus = None
            self._refocus()
        super().leaveEvent(event)

    def mousePressEvent(self, event) -> None:
        hit = self.token_at(event.position().toPoint())
        self.pinned = None if hit == self.pinned else hit
        self._refocus()

    def _draw_links(self, painter: QPainter, links: Links, n_heads: int, clip: QRect,
                    opaque: bool = False) -> None:
        """Each link's visible part only (a line to a key 2,000 rows away is cut to the
        painted band first), one drawLines call per head and weight step, weakest first.

        `opaque`: the weight fades the colour towards the background instead of setting its
        alpha. Qt's raster engine draws translucent lines ~16x slower than opaque ones
        (1,000 lines: ~70 ms against ~4 ms here), so many lines are drawn opaque; only
        crossings differ (the stronger line lies on top instead of blending).
        """
        from PySide6.QtCore import QLineF

        x0, x1 = self.query_x + self.column_width + 4, self.key_x - 4
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
        group = (links.head + 1) * 8 + step  # MEAN (-1) is group 0..7
        # what was drawn, for tests: (queries asked for, segments, their y range)
        self.painted = (np.unique(links.query).tolist(), int(seen.sum()),
                        (float(min(ys[seen].min(), ye[seen].min())),
                         float(max(ys[seen].max(), ye[seen].max()))) if seen.any() else None)
        self.drawn = Links(links.head[seen], links.query[seen], links.key[seen],
                           links.weight[seen])
        back = self.palette().color(self.backgroundRole())
        for g in sorted(np.unique(group[seen]).tolist(), key=lambda g: (g % 8, g)):
            pick = np.nonzero(seen & (group == g))[0]
            weight = (g % 8 + 0.5) / 8
            colour = head_colour(g // 8 - 1, n_heads)
            alpha = min(1.0, 0.1 + 0.9 * weight)  # opacity: the weight, as BertViz
            if opaque:
                colour = QColor.fromRgbF(*(alpha * c + (1 - alpha) * b for c, b in zip(
                    colour.getRgbF()[:3], back.getRgbF()[:3], strict=True)))
            else:
                colour.setAlphaF(alpha)
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
        n_heads = 0 if self.matrices is None else self.matrices.shape[0]
        links = self.links(range(first, min(last, len(self.queries))))
        self.painted, self.drawn = ([], 0, None), None
        if links is None and self.matrices is not None:
            painter.setPen(QColor(120, 120, 120))
            painter.drawText(QRect(self.query_x + cw, 4 + first * rh,
                                   max(kx - self.query_x - cw, 1), rh),
                             Qt.AlignmentFlag.AlignCenter, "Finding the strongest links...")
        elif links is not None and len(links):
            # smooth lines while few; hundreds of translucent smooth lines cost ~0.1 ms each
            few = len(links) <= SMOOTH_LINKS
            painter.setRenderHint(QPainter.RenderHint.Antialiasing, few)
            self._draw_links(painter, links, n_heads, clip, opaque=not few)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, False)
        active = self.active()
        small = QFont(self.font())
        small.setPointSizeF(max(6.0, small.pointSizeF() * 0.8))
        for side, tokens, rect_x, align in (
                ("query", self.queries, self.query_x, Qt.AlignmentFlag.AlignRight),
                ("key", self.keys, kx, Qt.AlignmentFlag.AlignLeft)):
            # the focused token's partners: tinted by weight in the strongest head's colour
            partners = (self.focus_weights if active is not None and active[0] != side
                        else None)
            for i in range(first, min(last, len(tokens))):
                rect = QRect(rect_x + 4, 4 + i * rh, cw - 8, rh)
                if active == (side, i):
                    painter.fillRect(rect, QColor(SELECTED.red(), SELECTED.green(),
                                                  SELECTED.blue(), 60))
                elif partners is not None and partners[0][i] >= MIN_WEIGHT:
                    tint = head_colour(int(partners[1][i]), n_heads)
                    # at most half opaque: the token's text stays readable on its tint
                    tint.setAlphaF(float(min(0.5, 0.1 + 0.4 * partners[0][i])))
                    painter.fillRect(rect, tint)
                painter.setFont(self.font())
                painter.setPen(QColor(120, 120, 120) if tokens[i].special else QColor(20, 20, 20))
                painter.drawText(rect, align | Qt.AlignmentFlag.AlignVCenter, tokens[i].text)
                if partners is not None and partners[0][i] >= MIN_WEIGHT:
                    painter.setFont(small)
                    painter.setPen(QColor(60, 60, 60))
                    painter.drawText(rect.adjusted(2, 0, -2, 0), (
                        Qt.AlignmentFlag.AlignLeft if side == "query"
                        else Qt.AlignmentFlag.AlignRight) | Qt.AlignmentFlag.AlignVCenter,
                        f"{partners[0][i]:.2f}")
        painter.end()


class TokenView(QWidget):
    """BertViz-style token view: lines from query to key tokens, one colour per head.

    Hover a token to see only its links, click to keep it focused; click the head squares on
    and off (several at once draw each in its colour). The heads follow the tab's Head
    selector whenever it changes; `headsChanged` tells the tab when the user picked some.
    """

    headsChanged = Signal()

    def __init__(self, parent=None):
        super().__init__(parent)
        self.matrices: np.ndarray | None = None  # (heads, Tq, Tk) of the current layer
        self.heads: set[int] = set()
        self._followed: int | None = None  # the Head selector's value last applied
        self.canvas = LinksCanvas()
        self.strip = HeadStrip()
        self.strip.toggled.connect(self._on_strip_toggled)
        self.all_button = QPushButton("All heads")
        self.all_button.clicked.connect(self._on_all_button_clicked)
        self.hint = QLabel("Left: the token that attends (query); right: the token attended to "
                           "(key). Hover a token to see only its lines and weights, click to "
                           "keep it; click the coloured squares to turn heads on and off.")
        self.hint.setWordWrap(True)
        self.hint.setStyleSheet("color: #555")
        self.scroll = QScrollArea()
        self.scroll.setWidgetResizable(True)
        self.scroll.setWidget(self.canvas)
        top = QHBoxLayout()
        top.addWidget(QLabel("Heads:"), 0, Qt.AlignmentFlag.AlignTop)
        top.addWidget(self.strip, 1)
        top.addWidget(self.all_button, 0, Qt.AlignmentFlag.AlignTop)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.hint)
        layout.addWidget(self.scroll, 1)

    def set_data(self, matrices: np.ndarray, queries: Sequence[Token], keys: Sequence[Token],
                 current_head: int, table: LinkTable | None = None) -> None:
        """Show (heads, Tq, Tk) maps of one layer, and their LinkTable when made (else
        `set_table` later); follow the Head selector (MEAN: the mean) when it moved."""
        self.matrices = np.asarray(matrices)
        n = self.matrices.shape[0]
        if self.strip.n_heads != n:
            self.strip.set_heads(n)
            self._followed = None
        self.canvas.set_data(self.matrices, queries, keys, table)
        if current_head != self._followed:
            self._followed = current_head
            self.select_heads([current_head])

    def set_table(self, table: LinkTable | None) -> None:
        self.canvas.set_table(table)

    def follow(self, head: int) -> None:
        """Note that the Head selector now shows `head` (the user picked it here)."""
        self._followed = head

    def select_heads(self, heads) -> None:
        """Turn exactly these heads on (MEAN for the mean)."""
        self.heads = set(heads)
        self.strip.set_selected(self.heads)
        self.canvas.set_heads(self.heads)

    def checked_heads(self) -> set[int]:
        """The heads whose squares are on (what the user sees)."""
        return set(self.strip.selected)

    def _on_all_button_clicked(self) -> None:
        self.select_heads(range(self.strip.n_heads))
        self.headsChanged.emit()

    def _on_strip_toggled(self, head: int, on: bool) -> None:
        (self.heads.add if on else self.heads.discard)(head)
        self.canvas.set_heads(self.heads)
        self.headsChanged.emit()
