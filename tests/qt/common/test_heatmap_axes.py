"""The heatmap's token axes: positions, never scaled like quantities."""

from __future__ import annotations


def test_an_empty_map_names_its_axes_without_a_scale_factor(qtbot):
    """Before a diff ran, its axes read "layer (x0.001)" and "module ... (x0.001)"."""
    from workbench.qt.common.heatmap import AttentionHeatmap

    heatmap = AttentionHeatmap()
    qtbot.addWidget(heatmap)
    heatmap.plot.setLabel("left", "layer")
    heatmap.clear("Compare two checkpoints to see which layers moved.")
    heatmap.resize(600, 400)
    heatmap.show()
    qtbot.waitExposed(heatmap)
    qtbot.wait(20)
    for axis in (heatmap.left_axis, heatmap.bottom_axis):
        assert "(x" not in axis.label.toPlainText(), axis.label.toPlainText()
    assert heatmap.left_axis.label.toPlainText().strip() == "layer"


def test_a_long_message_stays_on_one_line_inside_the_map(qtbot):
    """An error as the caption (e.g. a model whose weights are not maps) ran off the right edge
    of a 1024 px window, and its width pushed on the layout; now it is elided, whole in the
    tooltip."""
    from workbench.qt.common.heatmap import AttentionHeatmap

    heatmap = AttentionHeatmap()
    qtbot.addWidget(heatmap)
    heatmap.resize(600, 400)
    heatmap.show()
    qtbot.waitExposed(heatmap)
    message = "LEDModel returns encoder-attention weights shaped (2, 12, 5), not ... " * 5
    heatmap.clear(message)
    qtbot.wait(20)
    assert heatmap.minimumSizeHint().width() < 600 and heatmap.width() == 600
    shown = heatmap.status.text()
    assert shown.endswith("…") and len(shown) < len(message)
    assert heatmap.status.toolTip() == message == heatmap.status.full_text
