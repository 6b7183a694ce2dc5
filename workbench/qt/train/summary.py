"""After a run: the summary (eval loss, perplexity, accuracy, F1), a "try it" box, and a look at
the attention of the live model while a run is paused."""

from __future__ import annotations

import html
import importlib.util
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPlainTextEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from workbench.core.training.perplexity import with_perplexity
from workbench.core.training.tasks import task_info
from workbench.qt.common.dialogs import show_error
from workbench.qt.common.requests import NO_WINDOW, requests_for
from workbench.qt.train.qa_try import QATryBox

EVAL_METRICS = ("eval_loss", "perplexity", "eval_accuracy", "eval_exact_match", "eval_f1")
TRAIN_METRICS = ("loss", "learning_rate", "grad_norm", "samples_per_s", "tokens_per_s",
                 "memory_mb")


def _try(run_dir: str, text: str) -> Any:
    """Worker: run the run's trained model on `text` (classify, fill-mask or generate)."""
    from workbench.core.training.evaluate import try_model

    return try_model(run_dir, text)


def _evaluate_base(spec: Any) -> dict[str, float]:
    """Worker: eval metrics of the base model on the run's eval data (for before/after)."""
    from workbench.core.training.evaluate import evaluate_model

    return evaluate_model(spec)


def format_try_result(result: Any) -> str:
    """Readable text for whatever try_model returned (predictions, fills or generated text)."""
    if hasattr(result, "scores") and hasattr(result, "text"):
        lines = [str(result.text)]
        lines += [f"  {label}: {p:.1%}" for label, p in result.scores]
        return "\n".join(lines)
    if hasattr(result, "to_json"):
        result = result.to_json()
    elif hasattr(result, "__dataclass_fields__"):
        import dataclasses

        result = dataclasses.asdict(result)
    if isinstance(result, str):
        return result
    if isinstance(result, dict):
        lines = []
        for k, v in result.items():
            if isinstance(v, list) and v and isinstance(v[0], dict):
                lines.append(f"{k}:")
                lines += ["  " + ", ".join(f"{a}={_fmt(b)}" for a, b in item.items())
                          for item in v]
            else:
                lines.append(f"{k}: {_fmt(v)}")
        return "\n".join(lines)
    if isinstance(result, list):
        return "\n".join(format_try_result(r) for r in result)
    return str(result)


def _fmt(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


class RunSummaryView(QWidget):
    """How the last run ended, its evaluation metrics, and a box to try the trained model."""

    def __init__(self, runner: Any, parent: QWidget | None = None):
        super().__init__(parent)
        from workbench.qt.common.tasks import TaskGroup

        self.runner = runner
        self.tasks = TaskGroup(runner)
        self.result: Any = None
        self.spec: Any = None
        self.before: dict[str, float] | None = None
        self.task_name = ""
        self.label = QLabel("No run yet. Start one from the Setup page.")
        self.label.setTextFormat(Qt.TextFormat.RichText)
        self.label.setWordWrap(True)
        self.label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.input = QLineEdit()
        self.input.setPlaceholderText("Finish a run to try its model here")
        self.input.returnPressed.connect(self._on_try_button_clicked)
        self.try_button = QPushButton("Try it")
        self.try_button.clicked.connect(self._on_try_button_clicked)
        self.output = QPlainTextEdit()
        self.output.setReadOnly(True)
        self.output.setMaximumHeight(160)
        self.last_output = ""
        self.evaluate_button = QPushButton("Evaluate the base model")
        self.evaluate_button.setToolTip("The same eval data on the model before fine-tuning "
                                        "(new heads freshly initialised), for comparison")
        self.evaluate_button.clicked.connect(self._on_evaluate_button_clicked)
        self.evaluate_button.setEnabled(False)
        self.qa_box = QATryBox(self.tasks)  # question answering: question + context instead
        self.qa_box.hide()
        # the deploy end, through the window (qt/common/requests.py: no import of that feature)
        self.test_button = QPushButton("Evaluate...")
        self.test_button.setToolTip("Open the Evaluate view on this run's final model "
                                    "(a held-out test file, worst examples, compare runs)")
        self.test_button.clicked.connect(self._on_test_button_clicked)
        self.open_button = QPushButton("Open final model")
        self.open_button.setToolTip("Open final/ as a checkpoint tab")
        self.open_button.clicked.connect(self._on_open_button_clicked)
        actions = QHBoxLayout()
        for button in (self.evaluate_button, self.test_button, self.open_button):
            actions.addWidget(button)
        actions.addStretch()
        row = QHBoxLayout()
        row.addWidget(self.input, 1)
        row.addWidget(self.try_button)
        layout = QVBoxLayout(self)
        layout.addWidget(self.label)
        layout.addLayout(actions)
        self.try_label = QLabel("<b>Try it</b>")
        layout.addWidget(self.try_label)
        layout.addLayout(row)
        layout.addWidget(self.output)
        layout.addWidget(self.qa_box)
        from workbench.qt.common.chat_panel import ChatPanel

        self.chat = ChatPanel(runner)  # causal LMs: base vs fine-tuned, instead of the box
        self.chat.hide()
        layout.addWidget(self.chat, 1)
        layout.addStretch()
        self._set_try_enabled(False)
        self._set_final_enabled(False)

    def show_result(self, result: Any, spec: Any) -> None:
        """Show a RunResult of a run of `spec`."""
        same_data = self.spec is not None and (self.spec.model_path, self.spec.train_file,
                                               self.spec.eval_file) == (
            spec.model_path, spec.train_file, spec.eval_file)
        if not same_data:
            self.before = None
        self.result, self.spec, self.task_name = result, spec, spec.task
        self.label.setText(summary_html(result, spec, self.before))
        self.evaluate_button.setEnabled(True)
        ready = bool(result.final_model_dir)
        self._set_try_enabled(ready)
        self._set_final_enabled(ready)
        self.input.setPlaceholderText(task_info(spec.task).try_hint if ready
                                      else "This run saved no final model to try")
        qa = spec.task == "question-answering"
        chats = ready and task_info(spec.task).chats
        for w in (self.input, self.try_button, self.output):
            w.setVisible(not (qa or chats))
        self.try_label.setVisible(not chats)
        self.qa_box.setVisible(qa)
        self.qa_box.set_run(result.run_dir if qa and ready else None)
        self.chat.setVisible(chats)
        if chats:
            from workbench.qt.train.summary_chat import chat_backends

            self.chat.set_backends(chat_backends(result, spec))

    def _on_evaluate_button_clicked(self) -> None:
        self.evaluate_button.setEnabled(False)
        self.evaluate_button.setText("Evaluating the base model...")
        task = self.tasks.start(_evaluate_base, self.spec, on_success=self._on_base_evaluated,
                                on_error=lambda m, d: show_error(self, "Evaluation failed", m, d))
        task.finished.connect(self._on_evaluate_task_finished)

    def _on_evaluate_task_finished(self) -> None:
        self.evaluate_button.setEnabled(True)
        self.evaluate_button.setText("Evaluate the base model")

    def _on_base_evaluated(self, metrics: dict[str, float]) -> None:
        self.before = with_perplexity(dict(metrics), self.spec.task)
        self.label.setText(summary_html(self.result, self.spec, self.before))

    def _set_final_enabled(self, on: bool) -> None:
        for button in (self.test_button, self.open_button):
            button.setEnabled(on)

    def _on_test_button_clicked(self) -> None:
        requests = requests_for(self)
        if requests is None or self.result is None:
            QMessageBox.information(self, "Evaluate", NO_WINDOW)
            return
        requests.evaluate.emit(str(self.result.run_dir), str(self.spec.eval_file or ""))

    def _on_open_button_clicked(self) -> None:
        requests = requests_for(self)
        if requests is None or self.result is None:
            QMessageBox.information(self, "Open final model", NO_WINDOW)
            return
        requests.openCheckpoint.emit(str(self.result.final_model_dir))

    def _set_try_enabled(self, on: bool) -> None:
        self.input.setEnabled(on)
        self.try_button.setEnabled(on)

    def _on_try_button_clicked(self) -> None:
        text = self.input.text().strip()
        if not text or self.result is None or not self.result.final_model_dir:
            return
        self.try_button.setEnabled(False)
        self.output.setPlainText("Running the trained model...")
        task = self.tasks.start(_try, self.result.run_dir, text,
                                 on_success=self._on_try_succeeded, on_error=self._on_try_failed)
        task.finished.connect(lambda: self.try_button.setEnabled(True))

    def _on_try_succeeded(self, result: Any) -> None:
        self.last_output = format_try_result(result)
        self.output.setPlainText(self.last_output)

    def _on_try_failed(self, message: str, details: str) -> None:
        self.last_output = ""
        self.output.setPlainText(f"Could not run the model: {message}")
        if details:
            show_error(self, "Try it failed", message, details)


def summary_html(result: Any, spec: Any, before: dict[str, float] | None = None) -> str:
    """The run summary: status, folders, evaluation (beside the base model's, when measured)
    and the last training log values."""
    e = html.escape
    colour = {"finished": "#2e7d32", "cancelled": "#b35900", "failed": "#b00020"}.get(
        result.status, "#333")
    metrics = with_perplexity(dict(result.metrics or {}), spec.task)
    evals = [k for k in EVAL_METRICS if k in metrics]
    head = "<tr><th align='left' style='padding-right:16px'>metric</th>" + (
        "<th align='right' style='padding-right:16px'>base model</th>" if before else "") + \
        "<th align='right'>fine-tuned</th></tr>"
    rows = "".join(
        f"<tr><td style='padding-right:16px'>{e(k)}</td>"
        + (f"<td align='right' style='padding-right:16px'>{_fmt(before[k])}</td>" if before
           and k in before else "<td></td>" if before else "")
        + f"<td align='right'><b>{_fmt(metrics[k])}</b></td></tr>" for k in evals)
    train = [k for k in TRAIN_METRICS if k in metrics]
    train_rows = " · ".join(f"{e(k)} {_fmt(metrics[k])}" for k in train)
    evaluation = (f"<h3>Evaluation</h3><table cellspacing='2'>{head}{rows}</table>" if evals
                  else "<p>No evaluation ran (no eval data).</p>")
    return (f"<h2 style='color:{colour}'>Run {e(result.status)}</h2>"
            + (f"<p>{e(result.message)}</p>" if result.message else "")
            + f"<p>{e(spec.task)} · {e(spec.method)} · {e(spec.model_path)}</p>"
            f"<p>Run folder: {e(result.run_dir)}<br>Final model: "
            f"{e(result.final_model_dir or 'none (resume from a checkpoint in the Runs page)')}"
            f"</p>{evaluation}" + (f"<p style='color:#555'>Last training log: {train_rows}</p>"
                                   if train_rows else ""))


# -- attention of the live model -------------------------------------------------------------------
PAUSE_FIRST = ("Pause the run first: the model can only be inspected while training waits at a "
               "step boundary.")


def inspect_live_attention(view: Any, session: Any, text: str | None = None) -> Any:
    """Open the Attention view (qt/attention/live.py, through the window's requests) on the
    paused run's model and run it once in a worker; the Task, or None if impossible.

    The model is the training model itself: core's compute_attention puts it in eval mode
    (eager attention) for the forward pass and restores training mode afterwards. Every run
    from the dialog is refused unless the run is still paused, and is reported to the train
    view so Resume waits for it.
    """
    if importlib.util.find_spec("workbench.core.attention.compute") is None:
        QMessageBox.information(view, "Attention", "The attention module is not installed in "
                                "this build, so the live model cannot be inspected.")
        return None
    control = session.control if session is not None else None
    if control is None or not control.is_paused or control.live_model is None:
        QMessageBox.information(view, "Attention", PAUSE_FIRST)
        return None
    if control.live_tokenizer is None:
        QMessageBox.information(view, "Attention", "The running model has no tokenizer.")
        return None
    requests = requests_for(view)
    if requests is None:
        QMessageBox.information(view, "Attention", NO_WINDOW)
        return None
    from workbench.qt.common.requests import LiveAttentionRequest

    old = getattr(view, "attention_dialog", None)
    if old is not None:
        old.close()

    def can_run() -> str | None:
        return None if control.is_paused and control.live_model is not None else PAUSE_FIRST

    def started(task: Any) -> None:
        # the train view keeps Resume disabled while a forward pass reads the model
        if hasattr(view, "_on_attention_task_finished"):
            view._attention_task = task
            task.finished.connect(view._on_attention_task_finished)
            view._sync_buttons(getattr(session, "state", "paused"))

    request = LiveAttentionRequest(view, view.tasks, control.live_model, control.live_tokenizer,
                                   can_run, started, text)
    requests.inspectLiveAttention.emit(request)
    view.attention_dialog = request.dialog
    return request.task
