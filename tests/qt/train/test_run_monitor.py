"""Following a run folder written by a separate `workbench train` process, and the launch form."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fixtures.launch import no_orphans  # noqa: F401 (a fixture)
from tests.fixtures.training import tiny_spec

ROOT = Path(__file__).resolve().parents[3]


def test_monitor_follows_a_terminal_run_and_can_cancel_it(qtbot, main_window, tmp_path):
    from workbench.core.training.runs import load_run_metrics
    from workbench.qt.train.run_monitor import open_run

    spec = tiny_spec("sequence-classification", tmp_path / "run", max_steps=300,
                     save_steps=1000)
    spec_path = tmp_path / "spec.json"
    spec.save(spec_path)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH",
                                                                                  "")]))
    proc = subprocess.Popen([sys.executable, "-m", "workbench", "train", str(spec_path),
                             "--json-events"], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, env=env)
    try:
        qtbot.waitUntil(lambda: (tmp_path / "run" / "spec.json").exists(), timeout=120_000)
        monitor = open_run(main_window, tmp_path / "run")
        assert monitor is not None
        qtbot.waitUntil(lambda: len(monitor.curves.series["loss"].x) >= 3, timeout=120_000)
        assert monitor.state == "live"
        assert monitor.progress.bar.maximum() == 300
        assert "run time" in monitor.progress.label.text()  # the run's clock, not the window's
        qtbot.mouseClick(monitor.buttons["cancel"], qtbot_button())
        qtbot.waitUntil(lambda: monitor.state == "cancelled", timeout=60_000)
        assert proc.wait(60) == 0
        steps = monitor.curves.series["loss"].x
        logged = [e.step for e in load_run_metrics(tmp_path / "run") if e.kind == "log"]
        assert list(steps) == logged  # every logged point reached the curve, once
        assert not monitor.buttons["pause"].isEnabled()
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()


def qtbot_button():
    from PySide6.QtCore import Qt

    return Qt.MouseButton.LeftButton


def test_open_run_refuses_a_folder_that_is_not_a_run(main_window, tmp_path, monkeypatch):
    shown = []
    monkeypatch.setattr("workbench.qt.train.run_monitor.show_error",
                        lambda parent, title, text: shown.append((title, text)))
    from workbench.qt.train.run_monitor import open_run

    assert open_run(main_window, tmp_path) is None
    assert shown and "no metrics.jsonl" in shown[0][1]


def test_launch_form_shows_the_exact_command(qtbot):
    from workbench.qt.train.form import TrainForm

    form = TrainForm()
    qtbot.addWidget(form)
    form.set_spec(tiny_spec("sequence-classification", Path("/tmp/out")))
    editor = form.editors["launch"]
    assert not editor.process_box.isVisibleTo(form)
    editor.parts["mode"].set_value("processes")
    editor.parts["num_processes"].set_value(3)
    form.update_launch_command()
    editor._sync_mode()
    assert editor.process_box.isVisibleTo(form)
    command = editor.command.toPlainText()
    assert "accelerate.commands.launch" in command and "--num_processes 3" in command
    spec = form.spec()
    assert spec.launch.mode == "processes" and spec.launch.num_processes == 3


def test_runs_list_follows_a_run_live(qtbot, main_window, tmp_path):
    from workbench.core.training.runner import run_training
    from workbench.qt.common.tasks import TaskRunner
    from workbench.qt.train.runs_view import RunsView

    run_training(tiny_spec("sequence-classification", tmp_path / "runs" / "one"), lambda e: None)
    view = RunsView(TaskRunner(main_window), root=tmp_path / "runs")
    qtbot.addWidget(view)
    qtbot.waitUntil(lambda: view.tree.topLevelItemCount() == 1, timeout=60_000)
    view.tree.setCurrentItem(view.tree.topLevelItem(0))
    assert view.follow_button.isEnabled()
    view.follow_button.click()
    qtbot.waitUntil(lambda: view.monitor.state == "finished", timeout=30_000)
    assert view.monitor.run_dir == tmp_path / "runs" / "one"
    view.monitor.close()


def test_overlay_run_adds_a_second_run_to_the_overlay(qtbot, main_window, tmp_path,
                                                      monkeypatch):
    from workbench.core.training.runner import run_training
    from workbench.qt.train.run_monitor import open_run

    for name, rate in (("a", 1e-3), ("b", 5e-3)):
        result = run_training(tiny_spec("sequence-classification", tmp_path / name,
                                        max_steps=4, learning_rate=rate), lambda e: None)
        assert result.status == "finished"
    monitor = open_run(main_window, tmp_path / "a")
    qtbot.waitUntil(lambda: monitor.state == "finished", timeout=30_000)
    # the folder dialog is the user's part; the button, follower and curves are real
    monkeypatch.setattr("workbench.qt.train.run_monitor.QFileDialog.getExistingDirectory",
                        lambda *a, **k: str(tmp_path / "b"))
    monitor.buttons["overlay"].click()
    assert set(monitor.overlay_curves) == {tmp_path / "a", tmp_path / "b"}
    for name in ("a", "b"):
        x, y = monitor.overlay_curves[tmp_path / name].getData()
        assert list(x) == [1, 2, 3, 4] and len(y) == 4  # each run's own logged losses
    ya = monitor.overlay_curves[tmp_path / "a"].getData()[1]
    yb = monitor.overlay_curves[tmp_path / "b"].getData()[1]
    assert list(ya) != list(yb)
    assert monitor.curves.series["loss"].n == 4  # the main curves stay the first run's
    monitor.close()


@pytest.mark.usefixtures("no_orphans")
def test_monitor_names_the_failed_rank_and_the_run_resumes_to_its_planned_steps(
        qtbot, main_window, tmp_path):
    import signal

    from tests.fixtures.launch import (
        LAUNCH_TIMEOUT_S,
        launch_env,
        rank_pid,
        two_processes,
        wait_for,
    )
    from workbench.core.training.checkpoints import list_checkpoints
    from workbench.core.training.process_run import ProcessRun
    from workbench.core.training.runs import load_run_metrics
    from workbench.qt.train.run_monitor import open_run

    spec = tiny_spec("sequence-classification", tmp_path / "run", max_steps=8, save_steps=2,
                     batch_size=4)
    run = ProcessRun.start(spec, two_processes(), env=launch_env())
    monitor = open_run(main_window, run.run_dir, process_run=run)
    qtbot.waitUntil(lambda: any(e.kind == "checkpoint" for e in monitor.events),
                    timeout=LAUNCH_TIMEOUT_S * 1000)
    qtbot.mouseClick(monitor.buttons["pause"], qtbot_button())
    # paused: both ranks wait at the same step boundary, so the kill lands mid-run
    assert wait_for(lambda: any(e.kind == "paused" for e in load_run_metrics(run.run_dir)), 60)
    os.kill(rank_pid(run.run_dir, 1), signal.SIGKILL)
    # rank 0 may report the broken collective first; the launcher then names the killed rank
    qtbot.waitUntil(lambda: monitor.state == "failed" and "Rank 1" in monitor.status.text(),
                    timeout=120_000)
    text = monitor.status.text()
    assert "Rank 1 was killed by signal 9" in text and "Last log lines" in text
    assert "resume" in text.lower()
    assert not run.group_alive()  # the other rank was ended too
    monitor.close()

    checkpoint = list_checkpoints(run.run_dir)[-1]
    resumed = ProcessRun.resume(run.run_dir, two_processes(), env=launch_env())
    assert resumed.wait(LAUNCH_TIMEOUT_S) == 0, resumed.failure().message()
    events = load_run_metrics(run.run_dir)
    assert events[-1].kind == "finished" and events[-1].step == 8
    assert any(e.kind == "started" and e.step == int(checkpoint.name.split("-")[1])
               for e in events)


@pytest.mark.usefixtures("no_orphans")
def test_cancel_escalation_goes_on_after_the_monitor_is_closed(qtbot, main_window, tmp_path,
                                                               monkeypatch):
    """A rank that hangs (stopped) keeps the run from a clean stop: after Cancel the group is
    signalled when the budget runs out, though the monitor was closed right after Cancel."""
    import signal

    from tests.fixtures.launch import (
        LAUNCH_TIMEOUT_S,
        launch_env,
        rank_pid,
        two_processes,
        wait_for,
    )
    from workbench.core.training import process_run
    from workbench.core.training.process_run import ProcessRun
    from workbench.qt.train.run_monitor import open_run

    # the budget's floor and the allowance for an untimed checkpoint, made short: this run
    # cannot stop cleanly, and the test need not wait the 30 s a real cancel is given
    monkeypatch.setattr(process_run, "MIN_CANCEL_BUDGET_S", 1.0)
    monkeypatch.setattr(process_run, "CHECKPOINT_ALLOWANCE_S", 1.0)
    spec = tiny_spec("sequence-classification", tmp_path / "run", max_steps=5000,
                     save_steps=100_000, batch_size=4)
    run = ProcessRun.start(spec, two_processes(), env=launch_env())
    monitor = open_run(main_window, run.run_dir, process_run=run)
    qtbot.waitUntil(lambda: any(e.kind == "log" for e in monitor.events),
                    timeout=LAUNCH_TIMEOUT_S * 1000)
    hung = rank_pid(run.run_dir, 1)
    os.kill(hung, signal.SIGSTOP)  # rank 1 hangs; rank 0 waits for it in a collective
    try:
        qtbot.mouseClick(monitor.buttons["cancel"], qtbot_button())
        assert monitor.escalation is not None
        monitor.close()
        assert not monitor.timer.isActive()  # the window follows nothing any more
        # no event loop turning for the monitor either: the escalation runs on its own
        assert wait_for(lambda: not run.group_alive(), 90), run.escalation.state
        # the stopped rank too: torchrun gives each rank a session of its own, so the
        # launcher's group alone does not reach it, and its killed agent cannot end it
        assert wait_for(lambda: not Path(f"/proc/{hung}").exists(), 30), \
            f"rank 1 (pid {hung}) outlived the cancel"
    finally:
        for pid in (hung, *run.rank_pids()):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
    run.escalation.thread.join(10)  # it ends once it has seen the group gone
    assert run.escalation.state == "ended"
    assert run.process.returncode is not None  # the launcher was reaped: no zombie left
