"""The Fine-tune view: setup form, live curves and controls, run summary and the runs list.

Training runs in a TrainSession (a QThread fed back to the GUI in batches). Pause stops at a step
boundary and keeps the model in memory, so the attention of the live model can be inspected;
Cancel stops within a step, optionally writing a checkpoint; closing the window asks first.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QMessageBox,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from workbench.core.errors import WorkbenchError
from workbench.qt.common.dialogs import show_error
from workbench.qt.common.splitter_memory import RememberedSplitter
from workbench.qt.train.curves import RunProgress, TrainCurvesView
from workbench.qt.train.form import TrainForm
from workbench.qt.train.preflight import PreflightPanel
from workbench.qt.train.summary import RunSummaryView

CLOSE_SAVE, CLOSE_DISCARD, CLOSE_KEEP = "save", "discard", "keep"


def _detect_devices() -> list[str]:
    """cpu, each CUDA GPU and MPS when present (imports torch: run in a worker)."""
    from workbench.core.devices import device_names

    return device_names()


class TrainView(QWidget):
    """Fine-tune the tab's checkpoint: set up, launch, watch, control and review runs."""

    runFinished = Signal(object)  # RunResult
    stateChanged = Signal(str)

    def __init__(self, tab: Any, parent: QWidget | None = None):
        super().__init__(parent)
        from workbench.qt.common.tasks import TaskGroup

        self.tab, self.runner = tab, tab.runner
        self.tasks = TaskGroup(self.runner)
        self._closed = False
        self.session = None
        self._stuck_run_dir: str | None = None  # see start(): offers "Start over" on failure
        self._attention_task = None
        self.last_result: Any = None

        self.form = TrainForm()
        self.form.set_value("model_path", str(getattr(tab.info, "load_path", "") or tab.info.path))
        # the LoRA defaults come from core (it imports peft): computed in a worker
        self.form.set_module_tree(getattr(tab.info, "module_tree", None),
                                  getattr(tab.info, "model_type", None), runner=self.tasks)
        self.preflight = PreflightPanel(self.runner)
        self.form.changed.connect(self._on_form_changed)
        self.form.dataFileChanged.connect(self._on_form_dataFileChanged)
        self.preflight.columnsLoaded.connect(self.form.set_columns)

        self.curves = TrainCurvesView()
        self.progress = RunProgress()
        self._summary: RunSummaryView | None = None
        self._runs: Any = None

        self.pages = QTabWidget()
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(self.form)
        setup = RememberedSplitter(Qt.Orientation.Horizontal)
        setup.addWidget(scroll)
        setup.addWidget(self.preflight)
        setup.setSizes([620, 480])
        live = RememberedSplitter(Qt.Orientation.Vertical)
        live.addWidget(self.curves)
        live.addWidget(self.progress)
        live.setSizes([560, 200])
        self.pages.addTab(setup, "Setup")
        self.pages.addTab(live, "Training")
        # Summary and Runs are built when first shown or first used (`summary`, `runs`): 0.1 s
        # of the GUI thread that opening the tab, with Setup in front, does not need.
        self._unbuilt: dict[str, QWidget] = {}
        for title in ("Summary", "Runs"):
            self._unbuilt[title] = QWidget()
            self.pages.addTab(self._unbuilt[title], title)
        self.pages.currentChanged.connect(self._on_pages_currentChanged)

        self.demo_button = QPushButton("Load demo data")
        self.demo_button.setToolTip("Fill the form with the bundled demo dataset and settings")
        self.demo_button.clicked.connect(self.load_demo)
        self.load_button = QPushButton("Open spec...")
        self.load_button.clicked.connect(self._on_load_button_clicked)
        self.save_spec_button = QPushButton("Save spec...")
        self.save_spec_button.clicked.connect(self._on_save_spec_button_clicked)
        self.start_button = QPushButton("Start")
        self.start_button.setDefault(True)
        self.start_button.clicked.connect(self._on_start_button_clicked)
        self.pause_button = QPushButton("Pause")
        self.pause_button.clicked.connect(self._on_pause_button_clicked)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(self._on_cancel_button_clicked)
        self.save_on_cancel = QCheckBox("save checkpoint on cancel")
        self.save_on_cancel.setChecked(True)
        self.save_now_button = QPushButton("Save now")
        self.save_now_button.setToolTip("Write a resumable checkpoint at the next step")
        self.save_now_button.clicked.connect(self._on_save_now_button_clicked)
        self.attention_button = QPushButton("Inspect attention on live model")
        self.attention_button.setToolTip("While paused: attention maps of the model being trained")
        self.attention_button.clicked.connect(self._on_attention_button_clicked)
        self.state_label = QLabel("Idle")
        # A state text of any length must not reflow the bar or widen the window.
        self.state_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.state_label.setMinimumWidth(150)
        # Two rows, so the view fits a 1024-pixel window beside the browser dock.
        files = QHBoxLayout()
        for w in (self.demo_button, self.load_button, self.save_spec_button):
            files.addWidget(w)
        files.addStretch()
        files.addWidget(self.state_label, 1)
        controls = QHBoxLayout()
        for w in (self.start_button, self.pause_button, self.cancel_button,
                  self.save_on_cancel, self.save_now_button, self.attention_button):
            controls.addWidget(w)
        controls.addStretch()
        layout = QVBoxLayout(self)
        layout.addLayout(files)
        layout.addLayout(controls)
        layout.addWidget(self.pages, 1)
        self._sync_buttons("idle")
        self.tasks.start(_detect_devices, on_success=self.form.set_devices)
        self._on_form_changed()

    # -- pages built on first use ----------------------------------------------------------------
    @property
    def summary(self) -> RunSummaryView:
        """The Summary page (built now if it was not yet)."""
        if self._summary is None:
            self._summary = RunSummaryView(self.runner)
            self._put_page("Summary", self._summary)
        return self._summary

    @property
    def runs(self) -> Any:
        """The Runs page, a RunsView (built now if it was not yet)."""
        if self._runs is None:
            from workbench.qt.train.runs_view import RunsView

            self._runs = RunsView(self.runner)
            self._runs.resumeRequested.connect(self._on_runs_resumeRequested)
            self._put_page("Runs", self._runs)
        return self._runs

    def _put_page(self, title: str, page: QWidget) -> None:
        """Put the built `page` where its placeholder was, keeping the page in front."""
        placeholder = self._unbuilt.pop(title)
        index = self.pages.indexOf(placeholder)
        current = self.pages.currentIndex()
        self.pages.blockSignals(True)
        self.pages.removeTab(index)
        self.pages.insertTab(index, page, title)
        self.pages.setCurrentIndex(current)
        self.pages.blockSignals(False)
        placeholder.deleteLater()

    def _on_pages_currentChanged(self, index: int) -> None:
        title = self.pages.tabText(index)
        if self.pages.widget(index) is self._unbuilt.get(title):
            _ = self.summary if title == "Summary" else self.runs

    # -- setup -------------------------------------------------------------------------------------
    def load_demo(self, task: str | None = None) -> None:
        """Fill the form with the demo dataset and settings of `task` (default: the chosen
        task; question answering has a demo of its own, the others MiniLM classification)."""
        from workbench.core.training.spec import demo_spec

        try:
            spec = demo_spec(task=task or str(self.form.editors["task"].value()))
        except WorkbenchError as e:
            show_error(self, "Demo data unavailable", str(e))
            return
        # fine-tune the checkpoint this tab shows when it is the demo model, else the demo model
        if spec.task == "chat-sft" and self.form.editors["model_path"].value():
            # the demo chats: keep the tab's checkpoint (a causal LM), only the data is the demo's
            spec = spec.replace(model_path=str(self.form.editors["model_path"].value()))
        self.form.set_spec(spec)
        self.pages.setCurrentIndex(0)

    def _on_form_changed(self) -> None:
        self.preflight.schedule_update(self.form)
        self.form.update_launch_command()

    def _on_form_dataFileChanged(self, path: str) -> None:
        self.preflight.set_data_file(path, self.form)

    def _on_load_button_clicked(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open training spec", "", "JSON (*.json)")
        if not path:
            return
        from workbench.core.training.spec import TrainSpec

        try:
            self.form.set_spec(TrainSpec.load(path))
        except WorkbenchError as e:
            show_error(self, "Could not open the spec", str(e))

    def _on_save_spec_button_clicked(self) -> None:
        spec = self.form.spec()
        if spec is None:
            return
        path, _ = QFileDialog.getSaveFileName(self, "Save training spec", "spec.json",
                                              "JSON (*.json)")
        if path:
            try:
                spec.save(path)
            except (OSError, WorkbenchError) as e:
                show_error(self, "Could not save the spec", str(e))

    # -- run control -------------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        return self.session is not None and self.session.running

    def start(self, resume_from: str | None = None, extend_epochs: float = 0.0,
              spec: Any = None, restart: bool = False) -> bool:
        """Validate the form (or use `spec`) and start a run; False if the form is invalid.

        `restart` discards a run already in the output folder and starts over.
        """
        if self.running:
            return False
        spec = spec or self.form.spec()
        if spec is None:
            self.pages.setCurrentIndex(0)
            return False
        if not spec.output_dir and resume_from is None:
            from workbench.core.training.runs import free_run_dir

            spec = spec.replace(output_dir=str(free_run_dir(self.runs.root, spec)))
        if spec.launch.mode == "processes":
            return self._start_processes(spec, resume_from, extend_epochs)
        from workbench.core.training.checkpoints import can_start_over
        from workbench.qt.train.worker import TrainSession

        # A folder holding a run stopped before its first checkpoint refuses both a new run and
        # a resume: remember it, so the failure shown offers "Start over" (and only then: a
        # failure of this attempt's data or settings would just fail again).
        folder = resume_from or spec.output_dir
        if resume_from and not (Path(folder) / "spec.json").is_file():
            folder = str(Path(folder).parent.parent)  # a checkpoint folder was chosen
        self._stuck_run_dir = folder if not restart and can_start_over(folder) else None
        self.session = TrainSession(spec, resume_from=resume_from, extend_epochs=extend_epochs,
                                    parent=self, restart=restart)
        self.session.eventsArrived.connect(self._on_session_eventsArrived)
        self.session.finished.connect(self._on_session_finished)
        self.session.failed.connect(self._on_session_failed)
        self.session.stateChanged.connect(self._sync_buttons)
        self.curves.clear()
        if resume_from:
            from workbench.core.training.runs import load_run_metrics

            run_dir = resume_from if (Path(resume_from) / "spec.json").is_file() \
                else str(Path(resume_from).parent.parent)
            self.curves.add_events(load_run_metrics(run_dir))
        self.progress.reset()
        self.progress.log.appendPlainText(
            f"Starting: {spec.task}, {spec.method}, {Path(spec.model_path).name} -> "
            f"{spec.output_dir or '(resumed run)'}")
        self.session.start()
        self.pages.setCurrentIndex(1)
        return True

    def _start_processes(self, spec: Any, resume_from: str | None,
                         extend_epochs: float) -> bool:
        """Launch the run as processes (accelerate) and follow it in a run monitor window."""
        from workbench.core.training.process_run import ProcessRun
        from workbench.qt.train.run_monitor import open_run

        try:
            run = (ProcessRun.resume(resume_from, spec.launch, extend_epochs=extend_epochs)
                   if resume_from else ProcessRun.start(spec, spec.launch))
        except WorkbenchError as e:
            show_error(self, "Cannot launch the run", str(e))
            return False
        self.process_monitor = open_run(self.window(), run.run_dir, process_run=run)
        return True

    def _on_start_button_clicked(self) -> None:
        self.start()

    def _on_pause_button_clicked(self) -> None:
        if not self.running:
            return
        if self.session.state in ("paused", "pausing"):
            self.session.resume()
        else:
            self.session.pause()

    def _on_cancel_button_clicked(self) -> None:
        if self.running:
            self.session.cancel(save_checkpoint=self.save_on_cancel.isChecked())

    def _on_save_now_button_clicked(self) -> None:
        if self.running:
            self.session.save_now()
            self.progress.log.appendPlainText("Checkpoint requested at the next step.")

    def _on_session_eventsArrived(self, events: list) -> None:
        self.curves.add_events(events)
        self.progress.add_events(events)

    def _on_session_finished(self, result: Any) -> None:
        self.last_result = result
        if self._closed:
            return
        self.progress.log.appendPlainText(
            f"Run {result.status}: {result.message or ''} ({result.run_dir})")
        self.progress.finish(result.status)
        if self.session is not None and self.session.state == "idle":
            self.state_label.setText(self.state_text("idle"))
        self.curves.redraw()
        self.summary.show_result(result, self.session.spec)
        self.runs.refresh()
        if result.status == "failed":
            if not self._offer_start_over("Training failed", result.message):
                show_error(self, "Training failed", result.message or "The run failed.",
                           result.details)
        elif result.status == "finished":
            self.pages.setCurrentWidget(self.summary)
        self.runFinished.emit(result)

    def _on_session_failed(self, message: str, details: str) -> None:
        if self._closed:
            return
        self.progress.log.appendPlainText(f"Could not train: {message}")
        self.pages.setCurrentIndex(0 if not details else 1)
        title = "Training could not start" if not details else "Training failed"
        if not self._offer_start_over(title, message):
            show_error(self, title, message, details)

    def _offer_start_over(self, title: str, message: str) -> bool:
        """Where the failed run cannot be resumed, offer to start it over; True if handled."""
        session, run_dir = self.session, self._stuck_run_dir
        self._stuck_run_dir = None
        if session is None or run_dir is None:
            return False
        if self.ask_start_over(title, message):
            self.start(spec=session.spec.replace(output_dir=run_dir), restart=True)
        return True

    def ask_start_over(self, title: str, message: str) -> bool:
        """Show a failure that left a run with no checkpoint; True if the user starts over."""
        box = QMessageBox(self)
        box.setIcon(QMessageBox.Icon.Warning)
        box.setWindowTitle(title)
        box.setText(message)
        again = box.addButton("Start over", QMessageBox.ButtonRole.AcceptRole)
        box.addButton("Close", QMessageBox.ButtonRole.RejectRole)
        box.exec()
        return box.clickedButton() is again

    def _sync_buttons(self, state: str) -> None:
        busy = state != "idle"
        self.start_button.setEnabled(not busy)
        self.demo_button.setEnabled(not busy)
        self.load_button.setEnabled(not busy)
        self.pause_button.setEnabled(state in ("running", "paused", "pausing"))
        self.pause_button.setText("Resume" if state in ("paused", "pausing") else "Pause")
        self.cancel_button.setEnabled(busy and state != "stopping")
        self.save_now_button.setEnabled(state in ("running", "paused"))
        self.attention_button.setEnabled(state == "paused" and self._attention_task is None)
        self.state_label.setText(self.state_text(state))
        self.stateChanged.emit(state)

    def state_text(self, state: str) -> str:
        """The state line: idle after a run says how that run ended (finished/cancelled/failed)."""
        result = getattr(self, "last_result", None)
        if state == "idle" and result is not None:
            return f"Idle \u00b7 last run {result.status}"
        return {"idle": "Idle", "running": "Training", "pausing": "Pausing at the next step...",
                "paused": "Paused", "stopping": "Stopping..."}.get(state, state)

    # -- attention on the live model ---------------------------------------------------------------
    def _on_attention_button_clicked(self) -> None:
        from workbench.qt.train.summary import inspect_live_attention

        self._attention_task = inspect_live_attention(self, self.session)
        if self._attention_task is not None:
            self.pause_button.setEnabled(False)  # no resuming while a forward pass reads it
            self._attention_task.finished.connect(self._on_attention_task_finished)
        self._sync_buttons(self.session.state if self.session else "idle")

    def _on_attention_task_finished(self) -> None:
        self._attention_task = None
        self._sync_buttons(self.session.state if self.session else "idle")

    # -- runs --------------------------------------------------------------------------------------
    def _on_runs_resumeRequested(self, run_dir: str, extend_epochs: float) -> None:
        from workbench.core.training.spec import TrainSpec

        try:
            spec = TrainSpec.load(Path(run_dir) / "spec.json")
        except WorkbenchError as e:
            show_error(self, "Cannot resume this run", str(e))
            return
        self.start(resume_from=run_dir, extend_epochs=extend_epochs, spec=spec)

    # -- closing -----------------------------------------------------------------------------------
    def ask_close(self) -> str:
        """Ask what to do with the run in progress: CLOSE_SAVE, CLOSE_DISCARD or CLOSE_KEEP."""
        box = QMessageBox(self)
        box.setIcon(QMessageBox.Icon.Question)
        box.setWindowTitle("Training in progress")
        box.setText("A fine-tuning run is in progress. Stop it and close?")
        save = box.addButton("Stop and save checkpoint", QMessageBox.ButtonRole.AcceptRole)
        discard = box.addButton("Stop without saving", QMessageBox.ButtonRole.DestructiveRole)
        box.addButton("Keep training", QMessageBox.ButtonRole.RejectRole)
        box.exec()
        clicked = box.clickedButton()
        return CLOSE_SAVE if clicked is save else CLOSE_DISCARD if clicked is discard \
            else CLOSE_KEEP

    def confirm_close(self) -> bool:
        """True if the window may close (the run, if any, was stopped cleanly)."""
        if not self.running:
            return True
        choice = self.ask_close()
        if choice == CLOSE_KEEP:
            return False
        self.session.shutdown(save_checkpoint=choice == CLOSE_SAVE)
        return True

    def shutdown(self) -> None:
        """Cancel any run and join its thread (the tab or window is closing)."""
        self._closed = True
        if self.session is not None:
            self.session.shutdown(save_checkpoint=False)
        pages = [p for p in (self._runs, self._summary) if p is not None]  # built ones only
        for part in (self.tasks, self.preflight.tasks, *(p.tasks for p in pages)):
            part.cancel_all()
        self.preflight.shutdown()
