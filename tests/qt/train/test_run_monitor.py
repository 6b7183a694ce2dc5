"""Following a run folder written by a separate `workbench train` process, and the launch form."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

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
