"""The paused run's attention dialog draws core's selection with the common heatmap."""

from __future__ import annotations

import numpy as np

from tests.core.attention.test_aggregate_select import _maps


def test_dialog_uses_the_common_heatmap_and_core_selection(qtbot):
    from workbench.qt.common.heatmap import AttentionHeatmap
    from workbench.qt.train.summary import LiveAttentionDialog

    dialog = LiveAttentionDialog()
    qtbot.addWidget(dialog)
    maps = _maps()
    dialog.show_maps(maps)
    assert isinstance(dialog.heatmap, AttentionHeatmap)  # export colour map, token axes, hover
    w = maps.maps["self"]
    last = maps.layers["self"][-1]
    assert dialog.layer.value() == last  # starts at the last layer, as the Attention tab
    np.testing.assert_allclose(dialog.heatmap.matrix, w[last].mean(0), rtol=1e-6)  # "mean"
    dialog.head.setCurrentIndex(2)  # head 1
    dialog.layer.setValue(2)
    np.testing.assert_array_equal(dialog.heatmap.matrix, w[2, 1])
    assert dialog.heatmap.rows == [t.text for t in maps.tokens]
    dialog.close()


def test_dialog_has_a_full_width_text_field_colour_bar_and_square_cells(qtbot):
    from workbench.qt.train.summary import DEFAULT_LIVE_TEXT, LiveAttentionDialog

    dialog = LiveAttentionDialog()
    qtbot.addWidget(dialog)
    asked = []
    dialog.run_requested = asked.append
    dialog.show()
    qtbot.waitExposed(dialog)
    text = dialog.text
    assert text.text() == DEFAULT_LIVE_TEXT
    # the field spans the dialog (less its label and Run button) and shows the whole default
    assert text.width() > dialog.width() * 0.6
    assert text.fontMetrics().horizontalAdvance(DEFAULT_LIVE_TEXT) < text.width() - 8
    text.setText("a new sentence")
    dialog.run_button.click()
    assert asked == ["a new sentence"]
    maps = _maps()
    dialog.show_maps(maps)
    assert dialog.head.count() == maps.num_heads("self") + 1  # mean + every head
    assert dialog.heatmap.colorbar.isVisible()
    assert dialog.heatmap.plot.getViewBox().state["aspectLocked"]
    dialog.layer.setValue(0)
    dialog.show_maps(maps)  # a rerun keeps the user's layer
    assert dialog.layer.value() == 0
    dialog.close()
