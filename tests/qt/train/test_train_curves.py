"""Live curves and progress fed with real TrainEvents (no training needed)."""

from __future__ import annotations

import math

import numpy as np
import pytest


def _event(kind, step, max_steps=100, **metrics):
    from workbench.core.training.events import TrainEvent

    return TrainEvent(kind=kind, step=step, max_steps=max_steps, epoch=step / 50, time=step * 0.1,
                      metrics={k: float(v) for k, v in metrics.items()})


@pytest.fixture
def curves(qtbot):
    from workbench.qt.train.curves import TrainCurvesView

    view = TrainCurvesView()
    qtbot.addWidget(view)
    view.resize(900, 600)
    view.show()  # clip-to-view needs a real view range, which auto-range sets once shown
    qtbot.waitExposed(view)
    return view


def test_batches_become_curve_points_and_non_finite_values_are_skipped(curves, qtbot):
    events = [_event("log", s, loss=2.0 / s, learning_rate=1e-3 * (1 - s / 100), grad_norm=s,
                     tokens_per_s=500) for s in range(1, 11)]
    events.insert(5, _event("log", 6, loss=math.nan, grad_norm=math.inf))
    events.append(_event("eval", 10, eval_loss=0.4, eval_accuracy=0.9))
    events.append(_event("finished", 10, loss=0.2, eval_loss=0.4))  # summary: not a new point
    curves.add_events(events)
    curves.redraw()
    qtbot.wait(50)
    x, y = curves.curves["loss"].getData()
    assert list(x) == [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]
    assert np.allclose(y, [2.0 / s for s in range(1, 11)])
    assert list(curves.curves["eval_loss"].getData()[0]) == [10]
    assert list(curves.curves["grad_norm"].getData()[1]) == [float(s) for s in range(1, 11)]
    assert len(curves.curves["tokens_per_s"].getData()[0]) == 10


def test_smoothing_is_incremental_and_matches_the_formula(curves):
    from workbench.qt.train.curves import Ema, ema

    rng = np.random.default_rng(0)
    values = rng.normal(size=500)
    one_shot = ema(values, 0.9)
    incremental = Ema(0.9)
    incremental.extend(values[:123])
    assert np.allclose(incremental.extend(values), one_shot)
    acc = norm = 0.0  # TensorBoard's debiased EMA, written out
    for v in values[:3]:
        acc, norm = 0.9 * acc + 0.1 * v, 0.9 * norm + 0.1
    assert one_shot[2] == pytest.approx(acc / norm)

    curves.add_events([_event("log", s, loss=float(v)) for s, v in enumerate(values[:50], 1)])
    curves.redraw()
    curves.smoothing.setValue(0.5)
    _, smoothed = curves.curves["loss_smoothed"].getData()
    assert np.allclose(smoothed, ema(values[:50], 0.5))


def test_log_scale_hover_and_large_runs(curves):
    steps = np.arange(1, 100_001)
    for s in steps[::1000]:
        curves.add_metrics(int(s), {"loss": 1.0 / s, "grad_norm": 1.0})
    curves.add_events([_event("log", int(s), loss=1.0 / s) for s in range(100_001, 100_100)])
    curves.redraw()
    curves.log_scale.setChecked(True)
    assert curves.loss_plot.getAxis("left").logMode
    text = curves.describe_step(5_000)
    assert text.startswith("step 5000") and "loss" in text and "smoothed" in text
    redraws = curves.redraws
    curves.redraw()  # nothing new: no work
    assert curves.redraws == redraws


def test_progress_bar_eta_and_log(qtbot):
    from workbench.qt.train.curves import RunProgress

    progress = RunProgress()
    qtbot.addWidget(progress)
    progress.reset()
    progress.add_events([_event("started", 0)])
    qtbot.wait(30)
    progress.add_events([_event("log", 10, loss=1.0)])
    qtbot.wait(30)
    progress.add_events([_event("log", 20, loss=0.5), _event("eval", 20, eval_loss=0.6)])
    assert progress.bar.maximum() == 100 and progress.bar.value() == 20
    assert "ETA" in progress.label.text() and "step 20/100" in progress.label.text()
    progress.add_events([_event("paused", 20)])
    assert "paused" in progress.label.text()
    assert "eval_loss=0.6" in progress.log.toPlainText()


def test_min_loss_and_best_eval_markers_sit_on_the_minimum_and_move_live(curves, qtbot):
    losses = [2.0, 1.5, 0.9, 1.1, 1.0]
    curves.add_events([_event("log", s + 1, loss=v) for s, v in enumerate(losses)])
    curves.add_events([_event("eval", 2, eval_loss=1.2), _event("eval", 4, eval_loss=0.8),
                       _event("eval", 5, eval_loss=0.95)])
    curves.redraw()
    assert curves.markers == {"loss": (3.0, 0.9), "eval_loss": (4.0, 0.8)}
    dot, label, _ = curves._marker_items["loss"]
    assert list(dot.getData()[0]) == [3.0] and list(dot.getData()[1]) == [0.9]
    assert label.isVisible() and label.toPlainText() == "min 0.9 @ 3"
    assert (label.pos().x(), label.pos().y()) == (3.0, 0.9)
    assert curves._marker_items["eval_loss"][1].toPlainText() == "best 0.8 @ 4"
    # a new minimum moves the marker as the run goes on
    curves.add_events([_event("log", 6, loss=0.5)])
    curves.redraw()
    assert curves.markers["loss"] == (6.0, 0.5)
    curves.log_scale.setChecked(True)  # the label follows the log axis
    assert curves._marker_items["loss"][1].pos().y() == pytest.approx(math.log10(0.5))
    curves.clear()
    assert curves.markers == {"loss": None, "eval_loss": None}
    assert not curves._marker_items["loss"][1].isVisible()


@pytest.mark.parametrize("eval_losses", [
    [2.5, 2.4, 2.3],  # best eval at the last step, high: the top-right corner
    [1.0, 1.8, 2.4],  # best eval at the first step, the left
    [2.4, 0.3, 2.4],  # best eval low in the middle
])
def test_the_loss_legend_never_covers_the_data_or_the_marker_labels(curves, qtbot, eval_losses):
    losses = np.linspace(2.0, 0.2, 30)
    curves.add_events([_event("log", s + 1, loss=v) for s, v in enumerate(losses)])
    curves.add_events([_event("eval", s, eval_loss=v)
                       for s, v in zip((10, 20, 30), eval_losses, strict=True)])
    curves.redraw()
    qtbot.waitUntil(lambda: curves.loss_plot.legend.isVisible(), timeout=5_000)
    qtbot.wait(50)  # the layout pass that places the legend's row
    legend = curves.loss_plot.legend
    names = [label.text for _sample, label in legend.items]
    assert names == ["train (raw)", "train (smoothed)", "eval"]
    box = legend.sceneBoundingRect()
    view = curves.loss_plot.vb.sceneBoundingRect()
    assert box.height() > 0 and not box.intersects(view)  # a row outside the data area
    assert curves.loss_plot.sceneBoundingRect().contains(box)  # ...still inside its plot
    labels = [curves._marker_items[k][1] for k in ("loss", "eval_loss")]
    assert all(label.isVisible() for label in labels)
    for label in labels:
        assert not label.sceneBoundingRect().intersects(box)


@pytest.mark.parametrize(("losses", "evals"), [
    ([1.385, 1.386, 1.387], {3: 1.36}),  # a 3-step run: min train is the top of the range
    ([2.0, 1.2, 0.4, 0.6], {2: 1.5, 4: 1.4}),  # min train at the bottom, best eval above it
    ([0.9, 0.8, 0.85], {1: 0.5, 3: 0.6}),  # best eval the very bottom, at the left
])
def test_marker_labels_stay_inside_the_plot(curves, qtbot, losses, evals):
    curves.add_events([_event("log", s + 1, loss=v) for s, v in enumerate(losses)])
    curves.add_events([_event("eval", s, eval_loss=v) for s, v in evals.items()])
    curves.redraw()
    qtbot.wait(100)  # auto-range settles when painted
    curves.redraw()
    view = curves.loss_plot.vb.sceneBoundingRect()
    for key in ("loss", "eval_loss"):
        label = curves._marker_items[key][1]
        assert label.isVisible()
        assert view.contains(label.sceneBoundingRect()), (key, label.toPlainText())


@pytest.mark.parametrize(("losses", "evals", "size"), [
    ([1.4 * 0.95 ** s for s in range(100)], {90: 0.013, 100: 0.014}, None),  # both at the bottom
    ([1.385, 1.386, 1.387], {1: 1.3851}, None),  # a short run: both minima at step 1, at the top
    # both minima at a short run's last step, a few pixels apart, in the run monitor's ~70 px
    # tall plot: a line apart still overlapped ("best 1.351 @ 4" over "min 1.364 @ 4")
    ([1.382, 1.385, 1.38, 1.364], {4: 1.351}, (1000, 330)),
])
def test_min_and_best_labels_never_print_over_each_other(curves, qtbot, losses, evals, size):
    """A long run's lowest train loss and best eval sit at the bottom, a few steps apart: the
    two labels were drawn on one line, over each other ("best 0.02025 @ 90.04")."""
    if size:
        curves.resize(*size)
    steps = len(losses) if size else 100
    curves.add_events([_event("log", s + 1, steps, loss=v) for s, v in enumerate(losses)])
    curves.add_events([_event("eval", s, steps, eval_loss=v) for s, v in evals.items()])
    curves.redraw()
    qtbot.wait(100)
    curves.redraw()
    rects = []
    for key in ("loss", "eval_loss"):
        label = curves._marker_items[key][1]
        margin = label.textItem.document().documentMargin()
        rects.append(label.textItem.mapRectToScene(
            label.textItem.boundingRect().adjusted(margin, margin, -margin, -margin)))
        assert curves.loss_plot.vb.sceneBoundingRect().contains(rects[-1]), label.toPlainText()
    assert not rects[0].intersects(rects[1])


def test_a_best_eval_star_on_the_last_planned_step_is_drawn_whole(curves, qtbot):
    """A 3-step run in a 1024 px window: the star at step 3 was cut in half at the right edge."""
    from PySide6.QtCore import QPointF

    curves.resize(480, 420)  # each plot ~230 px wide, as on the Runs page at 1024x700
    curves.add_events([_event("log", s, max_steps=3, loss=1.385 + s / 1000) for s in (1, 2)])
    curves.add_events([_event("eval", 3, max_steps=3, eval_loss=1.36)])
    curves.redraw()
    qtbot.wait(100)
    curves.redraw()
    vb = curves.loss_plot.vb
    dot = curves._marker_items["eval_loss"][0]
    centre = vb.mapViewToScene(QPointF(3, 1.36))
    half = 14 / 2  # the star's symbolSize, in pixels
    assert vb.sceneBoundingRect().right() >= centre.x() + half, (vb.sceneBoundingRect(), centre)
    assert dot.isVisible()
