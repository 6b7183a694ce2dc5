"""The "try it" box of a question-answering run: a question, a context, and the answer
highlighted in the context with its score. The answer comes from core (qa_answers) in a worker."""

from __future__ import annotations

import html
from typing import Any

from PySide6.QtGui import QColor, QTextCharFormat, QTextCursor
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSizePolicy,
    QTextEdit,
    QVBoxLayout,
    QWidget,
)

from workbench.qt.common.dialogs import show_error

HIGHLIGHT = "#ffe082"  # amber: readable under black text in light and dark palettes


def _answer(run_dir: str, question: str, context: str) -> Any:
    """Worker: the run's model answers `question` from `context` (core.training.qa_answers)."""
    from workbench.core.training.qa_answers import answer_question

    return answer_question(run_dir, question, context)


def _utf16(text: str, index: int) -> int:
    """Qt's position of Python character `index` (Qt counts UTF-16 units: emoji are two)."""
    return len(text[:index].encode("utf-16-le")) // 2


class QATryBox(QWidget):
    """Question line, context editor, Answer button; the answer span is highlighted."""

    def __init__(self, tasks: Any, parent: QWidget | None = None):
        super().__init__(parent)
        self.tasks = tasks  # the summary's TaskGroup: runs the model off the GUI thread
        self.run_dir: str | None = None
        self.answer: Any = None
        self.question = QLineEdit()
        self.question.setPlaceholderText("Question, e.g. Who first lit the lamp?")
        self.question.returnPressed.connect(self._on_answer_button_clicked)
        self.answer_button = QPushButton("Answer")
        self.answer_button.clicked.connect(self._on_answer_button_clicked)
        self.context = QTextEdit()
        self.context.setAcceptRichText(False)
        self.context.setPlaceholderText("Paste the passage (context) that holds the answer")
        self.context.setMaximumHeight(140)
        self.context.textChanged.connect(self._on_context_textChanged)
        self.result = QLabel()
        self.result.setWordWrap(True)
        # a long answer wraps instead of widening the window
        self.result.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        row = QHBoxLayout()
        row.addWidget(self.question, 1)
        row.addWidget(self.answer_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(row)
        layout.addWidget(self.context)
        layout.addWidget(self.result)
        self.set_run(None)

    def set_run(self, run_dir: str | None) -> None:
        """Answer with the final model of `run_dir` (None: disabled)."""
        self.run_dir = run_dir
        for w in (self.question, self.context, self.answer_button):
            w.setEnabled(run_dir is not None)

    def _on_answer_button_clicked(self) -> None:
        question, context = self.question.text().strip(), self.context.toPlainText()
        if self.run_dir is None or not question or not context.strip():
            self.result.setText("Type a question and the passage that holds its answer.")
            return
        self.answer_button.setEnabled(False)
        self.result.setText("Running the trained model...")
        task = self.tasks.start(_answer, self.run_dir, question, context,
                                on_success=self._on_answered, on_error=self._on_failed)
        task.finished.connect(lambda: self.answer_button.setEnabled(self.run_dir is not None))

    def _on_answered(self, answer: Any) -> None:
        self.answer = answer
        if not answer.text:
            self.result.setText("No answer span fits in the context.")
            self.context.setExtraSelections([])
            return
        self.result.setText(f"Answer: <b>{html.escape(answer.text)}</b> &nbsp; "
                            f"(characters {answer.start}-{answer.end}, score {answer.score:.1%})")
        selection = QTextEdit.ExtraSelection()
        fmt = QTextCharFormat()
        fmt.setBackground(QColor(HIGHLIGHT))
        fmt.setForeground(QColor("black"))
        selection.format = fmt
        text = self.context.toPlainText()
        cursor = QTextCursor(self.context.document())
        cursor.setPosition(_utf16(text, answer.start))
        cursor.setPosition(_utf16(text, answer.end), QTextCursor.MoveMode.KeepAnchor)
        selection.cursor = cursor
        self.context.setExtraSelections([selection])
        self.context.setTextCursor(QTextCursor(cursor.block()))  # scroll the span into view
        self.context.ensureCursorVisible()

    def _on_failed(self, message: str, details: str) -> None:
        self.answer = None
        self.result.setText(f"Could not run the model: {html.escape(message)}")
        if details:
            show_error(self, "Try it failed", message, details)

    def _on_context_textChanged(self) -> None:
        # an edited context no longer holds the old answer at those characters
        if self.context.extraSelections():
            self.context.setExtraSelections([])
