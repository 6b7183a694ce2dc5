"""Chat fine-tuning: one example exactly as the model sees it after the chat template.

Shown in the Setup page's data preview when the task is chat-sft: the detected format, the
template used, how many examples max_length truncates, and one example with the tokens that
carry the loss highlighted (core: chat_data.preview_chat). Computed in a worker (the tokenizer
loads slowly); a bad row is reported inline by its number.
"""

from __future__ import annotations

import html
import threading
from typing import Any

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QColor, QTextCharFormat, QTextCursor
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QSizePolicy,
    QSpinBox,
    QTextEdit,
    QVBoxLayout,
    QWidget,
)

LOSS_BACKGROUND = "#c8f0c0"  # the assistant's tokens: the ones trained on
PROMPT_COLOR = "#777777"
CUT_COLOR = "#b00020"
LINE_SEPARATOR = "\u2028"  # a line break inside one block, so each piece keeps its format
ROW_DEBOUNCE_MS = 200
_TOKENIZER_LOCK = threading.Lock()  # preview_chat sets the template on the shared tokenizer


def _load_chat_preview(spec: Any, row: int, tokenizers: dict) -> Any:
    """Worker: core's preview of data row `row` with the model's tokenizer (cached per model)."""
    from workbench.core.model.loading import load_tokenizer
    from workbench.core.training.chat_data import preview_chat

    with _TOKENIZER_LOCK:
        tokenizer = tokenizers.get(spec.model_path)
        if tokenizer is None:
            tokenizer = load_tokenizer(spec.model_path)  # WorkbenchError: shown inline
            tokenizers[spec.model_path] = tokenizer
        own = tokenizer.chat_template
        try:
            return preview_chat(spec, tokenizer, row)
        finally:
            tokenizer.chat_template = own  # the next preview resolves "the model's own" again


def _formats() -> dict[str, QTextCharFormat]:
    out = {}
    for kind in ("prompt", "loss", "cut"):
        fmt = QTextCharFormat()
        if kind == "loss":
            fmt.setBackground(QColor(LOSS_BACKGROUND))
            fmt.setForeground(QColor("#000000"))
        elif kind == "prompt":
            fmt.setForeground(QColor(PROMPT_COLOR))
        else:
            fmt.setForeground(QColor(CUT_COLOR))
            fmt.setFontStrikeOut(True)
        out[kind] = fmt
    return out


class ChatPreviewPanel(QWidget):
    """Format, template, truncation count and one rendered example of a chat-sft spec."""

    loaded = Signal(object)  # core ChatPreview
    failed = Signal(str)

    def __init__(self, runner: Any, tokenizers: dict | None = None,
                 parent: QWidget | None = None):
        super().__init__(parent)
        from workbench.qt.common.tasks import TaskGroup

        self.tasks = TaskGroup(runner)
        self._tokenizers = tokenizers if tokenizers is not None else {}
        self.spec: Any = None
        self.preview: Any = None
        self.error = ""
        self._key: Any = None
        self._formats = _formats()

        self.summary = QLabel("Choose a chat data file to preview one example.")
        self.summary.setWordWrap(True)
        self.summary.setTextFormat(Qt.TextFormat.RichText)
        # any text length wraps instead of widening the page
        self.summary.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.row_spin = QSpinBox()
        self.row_spin.setRange(1, 1)
        self.row_spin.setPrefix("row ")
        self.row_spin.setToolTip("The data row (1 = the first) to show")
        self.legend = QLabel(
            f"<span style='background:{LOSS_BACKGROUND}'>&nbsp;trained on&nbsp;</span> "
            f"<span style='color:{PROMPT_COLOR}'>no loss</span> "
            f"<span style='color:{CUT_COLOR};text-decoration:line-through'>cut off</span>")
        self.legend.setToolTip("Green: the assistant's tokens, the only ones the loss is "
                               "computed on. Grey: the prompt and template tokens the model "
                               "reads but is not trained to write. Red, struck: tokens past "
                               "max_length, dropped before training.")
        self.legend.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.text = QTextEdit()
        self.text.setReadOnly(True)
        self.text.setLineWrapMode(QTextEdit.LineWrapMode.WidgetWidth)
        self.text.setMinimumWidth(120)
        self.text.setPlaceholderText("The example, after the chat template, appears here.")
        top = QHBoxLayout()
        top.addWidget(self.row_spin)
        top.addWidget(self.legend, 1)
        col = QVBoxLayout(self)
        col.setContentsMargins(0, 0, 0, 0)
        col.addWidget(self.summary)
        col.addLayout(top)
        col.addWidget(self.text, 1)

        self._row_debounce = QTimer(self)
        self._row_debounce.setSingleShot(True)
        self._row_debounce.setInterval(ROW_DEBOUNCE_MS)
        self._row_debounce.timeout.connect(self._on_row_debounce_timeout)
        self.row_spin.valueChanged.connect(lambda _v: self._row_debounce.start())

    # -- triggers ----------------------------------------------------------------------------------
    def show_spec(self, spec: Any) -> None:
        """Preview `spec`'s data (again only when what the preview reads changed)."""
        key = (spec.train_file, spec.model_path, spec.chat_template, spec.max_length)
        if key == self._key:
            return
        self._key, self.spec = key, spec
        self._start()

    def _on_row_debounce_timeout(self) -> None:
        if self.spec is not None and (self.preview is None
                                      or self.row_spin.value() != self.preview.row):
            self._start()

    def _start(self) -> None:
        self.summary.setText("<span style='color:#666'>Rendering the example...</span>")
        self.tasks.cancel_all()  # only the newest answer is shown
        self.tasks.start(_load_chat_preview, self.spec, self.row_spin.value(), self._tokenizers,
                         on_success=self._on_loaded, on_error=self._on_error)

    # -- results -----------------------------------------------------------------------------------
    def _on_error(self, message: str, _details: str) -> None:
        self.preview, self.error = None, message
        text = html.escape(message, quote=False)
        self.summary.setText(f"<span style='color:{CUT_COLOR}'>{text}</span>")
        self.text.clear()
        self.failed.emit(message)

    def _on_loaded(self, preview: Any) -> None:
        self.preview, self.error = preview, ""
        self.row_spin.blockSignals(True)
        self.row_spin.setRange(1, max(1, preview.num_rows))
        self.row_spin.setValue(preview.row)
        self.row_spin.blockSignals(False)
        self.row_spin.setToolTip(f"The data row to show (1 to {preview.num_rows:,})")
        max_length = self.spec.max_length
        cut = (f"<span style='color:{CUT_COLOR}'><b>{preview.num_truncated:,}</b> longer than "
               f"max_length {max_length} and will be truncated</span>" if preview.num_truncated
               else f"none longer than max_length {max_length}")
        template = html.escape(preview.template_name, quote=False)
        self.summary.setText(
            f"<b>{html.escape(preview.fmt)}</b> format, rendered with {template}<br>"
            f"<b>{preview.num_rows:,} examples</b>, "
            f"{cut}<br>This example: {preview.num_tokens:,} tokens, "
            f"{preview.num_loss_tokens:,} trained on"
            + (f" <span style='color:{CUT_COLOR}'>(its answer lies past max_length: skipped in "
               f"training)</span>" if not preview.num_loss_tokens else ""))
        self.text.clear()
        cursor = QTextCursor(self.text.document())
        for piece, kind in preview.segments:
            cursor.insertText(piece.replace("\n", LINE_SEPARATOR), self._formats[kind])
        self.text.moveCursor(QTextCursor.MoveOperation.Start)
        self.loaded.emit(preview)

    def shown_text(self, kind: str) -> str:
        """The text now shown in the format of `kind` (prompt, loss or cut), in order."""
        want = self._formats[kind]
        out = []
        block = self.text.document().begin()
        while block.isValid():
            it = block.begin()
            while not it.atEnd():
                fragment = it.fragment()
                fmt = fragment.charFormat()
                if (fmt.background() == want.background()
                        and fmt.foreground() == want.foreground()
                        and fmt.fontStrikeOut() == want.fontStrikeOut()):
                    out.append(fragment.text())
                it += 1
            block = block.next()
        return "".join(out).replace(LINE_SEPARATOR, "\n")

    def shutdown(self) -> None:
        self._row_debounce.stop()
        self.tasks.cancel_all()
