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
