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
    np.testing.assert_allclose(dialog.heatmap.matrix, w[0].mean(0), rtol=1e-6)  # "mean" head
    dialog.head.setCurrentIndex(2)  # head 1
    dialog.layer.setValue(2)
    np.testing.assert_array_equal(dialog.heatmap.matrix, w[2, 1])
    assert dialog.heatmap.rows == [t.text for t in maps.tokens]
    dialog.close()
