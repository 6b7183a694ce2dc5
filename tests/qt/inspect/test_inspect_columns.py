"""The Modules and Tensors pages: every column inside the page at 1024x700 (issue 12)."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt

from tests.bench import fake_70b
from workbench.core.checkpoint.inspection import inspect_checkpoint


@pytest.fixture(scope="module")
def info_70b(tmp_path_factory):
    return inspect_checkpoint(fake_70b.make_fake_llama70b(tmp_path_factory.mktemp("m") / "70b"))


def test_every_column_shows_in_a_1024_window_and_names_are_whole(qtbot, info_70b):
    """Fixed 320 + 200 px name and class columns pushed Share off the right edge at 1024 px."""
    from workbench.qt.inspect.module_tree_view import ModuleTreeView

    view = ModuleTreeView(info_70b.module_tree)
    qtbot.addWidget(view)
    view.resize(740, 600)  # the Modules page beside the dock in a 1024x700 window
    view.show()
    qtbot.waitExposed(view)
    item = view.expand_path("model.layers.0.self_attn.q_proj")
    assert item is not None
    qtbot.wait(20)
    tree, header = view.tree, view.tree.header()
    widths = [header.sectionSize(c) for c in range(header.count())]
    assert sum(widths) <= tree.viewport().width()  # nothing past the right edge
    assert tree.horizontalScrollBar().maximum() == 0
    metrics = tree.fontMetrics()
    deepest = tree.visualItemRect(item)
    assert deepest.left() + metrics.horizontalAdvance(item.text(0)) <= widths[0]  # whole name
    assert widths[1] >= metrics.horizontalAdvance("LlamaDecoderLayer")


def test_the_tensor_table_shows_every_column_in_a_1024_window(qtbot, info_70b):
    """A fixed 420 px name column pushed Elements, Bytes and Shard off the right edge."""
    from workbench.qt.inspect.tensor_table import COLUMNS, TensorTableView, display_texts

    view = TensorTableView(info_70b.tensors)
    qtbot.addWidget(view)
    view.resize(740, 600)
    view.show()
    qtbot.waitExposed(view)
    qtbot.wait(20)
    table, header = view.table, view.table.horizontalHeader()
    assert sum(header.sectionSize(c) for c in range(len(COLUMNS))) <= table.viewport().width()
    assert table.horizontalScrollBar().maximum() == 0
    metrics = table.fontMetrics()
    widest = max(info_70b.tensors, key=lambda t: t.numel)
    for column in (1, 2, 3, 4, 5):  # whole, not elided
        assert header.sectionSize(column) >= metrics.horizontalAdvance(
            display_texts(widest)[column]), COLUMNS[column]
    assert table.textElideMode() == Qt.TextElideMode.ElideMiddle  # long names keep both ends
    first = view.proxy.index(0, 0)
    assert first.data(Qt.ItemDataRole.ToolTipRole) == first.data()  # and show whole on hover
