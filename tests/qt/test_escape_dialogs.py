"""Escape closes every dialog of the application (issue 12): each QDialog subclass defined in
workbench/qt is found by walking the package, built with simple arguments, shown, sent Escape."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDialog

import workbench.qt


def _dialog_classes() -> dict[str, type]:
    found = {}
    for info in pkgutil.walk_packages(workbench.qt.__path__, "workbench.qt."):
        module = importlib.import_module(info.name)
        for name, cls in vars(module).items():
            if (inspect.isclass(cls) and issubclass(cls, QDialog)
                    and cls.__module__ == info.name):
                found[f"{info.name}.{name}"] = cls
    return found


def _build_result():
    from workbench.core.model.builder import BuildResult, WeightsReport

    return BuildResult(path="/tmp/built", model_class="BertModel", num_parameters=1000, seed=0,
                       device="cpu", dtype="float32", files=("config.json",),
                       report=WeightsReport(loaded=("a.weight",)))


def _runner():
    from workbench.qt.common.tasks import TaskRunner

    return TaskRunner()


# the arguments of those that need some; every other dialog must build with none
ARGS = {
    "workbench.qt.config.form.JsonEditDialog": lambda: ("n_ctx", "{}"),
    "workbench.qt.config.build_report_dialog.BuildReportDialog": lambda: (_build_result(),),
    "workbench.qt.deploy.task_dialog.TaskDialog": lambda: ("A task",),
    "workbench.qt.hub.dialog.HubDownloadDialog": lambda: (_runner(),),
}
DIALOGS = _dialog_classes()


def test_the_walk_finds_the_dialogs_users_open():
    names = {n.rsplit(".", 1)[1] for n in DIALOGS}
    assert {"NewModelDialog", "ExportDialog", "EvaluateDialog", "ServeDialog", "DiffDialog",
            "HubDownloadDialog", "LiveAttentionDialog", "BuildReportDialog"} <= names


@pytest.mark.parametrize("qualname", sorted(DIALOGS))
def test_escape_closes_the_dialog(qtbot, qualname):
    args = ARGS.get(qualname, tuple)()
    dialog = DIALOGS[qualname](*args)
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitExposed(dialog)
    rejected = []
    dialog.rejected.connect(lambda: rejected.append(True))
    qtbot.keyClick(dialog, Qt.Key.Key_Escape)
    assert not dialog.isVisible() and rejected == [True]
    dialog.close()
    runner = next((a for a in args if hasattr(a, "shutdown")), None)
    if runner is not None:
        runner.shutdown()
