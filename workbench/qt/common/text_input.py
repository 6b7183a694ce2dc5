"""Plain-text inputs as tall as their text, so a short prompt leaves its room to the view below."""

from __future__ import annotations

import math

from PySide6.QtWidgets import QPlainTextEdit, QSizePolicy


class GrowingTextEdit(QPlainTextEdit):
    """A plain-text box showing `min_lines` to `max_lines` lines of its text (wrapped lines
    count), scrolling beyond: a one-line sentence takes one line of the tab, a pasted paragraph
    shows several. It grows only with what the user types or pastes."""

    def __init__(self, text: str = "", parent=None, *, min_lines: int = 1, max_lines: int = 4):
        super().__init__(text, parent)
        self.min_lines, self.max_lines = min_lines, max_lines
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.document().documentLayout().documentSizeChanged.connect(self._fit)
        self._fit()

    def lines_shown(self) -> int:
        """How many lines of text the box is tall enough for."""
        # QPlainTextDocumentLayout measures the document in lines, not pixels
        lines = math.ceil(self.document().documentLayout().documentSize().height())
        return min(max(lines, self.min_lines), self.max_lines)

    def height_for(self, lines: int) -> int:
        """The box's height showing this many lines."""
        margins = self.contentsMargins()
        return math.ceil(lines * self.fontMetrics().lineSpacing()
                         + 2 * self.document().documentMargin()
                         + margins.top() + margins.bottom() + 2 * self.frameWidth())

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        # narrower, the text wraps into more lines: Qt relayouts it without documentSizeChanged
        if event.size().width() != event.oldSize().width():
            self._fit()

    def _fit(self, *_) -> None:
        height = self.height_for(self.lines_shown())
        if height != self.height() or self.minimumHeight() != height:
            self.setFixedHeight(height)
