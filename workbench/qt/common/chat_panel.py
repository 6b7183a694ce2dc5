"""A multi-turn chat with one model, or the same prompt to two side by side (base and
fine-tuned): transcript, input, Send (Ctrl+Enter) / Stop, temperature, top-p, max new tokens.

Each reply runs in a worker (`backend.reply` of core.chat). Text pieces land in a locked
buffer that a 30 Hz timer drains into the transcript: never a signal per token, and the GUI
thread only appends text it already has.
"""

from __future__ import annotations

import html
import threading
from typing import Any

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QKeySequence, QShortcut, QTextCursor
from PySide6.QtWidgets import (
    QDoubleSpinBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSpinBox,
    QTextEdit,
    QVBoxLayout,
    QWidget,
)

from workbench.core.chat.settings import MAX_NEW_TOKENS, ChatSettings
from workbench.qt.common.splitter_memory import RememberedSplitter
from workbench.qt.common.text_input import GrowingTextEdit

DRAIN_MS = 33  # transcript updates at most ~30 per second


class StreamBuffer:
    """Text pieces from a worker thread, taken in one piece by the GUI thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._parts: list[str] = []

    def append(self, text: str) -> None:
        with self._lock:
            self._parts.append(text)

    def take(self) -> str:
        with self._lock:
            text = "".join(self._parts)
            self._parts.clear()
        return text


def _reply(backend: Any, messages: list[dict], settings: ChatSettings, buffer: StreamBuffer,
           stop: threading.Event) -> Any:
    """Worker: one reply of `backend`, streamed into `buffer` until done or `stop` is set."""
    return backend.reply(messages, settings, buffer.append, stop)


class ChatColumn(QWidget):
    """One backend's transcript and conversation history."""

    def __init__(self, backend: Any, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.backend = backend
        self.history: list[dict[str, str]] = []
        self.buffer = StreamBuffer()
        self.stop_event = threading.Event()
        self.task: Any = None
        self.updates = 0  # transcript appends of streamed text (for tests and figures)
        self.title = QLabel(f"<b>{html.escape(backend.title)}</b>")
        self.title.setWordWrap(True)
        self.transcript = QTextEdit()
        self.transcript.setReadOnly(True)
        self.transcript.setMinimumWidth(120)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.title)
        layout.addWidget(self.transcript, 1)

    @property
    def busy(self) -> bool:
        return self.task is not None

    def _append(self, text: str, style: str = "") -> None:
        cursor = self.transcript.textCursor()
        cursor.movePosition(QTextCursor.MoveOperation.End)
        if style:
            cursor.insertHtml(style)
        else:
            cursor.insertText(text)
        self.transcript.setTextCursor(cursor)
        self.transcript.ensureCursorVisible()

    def add_turn(self, who: str, text: str = "") -> None:
        colour = "#1565c0" if who == "You" else "#2e7d32"
        lead = "<br>" if not self.transcript.document().isEmpty() else ""
        self._append("", f"{lead}<b style='color:{colour}'>{html.escape(who)}</b><br>")
        if text:
            self._append(text)

    def add_note(self, text: str, colour: str = "#777") -> None:
        self._append("", f"<br><i style='color:{colour}'>{html.escape(text)}</i>")

    def drain(self) -> None:
        text = self.buffer.take()
        if text:
            self.updates += 1
            self._append(text)

    def clear(self) -> None:
        self.history.clear()
        self.transcript.clear()


class ChatPanel(QWidget):
    """Chat with one or two backends (core.chat LocalChat / ServerChat) at once."""

    reply_finished = Signal()  # every column's reply has ended (done, stopped or failed)

    def __init__(self, runner: Any, backends: list[Any] | None = None,
                 parent: QWidget | None = None,
                 empty_text: str = "No model to chat with yet.") -> None:
        """`empty_text`: what the transcript's place says while there is no backend."""
        super().__init__(parent)
        from workbench.qt.common.tasks import TaskGroup

        self.tasks = TaskGroup(runner)
        self.columns: list[ChatColumn] = []
        self.splitter = RememberedSplitter()
        self.splitter.setChildrenCollapsible(False)
        self.empty = QLabel(empty_text)  # an empty splitter left a blank grey gap
        self.empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty.setWordWrap(True)
        self.empty.setEnabled(False)  # drawn grey, as a placeholder
        self.temperature = QDoubleSpinBox()
        self.temperature.setRange(0.0, 2.0)
        self.temperature.setSingleStep(0.1)
        self.temperature.setValue(0.7)
        self.temperature.setToolTip("0 = greedy (always the most likely token)")
        self.top_p = QDoubleSpinBox()
        self.top_p.setRange(0.05, 1.0)
        self.top_p.setSingleStep(0.05)
        self.top_p.setValue(0.9)
        self.max_new_tokens = QSpinBox()
        self.max_new_tokens.setRange(1, MAX_NEW_TOKENS)
        self.max_new_tokens.setValue(128)
        self.clear_button = QPushButton("Clear")
        self.clear_button.clicked.connect(self.clear)
        self.input = GrowingTextEdit(min_lines=2, max_lines=8)
        self.input.setPlaceholderText("Type a message; Ctrl+Enter sends")
        self.send_button = QPushButton("Send")
        self.send_button.setToolTip("Ctrl+Enter")
        self.send_button.clicked.connect(self.send)
        self.stop_button = QPushButton("Stop")
        self.stop_button.setEnabled(False)
        self.stop_button.clicked.connect(self.stop)
        for keys in ("Ctrl+Return", "Ctrl+Enter"):
            shortcut = QShortcut(QKeySequence(keys), self.input)
            shortcut.setContext(Qt.ShortcutContext.WidgetShortcut)  # this panel's input only
            shortcut.activated.connect(self.send)
        settings = QHBoxLayout()
        for label, box in (("Temperature", self.temperature), ("Top-p", self.top_p),
                           ("Max new tokens", self.max_new_tokens)):
            settings.addWidget(QLabel(label))
            settings.addWidget(box)
        settings.addStretch()
        settings.addWidget(self.clear_button)
        buttons = QVBoxLayout()
        buttons.addWidget(self.send_button)
        buttons.addWidget(self.stop_button)
        ask = QHBoxLayout()
        ask.addWidget(self.input, 1)
        ask.addLayout(buttons)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.splitter, 1)
        layout.addWidget(self.empty, 1)
        layout.addLayout(settings)
        layout.addLayout(ask)
        self.timer = QTimer(self)
        self.timer.setInterval(DRAIN_MS)
        self.timer.timeout.connect(self._on_timer_timeout)
        self.set_backends(backends or [])

    # -- backends ----------------------------------------------------------------------------
    def set_backends(self, backends: list[Any]) -> None:
        """Chat with these backends from now on (one column each); the old chats end."""
        self.stop()
        for column in self.columns:
            if column.task is not None:
                column.task.cancel()  # its callbacks no longer reach this panel
            column.setParent(None)
            column.deleteLater()
        self.columns = [ChatColumn(b) for b in backends]
        for column in self.columns:
            self.splitter.addWidget(column)
        self.splitter.setVisible(bool(self.columns))
        self.empty.setVisible(not self.columns)
        self._update_buttons()

    @property
    def busy(self) -> bool:
        return any(c.busy for c in self.columns)

    def _update_buttons(self) -> None:
        busy = self.busy
        self.send_button.setEnabled(bool(self.columns) and not busy)
        self.stop_button.setEnabled(busy)
        self.clear_button.setEnabled(not busy)

    # -- a turn ------------------------------------------------------------------------------
    def send(self, text: str | None = None) -> None:
        """Send the input box's text (or `text`) to every backend."""
        text = (self.input.toPlainText() if not isinstance(text, str) else text).strip()
        if not text or self.busy or not self.columns:
            return
        settings = ChatSettings(self.temperature.value(), self.top_p.value(),
                                self.max_new_tokens.value())
        self.input.clear()
        for column in self.columns:
            column.add_turn("You", text)
            column.history.append({"role": "user", "content": text})
            column.add_turn("Assistant")  # which model: the column's title says
            column.stop_event = threading.Event()
            column.buffer.take()
            column.task = self.tasks.start(
                _reply, column.backend, list(column.history), settings, column.buffer,
                column.stop_event,
                on_success=lambda reply, c=column: self._on_reply_succeeded(c, reply),
                on_error=lambda message, _details, c=column: self._on_reply_failed(c, message))
            column.task.finished.connect(lambda c=column: self._on_task_finished(c))
        self.timer.start()
        self._update_buttons()

    def stop(self) -> None:
        """Stop every reply in progress (generation ends at the next token)."""
        for column in self.columns:
            if column.busy:
                column.stop_event.set()
                column.backend.abort()
        self.stop_button.setEnabled(False)

    def clear(self) -> None:
        if not self.busy:
            for column in self.columns:
                column.clear()

    def _on_timer_timeout(self) -> None:
        for column in self.columns:
            column.drain()

    def _on_reply_succeeded(self, column: ChatColumn, reply: Any) -> None:
        column.drain()
        column.history.append({"role": "assistant", "content": reply.text})
        notes = list(reply.notes)
        if reply.stopped:
            notes.append(f"Stopped after {reply.tokens} tokens." if reply.tokens
                         else "Stopped.")
        elif reply.finish_reason == "length":
            notes.append("Reached max new tokens.")
        for note in notes:
            column.add_note(note)

    def _on_reply_failed(self, column: ChatColumn, message: str) -> None:
        column.drain()
        if column.history and column.history[-1]["role"] == "user":
            column.history.pop()  # unanswered: the next message must not follow a user turn
        column.add_note(f"Error: {message}", "#b00020")

    def _on_task_finished(self, column: ChatColumn) -> None:
        if column not in self.columns:
            return  # a column of replaced backends
        column.drain()
        column.task = None
        if not self.busy:
            self.timer.stop()
            self._update_buttons()
            self.reply_finished.emit()
