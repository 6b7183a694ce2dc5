"""The label distribution's axis names never overlap (issue 12): elided and thinned to fit."""

from __future__ import annotations

import itertools

import numpy as np
import pyqtgraph as pg
import pytest


def _plot(qtbot, names, width):
    from workbench.qt.train.preflight import CategoryAxis

    plot = pg.PlotWidget(axisItems={"bottom": CategoryAxis()})
    qtbot.addWidget(plot)
    plot.resize(width, 300)
    plot.addItem(pg.BarGraphItem(x=np.arange(len(names)), height=np.ones(len(names)), width=0.7))
    axis = plot.getAxis("bottom")
    axis.set_names(names)
    plot.show()
    qtbot.waitExposed(plot)
    qtbot.wait(20)
    axis.plot_widget = plot  # keep the widget alive with the axis
    return axis


def _rects(axis):
    """(left, right) pixel extent of every drawn tick label along the axis."""
    low = axis.linkedView().viewRange()[0][0]
    ppc = axis.pixels_per_category()
    out = []
    for i, text in axis.shown:
        centre, half = (i - low) * ppc, axis.label_width(text) / 2
        out.append((centre - half, centre + half))
    return out


@pytest.mark.parametrize(("count", "width"), [(60, 400), (12, 300), (200, 900)])
def test_many_long_labels_do_not_overlap(qtbot, count, width):
    names = [f"a rather long category name {i}" for i in range(count)]
    axis = _plot(qtbot, names, width)
    rects = _rects(axis)
    assert 1 <= len(rects) < count  # thinned
    assert all(a[1] <= b[0] for a, b in itertools.pairwise(rects))  # no overlap
    assert all(len(text) <= axis.MAX_CHARS for _i, text in axis.shown)
    assert all(text.endswith("\u2026") for _i, text in axis.shown)
    assert rects[0][0] >= -axis.label_width(axis.shown[0][1])  # starts at the first bar


def test_few_short_labels_are_all_shown_whole_and_follow_a_resize(qtbot):
    axis = _plot(qtbot, ["neg", "pos", "neutral"], 400)
    assert axis.shown == [(0, "neg"), (1, "pos"), (2, "neutral")]
    axis = _plot(qtbot, [f"label{i:03d}" for i in range(40)], 400)
    wide = len(axis.shown)
    axis.plot_widget.resize(250, 300)
    qtbot.waitUntil(lambda: len(axis.shown) < wide)
    rects = _rects(axis)
    assert all(a[1] <= b[0] for a, b in itertools.pairwise(rects))


def test_names_are_shortened_before_any_is_dropped(qtbot):
    names = [f"category-{c}-long-name" for c in "abcdef"]
    axis = _plot(qtbot, names, 420)
    assert [i for i, _t in axis.shown] == list(range(6))  # every bar keeps a label
    assert all(len(t) < axis.MAX_CHARS for _i, t in axis.shown)
    rects = _rects(axis)
    assert all(a[1] <= b[0] for a, b in itertools.pairwise(rects))
