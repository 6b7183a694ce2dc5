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

ACCENT = QColor(255, 140, 0)  # weight colour (orange, as in BertViz)
SELECTED = QColor(30, 110, 220)
PAD_X, PAD_Y, GAP = 5, 3, 4


class TokenStrip(QWidget):
    """Tokens laid out like wrapped text; each has a background intensity; click selects one."""

    tokenClicked = Signal(int)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.tokens: tuple[Token, ...] = ()
        self.weights: np.ndarray | None = None  # (T,) in [0, 1] after scaling
        self.raw: np.ndarray | None = None
        self.selected: int | None = None
        self._rects: list[QRect] = []
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
        fm = QFontMetrics(self.font())
        x, y, h = 0, 0, fm.height() + 2 * PAD_Y
        self._rects = []
        for token in self.tokens:
            w = fm.horizontalAdvance(token.text) + 2 * PAD_X
            if x and x + w > width:
                x, y = 0, y + h + GAP
            self._rects.append(QRect(x, y, w, h))
            x += w + GAP
        return y + h if self.tokens else h

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
        for i, (token, rect) in enumerate(zip(self.tokens, self._rects, strict=False)):
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


class TokenView(QWidget):
    """Query tokens above, key tokens below; click one to colour the other side by attention."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.matrices: np.ndarray | None = None  # (heads, Tq, Tk) of the current layer
        self.heads: set[int] = set()
        self.query_strip, self.key_strip = TokenStrip(), TokenStrip()
        self.query_strip.tokenClicked.connect(self._on_query_strip_tokenClicked)
        self.key_strip.tokenClicked.connect(self._on_key_strip_tokenClicked)
        self.head_bar = QHBoxLayout()
        self.head_buttons = QButtonGroup(self)
        self.head_buttons.setExclusive(False)
        self.head_buttons.idToggled.connect(self._on_head_buttons_idToggled)
        self.all_button = QPushButton("All heads")
        self.all_button.clicked.connect(lambda: self.select_heads(range(len(self._head_ids()))))
        self.hint = QLabel("Click a token: the other side is coloured by how much it attends "
                           "to it (top) or is attended by it (bottom).")
        self.hint.setWordWrap(True)
        inner = QWidget()
        col = QVBoxLayout(inner)
        col.addWidget(QLabel("<b>Query tokens</b> (rows: the token that attends)"))
        col.addWidget(self.query_strip)
        col.addSpacing(10)
        col.addWidget(QLabel("<b>Key tokens</b> (columns: the token attended to)"))
        col.addWidget(self.key_strip)
        col.addStretch()
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(inner)
        top = QHBoxLayout()
        top.addWidget(QLabel("Heads:"))
        top.addLayout(self.head_bar)
        top.addWidget(self.all_button)
        top.addStretch()
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.hint)
        layout.addWidget(scroll, 1)
        self._source: tuple[str, int] | None = None  # ("query" | "key", token index)

    def _head_ids(self) -> list[int]:
        return [self.head_buttons.id(b) for b in self.head_buttons.buttons()]

    def set_data(self, matrices: np.ndarray, queries: Sequence[Token], keys: Sequence[Token],
                 current_head: int) -> None:
        """Show (heads, Tq, Tk) maps of one layer; keep the clicked token if it still exists."""
        same_tokens = (tuple(queries) == self.query_strip.tokens
                       and tuple(keys) == self.key_strip.tokens)
        self.matrices = np.asarray(matrices)
        if not same_tokens:
            self.query_strip.set_tokens(queries)
            self.key_strip.set_tokens(keys)
            self._source = None
        n = self.matrices.shape[0]
        if len(self._head_ids()) != n:
            for b in self.head_buttons.buttons():
                self.head_buttons.removeButton(b)
                b.deleteLater()
            for h in range(n):
                b = QToolButton()
                b.setText(f"H{h}")
                b.setCheckable(True)
                self.head_buttons.addButton(b, h)
                self.head_bar.addWidget(b)
            self.heads = set()
        if not self.heads:
            self.select_heads([current_head])
        self._recolour()

    def select_heads(self, heads) -> None:
        """Check exactly these heads."""
        wanted = set(heads)
        self.head_buttons.blockSignals(True)
        for b in self.head_buttons.buttons():
            b.setChecked(self.head_buttons.id(b) in wanted)
        self.head_buttons.blockSignals(False)
        self.heads = wanted
        self._recolour()

    def click_query(self, index: int) -> None:
        self._source = ("query", index)
        self._recolour()

    def click_key(self, index: int) -> None:
        self._source = ("key", index)
        self._recolour()

    def _on_query_strip_tokenClicked(self, index: int) -> None:
        self.click_query(index)

    def _on_key_strip_tokenClicked(self, index: int) -> None:
        self.click_key(index)

    def _on_head_buttons_idToggled(self, head: int, checked: bool) -> None:
        (self.heads.add if checked else self.heads.discard)(head)
        self._recolour()

    def _recolour(self) -> None:
        self.query_strip.selected = self.key_strip.selected = None
        self.query_strip.set_weights(None)
        self.key_strip.set_weights(None)
        if self.matrices is None or self._source is None or not self.heads:
            return
        mean = self.matrices[sorted(self.heads)].mean(axis=0)  # (Tq, Tk)
        side, index = self._source
        if side == "query" and index < mean.shape[0]:
            self.query_strip.selected = index
            self.key_strip.set_weights(mean[index])  # what this token attends to
        elif side == "key" and index < mean.shape[1]:
            self.key_strip.selected = index
            self.query_strip.set_weights(mean[:, index])  # who attends to this token
