"""The Fine-tune view's plots are built after they are first shown, one per event-loop turn,
and their right-click menus on the first right-click (opening the tab must not stall the GUI)."""

from __future__ import annotations

import pyqtgraph as pg
import pytest
from PySide6.QtCore import QPoint, Qt


def _event(kind, step, max_steps=40, **metrics):
    from workbench.core.training.events import TrainEvent

    return TrainEvent(kind=kind, step=step, max_steps=max_steps, epoch=step / 20, time=step * 0.1,
                      metrics={k: float(v) for k, v in metrics.items()})


def _plot_items(view) -> list:
    return [item for item in view.graphics.ci.items if isinstance(item, pg.PlotItem)]


def test_curves_are_built_one_plot_per_step_after_the_first_show_with_the_waiting_data(qtbot):
    from workbench.qt.train.curves import TrainCurvesView

    view = TrainCurvesView()
    qtbot.addWidget(view)
    view.log_scale.setChecked(True)
    view.add_events([_event("log", s, loss=1.0 / s, learning_rate=1e-3, grad_norm=s)
                     for s in range(1, 6)])
    view.redraw()  # hidden: nothing is built, the data waits in the buffers
    assert not view.built and _plot_items(view) == []
    assert view.series["loss"].n == 5

    counts = []
    while not view._build_step():  # what each event-loop turn of the build does
        counts.append(len(_plot_items(view)))
    assert counts == [1, 2, 3, 4]  # never more than one PlotItem in one step
    assert view.built
    # what arrived before the plots existed is on them: points, planned steps, log scale
    assert list(view.curves["loss"].getData()[0]) == [1.0, 2.0, 3.0, 4.0, 5.0]
    grad = view.curves["grad_norm"].getData()[1]  # drawn as log10: the log scale is on
    assert (10 ** grad).tolist() == pytest.approx([1.0, 2.0, 3.0, 4.0, 5.0])
    assert view.lr_plot.vb.viewRange()[0][1] >= 40
    assert view.loss_plot.getAxis("left").logMode
    assert view.markers["loss"] == (5.0, 0.2)


def test_showing_the_curves_builds_them_in_later_event_loop_turns(qtbot):
    from workbench.qt.train.curves import TrainCurvesView

    view = TrainCurvesView()
    qtbot.addWidget(view)
    view.add_events([_event("log", 1, loss=2.0), _event("log", 2, loss=1.0)])
    view.resize(800, 500)
    view.show()
    assert not view.built  # the show returns before any plot is made
    qtbot.waitUntil(lambda: view.built, timeout=10_000)
    assert len(_plot_items(view)) == 4
    assert list(view.curves["loss"].getData()[1]) == [2.0, 1.0]


def test_right_click_builds_and_opens_the_plot_menu(qtbot):
    from workbench.qt.common.lazy_plot import LazyMenuViewBox, plot_widget

    widget = plot_widget(title="t")
    qtbot.addWidget(widget)
    widget.resize(400, 300)
    widget.show()
    qtbot.waitExposed(widget)
    vb = widget.getPlotItem().vb
    assert isinstance(vb, LazyMenuViewBox)
    assert vb.menuEnabled() and vb.menu is None  # enabled, not built
    center = widget.mapFromScene(vb.sceneBoundingRect().center())
    qtbot.mouseClick(widget.viewport(), Qt.MouseButton.RightButton, pos=QPoint(center))
    qtbot.waitUntil(lambda: vb.menu is not None and vb.menu.isVisible(), timeout=5_000)
    titles = [a.text() for a in vb.menu.actions()]
    assert "View All" in titles
    # the PlotItem's own "Plot Options" join it, as with a plain ViewBox
    assert widget.getPlotItem().ctrlMenu.menuAction() in vb.menu.actions()
    vb.menu.hide()
    vb.setMenuEnabled(False)
    assert vb.menu is None and vb.getContextMenus(None) == []


def test_fine_tune_tab_opens_without_plots_and_builds_each_page_s_plots_when_shown(
        main_window, qtbot, tiny_models):
    with qtbot.waitSignal(main_window.checkpointOpened, timeout=60_000) as opened:
        main_window.open_checkpoint(str(tiny_models["bert"]))
    view = opened.args[0].show_view("Fine-tune")
    deferred = {"lengths": view.preflight._lengths, "labels": view.preflight._labels,
                "schedule": view.preflight._lr, "compare": view.runs._compare}
    # opening the tab made none of the 12 plots (each 30-100 ms of the GUI thread)
    assert not view.curves.built and not view.runs.curves.built
    assert not any(d.built for d in deferred.values())
    # the Setup page is in front, but its data-preview plots stay hidden (and unbuilt) until a
    # preview has rows to draw; no other page's plots are made either
    qtbot.wait(300)
    assert not deferred["lengths"].built and not deferred["labels"].built
    assert not view.curves.built and not deferred["schedule"].built
    view.pages.setCurrentIndex(1)  # Training
    qtbot.waitUntil(lambda: view.curves.built, timeout=10_000)
    assert len(_plot_items(view.curves)) == 4
    # a caller with data for a plot not built yet gets it built at once
    view.preflight.lr_curve.setData([0, 1, 2], [1.0, 0.5, 0.0])
    assert deferred["schedule"].built
    assert list(view.preflight.lr_curve.getData()[0]) == [0, 1, 2]
    assert view.runs.comparison_items() == [] and deferred["compare"].built
