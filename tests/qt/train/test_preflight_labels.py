"""The label distribution (issue 12): every name and count drawn on its bar, inside the plot,
elided only to the plot's width, rows thinned only when lower than a line of text."""

from __future__ import annotations

import itertools

import pytest


def _bars(qtbot, counts, width, height=250):
    from workbench.qt.common.lazy_plot import plot_widget
    from workbench.qt.train.label_bars import LabelBars

    plot = plot_widget()
    qtbot.addWidget(plot)
    plot.resize(width, height)
    bars = LabelBars(plot)
    bars.set_counts(counts)
    plot.show()
    qtbot.waitExposed(plot)
    qtbot.wait(20)
    return bars


def _drawn_rects(bars):
    """Scene rectangles of the name items that show text, checked to be inside the view."""
    view = bars.view.sceneBoundingRect()
    rects = []
    for row, text in bars.shown:
        item = bars.items[row]
        assert item.toPlainText() == text
        margin = item.textItem.document().documentMargin()  # blank padding around the glyphs
        rect = item.textItem.mapRectToScene(
            item.textItem.boundingRect().adjusted(margin, margin, -margin, -margin))
        assert view.contains(rect), (text, rect, view)
        rects.append(rect)
    return rects


def test_the_demo_labels_read_whole_in_a_narrow_pane(qtbot):
    """The 1024 px Fine-tune tab leaves the Labels plot ~150 px: all four names show."""
    from workbench.qt.train.label_bars import label_text

    counts = {"food": 60, "sport": 60, "technology": 60, "weather": 61}
    bars = _bars(qtbot, counts, 150)
    assert bars.shown == [(i, label_text(n, c)) for i, (n, c) in enumerate(counts.items())]
    _drawn_rects(bars)
    rows = [bars.items[i].pos().y() for i, _t in bars.shown]
    assert rows == sorted(rows)  # in the data's order, first on top (y inverted)
    assert bars.view.state["yInverted"]


def test_a_long_name_is_elided_to_the_plot_and_whole_again_when_wider(qtbot):
    name = "a rather long category name that cannot fit"
    bars = _bars(qtbot, {name: 3, "short": 5}, 160)
    assert bars.shown[0][1].endswith("\u2026") and bars.shown[1][1] == "short \u00b7 5"
    _drawn_rects(bars)
    bars.plot.resize(900, 250)
    qtbot.waitUntil(lambda: bars.shown and bars.shown[0][1] == f"{name} \u00b7 3")
    _drawn_rects(bars)


@pytest.mark.parametrize(("count", "height"), [(60, 250), (200, 400)])
def test_many_rows_are_thinned_without_overlap(qtbot, count, height):
    bars = _bars(qtbot, {f"tag-{i}": i + 1 for i in range(count)}, 300, height)
    assert 1 < len(bars.shown) < count
    rows = [row for row, _t in bars.shown]
    assert rows[0] <= 2 and max(b - a for a, b in itertools.pairwise(rows)) < count / 4  # spread
    rects = _drawn_rects(bars)
    assert all(a.bottom() <= b.top() for a, b in itertools.pairwise(rects))  # no overlap
    bars.plot.resize(300, height * 4)
    qtbot.waitUntil(lambda: len(bars.shown) > len(rows))  # taller: more names


def test_new_counts_replace_the_old_bars(qtbot):
    bars = _bars(qtbot, {"a": 1, "b": 2, "c": 3}, 300)
    bars.set_counts({"x": 4})
    assert [t for _r, t in bars.shown] == ["x \u00b7 4"] and len(bars.items) == 1
    assert sum(1 for i in bars.plot.getPlotItem().items if i is bars.bars) == 1
    bars.set_counts({})
    assert bars.shown == [] and bars.bars is None and not bars.items
