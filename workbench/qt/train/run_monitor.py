"""Follow a run folder live, whoever started it: curves, progress, ETA, a status badge, controls.

Used for runs launched as processes from the Fine-tune view and for File > Open Run... (a run
started by `workbench train` in a terminal, or by a launch script on another machine whose
folder is shared). metrics.jsonl is watched with QFileSystemWatcher and polled as a fallback
(network file systems often send no change notices); each poll reads only appended bytes.
Controls go through the run's control file, so they work for any `workbench train` process.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pyqtgraph as pg
from PySide6.QtCore import QFileSystemWatcher, Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from workbench.core.errors import WorkbenchError
from workbench.core.training.control_file import send_command
from workbench.core.training.follow import RunFollower
from workbench.qt.common.dialogs import fit_to_screen, show_error
from workbench.qt.common.lazy_plot import plot_widget
from workbench.qt.common.splitter_memory import RememberedSplitter
from workbench.qt.train.curves import (
    PALETTE,
    RunProgress,
    Series,
    TrainCurvesView,
    format_duration,
    step_axes,
)

POLL_MS = 500
BADGE_STYLE = {
    "waiting": "#777", "live": "#2e7d32", "stalled": "#ef6c00", "finished": "#1565c0",
    "cancelled": "#6d4c41", "failed": "#b00020",
}


class RunMonitor(QWidget):
    """One window following one or more run folders (the first in full, all overlaid)."""

    ended = Signal(str)  # the main run's final state: finished / cancelled / failed

    def __init__(self, run_dir: str | Path, process_run: Any = None,
                 parent: QWidget | None = None):
        super().__init__(parent, Qt.WindowType.Window)
        self.run_dir = Path(run_dir)
        self.process_run = process_run  # a core ProcessRun when this window started it
        self.followers: dict[Path, RunFollower] = {self.run_dir: RunFollower(self.run_dir)}
        # growable arrays: a poll appends its points and hands out views (no list -> array copy
        # of the whole run at every poll)
        self.overlay_points: dict[Path, Series] = {self.run_dir: Series()}
        self._ended = False
        self.events: list[Any] = []  # the main run's events, as read (for the cancel budget)
        # a core CancelEscalation once Cancel was pressed; it runs on its own thread for as
        # long as the run's processes live (this window only shows its state), so closing the
        # window after Cancel does not stop it
        self.escalation: Any = None
        self._badge_state = ""
        self._failure_text = ""
        self.setWindowTitle(f"Run {self.run_dir.name} — Transformer Workbench")
        fit_to_screen(self, 1100, 720)

        self.badge = QLabel()
        self.badge.setMinimumWidth(90)
        self.badge.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.status = QLabel()
        self.status.setWordWrap(True)
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.buttons = {name: QPushButton(text) for name, text in (
            ("pause", "Pause"), ("resume", "Resume"), ("save", "Save now"),
            ("cancel", "Cancel"), ("overlay", "Overlay run..."))}
        for name, button in self.buttons.items():
            button.clicked.connect(lambda _c=False, n=name: self._on_button_clicked(n))
        top = QHBoxLayout()
        top.addWidget(self.badge)
        top.addWidget(self.status, 1)
        for button in self.buttons.values():
            top.addWidget(button)

        self.curves = TrainCurvesView()
        self.progress = RunProgress()
        self.progress.reset()
        self.overlay = plot_widget(title="Train loss of the followed runs", axisItems=step_axes())
        self.overlay.setBackground("w")
        self.overlay.addLegend()
        self.overlay_curves: dict[Path, Any] = {}
        self._add_overlay_curve(self.run_dir)
        split = RememberedSplitter(Qt.Orientation.Vertical)
        split.addWidget(self.curves)
        split.addWidget(self.overlay)
        split.addWidget(self.progress)
        split.setSizes([420, 160, 140])
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(split, 1)

        self.watcher = QFileSystemWatcher(self)
        self.watcher.addPath(str(self.run_dir))
        self.watcher.directoryChanged.connect(self._on_watcher_changed)
        self.watcher.fileChanged.connect(self._on_watcher_changed)
        self.timer = QTimer(self)
        self.timer.setInterval(POLL_MS)
        self.timer.timeout.connect(self.poll)
        self.timer.start()
        self.poll()

    # -- following ---------------------------------------------------------------------------
    def follow(self, run_dir: str | Path) -> None:
        """Overlay another run folder's train loss."""
        path = Path(run_dir)
        if path in self.followers:
            return
        self.followers[path] = RunFollower(path)
        self.overlay_points[path] = Series()
        self._add_overlay_curve(path)
        self.poll()

    def _add_overlay_curve(self, path: Path) -> None:
        color = PALETTE[len(self.overlay_curves) % len(PALETTE)]
        self.overlay_curves[path] = self.overlay.plot([], [], pen=pg.mkPen(color, width=2),
                                                      name=path.name)

    def _on_watcher_changed(self, _path: str) -> None:
        metrics = str(self.run_dir / "metrics.jsonl")
        if metrics not in self.watcher.files() and Path(metrics).exists():
            self.watcher.addPath(metrics)
        self.poll()

    def poll(self) -> None:
        """Read what every followed run appended; update curves, badge and buttons."""
        for path, follower in self.followers.items():
            events = follower.poll()
            if not events:
                continue
            points = self.overlay_points[path]
            before = points.n
            for e in events:
                if e.kind == "log" and math.isfinite(e.metrics.get("loss", math.nan)):
                    points.append(float(e.step), float(e.metrics["loss"]))
            if points.n > before:
                self.overlay_curves[path].setData(points.x, points.y)
            if path == self.run_dir:
                self.events += events
                self.curves.add_events(events)
                self.progress.add_events(events)
                # The run's own clock, not the time since this window opened (the monitor may
                # open long after the run started); ETA and state are kept as RunProgress says.
                parts = [f"run time {format_duration(events[-1].time)}"
                         if p.startswith("elapsed") else p
                         for p in self.progress.label.text().split(" · ")]
                self.progress.label.setText(" · ".join(parts))
        self._update_state()

    def _update_state(self) -> None:
        status = self.followers[self.run_dir].status()
        state = status.state
        process_failed = False
        if self.process_run is not None:
            code = self.process_run.poll()
            if code not in (None, 0) and state not in ("finished", "cancelled") \
                    and self.escalation is None:
                state, process_failed = "failed", True
            elif code is not None and self.escalation is not None and state not in (
                    "finished", "cancelled", "failed"):
                state = "cancelled"  # ended by signal after a cancel that never stopped it
        if state != self._badge_state:  # a style sheet change re-polishes: only on change
            self._badge_state = state
            self.badge.setText(state)
            self.badge.setStyleSheet(f"background:{BADGE_STYLE[state]};color:white;"
                                     f"border-radius:4px;padding:3px 8px;font-weight:bold")
        if process_failed:
            if not self._failure_text:  # read the logs once, not at every poll
                self._failure_text = self.process_run.failure().message()
            self.status.setText(self._failure_text)
        elif self.escalation is not None and self.escalation.state == "survivors":
            group = self.process_run.process.pid
            self.status.setText(f"Cancel: a process of the run outlived SIGKILL; end it by "
                                f"hand: kill -9 -- -{group}")
        elif state == "stalled":
            self.status.setText(f"No event for {status.last_event_age_s / 60:.0f} min "
                                f"(last: step {status.step}/{status.max_steps}). A rank may "
                                f"hang; check logs/ in the run folder.")
        elif state == "waiting":
            self.status.setText(f"Waiting for the run to start writing {self.run_dir}...")
        else:
            self.status.setText(f"{self.run_dir}  ·  step {status.step}/{status.max_steps}"
                                + (f"  ·  {status.message}" if status.message else ""))
        # A rank's own "failed" event can arrive before the launcher has exited and said which
        # rank died (a killed peer surfaces as a gloo/NCCL error on the others): the run has
        # ended only when its processes have.
        final = state in ("finished", "cancelled", "failed") and (
            self.process_run is None or self.process_run.poll() is not None)
        running = state not in ("finished", "cancelled", "failed")
        self.buttons["pause"].setEnabled(running)
        self.buttons["resume"].setEnabled(running)
        self.buttons["save"].setEnabled(running)
        self.buttons["cancel"].setEnabled(running)
        if final and not self._ended:
            self._ended = True
            self.ended.emit(state)

    @property
    def state(self) -> str:
        """The badge's text: waiting / live / stalled / finished / cancelled / failed."""
        return self.badge.text()

    # -- controls ----------------------------------------------------------------------------
    def _on_button_clicked(self, name: str) -> None:
        if name == "overlay":
            folder = QFileDialog.getExistingDirectory(self, "Overlay a run folder",
                                                      str(self.run_dir.parent))
            if folder:
                self.follow(folder)
            return
        try:
            if name == "cancel" and self.process_run is not None:
                # A clean stop first (checkpoint at the next step); the escalation signals the
                # launcher's group if the ranks do not stop in time.
                self.escalation = self.process_run.cancel(self.events)
            else:
                send_command(self.run_dir, name)
        except (OSError, WorkbenchError) as e:
            show_error(self, "Could not send the command", f"{e}")
            return
        self.status.setText(f"Sent '{name}'; the run applies it at its next step.")

    def shutdown(self) -> None:
        """Stop following (the run itself goes on unless this window started and owns it)."""
        self.timer.stop()

    def closeEvent(self, event) -> None:
        self.shutdown()
        super().closeEvent(event)


def open_run_dialog(window: Any) -> RunMonitor | None:
    """File > Open Run...: pick a run folder and follow it in a monitor window."""
    folder = QFileDialog.getExistingDirectory(window, "Open a training run folder")
    return open_run(window, folder) if folder else None


def open_run(window: Any, folder: str | Path, process_run: Any = None) -> RunMonitor | None:
    """Follow `folder` in a new monitor window kept by `window`."""
    path = Path(folder)
    if not (path / "metrics.jsonl").exists() and not (path / "spec.json").exists() \
            and process_run is None:
        show_error(window, "Not a run folder",
                   f"{path} has no metrics.jsonl or spec.json. Choose the folder a training "
                   f"run writes (it holds spec.json, metrics.jsonl and checkpoints/).")
        return None
    monitor = RunMonitor(path, process_run, parent=window)
    monitors = getattr(window, "run_monitors", [])
    monitors.append(monitor)
    window.run_monitors = monitors
    monitor.show()
    return monitor
