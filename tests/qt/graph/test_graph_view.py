"""The Graph view on real tiny checkpoints: click, expand, search, stats, dataflow, export."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import numpy as np
import pytest
from PySide6.QtCore import Qt
from safetensors.torch import load_file

from workbench.qt.graph.scene import LinkItem
from workbench.qt.graph.view import FLOW_EDGE_PX, FLOW_MIN_ZOOM, GraphView


def _graph(qtbot, window, path) -> GraphView:
    with qtbot.waitSignal(window.checkpointOpened, timeout=60_000) as blocker:
        window.open_checkpoint(str(path))
    tab = blocker.args[0]
    view = tab.show_view("Graph")
    assert isinstance(view, GraphView)
    if view.report is None:
        with qtbot.waitSignal(view.traced, timeout=60_000):
            pass
    return view


def _click(qtbot, view: GraphView, key: str, toggle: bool = False) -> None:
    item = view.scene.items_by_key[key]
    view.canvas.centerOn(item)
    box = item.box
    local = (12, 10) if toggle else (box.w / 2, min(box.h / 2, 40))
    point = view.canvas.mapFromScene(box.x + local[0], box.y + local[1])
    qtbot.mouseClick(view.canvas.viewport(), Qt.MouseButton.LeftButton, pos=point)


@pytest.fixture
def llama_view(qtbot, main_window, tiny_models):
    # the smallest supported window: the graph's toolbar and legend need ~720 px beside the
    # Checkpoints dock, which keeps its width (the fixture's 800 px window squeezes the view)
    main_window.resize(1024, 700)
    return _graph(qtbot, main_window, tiny_models["llama"])


def test_opens_folded_with_shapes_and_dataflow(llama_view):
    view = llama_view
    fold = view.scene.items_by_key["model.layers"].box
    assert fold.title == "layers: LlamaDecoderLayer × 2" and not fold.expanded
    assert "1×16×32" in fold.subtitle
    assert "model.layers.0" not in view.scene.items_by_key
    assert not view.banner.isVisible()
    kinds = [b.node.kind for b in view.flow_scene.layout_data.boxes]
    assert kinds.index("attention") < kinds.index("mlp")
    assert sum(link.kind == "residual" for link in view.flow_scene.layout_data.links) == 2


def test_click_expands_a_fold_and_shows_parameters(qtbot, llama_view):
    view = llama_view
    _click(qtbot, view, "model.layers")
    assert {"model.layers.0", "model.layers.1"} <= set(view.scene.items_by_key)
    assert view.selected_key == "model.layers"
    _click(qtbot, view, "model.layers.1")  # a collapsed block: expands and selects
    assert "model.layers.1.self_attn" in view.scene.items_by_key
    _click(qtbot, view, "model.layers.1.mlp")
    _click(qtbot, view, "model.layers.1.mlp.up_proj")
    table = view.params.table
    rows = [table.item(r, 0).toolTip() for r in range(table.rowCount())]
    assert rows == ["model.layers.1.mlp.up_proj.weight"]
    assert (table.item(0, 1).text(), table.item(0, 2).text(), table.item(0, 3).text()) == \
        ("64 × 32", "F32", "2,048")
    _click(qtbot, view, "model.layers", toggle=True)  # the triangle folds it again
    assert "model.layers.0" not in view.scene.items_by_key


def test_selecting_a_parameter_computes_its_stats_in_a_worker(qtbot, llama_view, tiny_models):
    view = llama_view
    view.reveal("model.layers.0.self_attn")
    panel = view.params
    assert panel.table.rowCount() == 4  # q, k, v, o
    with qtbot.waitSignal(panel.statsComputed, timeout=30_000) as blocker:
        panel.table.selectRow(1)
    stats = blocker.args[0]
    ref = load_file(tiny_models["llama"] / "model.safetensors")[stats.name].double()
    assert stats.name == "model.layers.0.self_attn.k_proj.weight"
    assert stats.mean == pytest.approx(ref.mean().item(), abs=1e-7)
    _x, y = panel.histogram.getData()
    assert np.array_equal(y, stats.counts) and y.sum() == ref.numel()
    assert "std" in panel.stats_label.text()


def test_search_highlights_and_jumps(qtbot, llama_view):
    view = llama_view
    qtbot.keyClicks(view.search_edit, "k_proj")
    qtbot.keyClick(view.search_edit, Qt.Key.Key_Return)
    assert view.matches == ["model.layers.0.self_attn.k_proj", "model.layers.1.self_attn.k_proj"]
    item = view.scene.items_by_key["model.layers.0.self_attn.k_proj"]
    assert item.highlighted and item.isSelected()
    assert view.canvas.viewport().rect().contains(view.canvas.mapFromScene(item.sceneBoundingRect()
                                                                           .center()))
    assert view.match_label.text() == "1 of 2"
    qtbot.keyClick(view.search_edit, Qt.Key.Key_Return)  # next match, inside the other layer
    assert view.selected_key == "model.layers.1.self_attn.k_proj"
    assert view.scene.items_by_key["model.layers.1.self_attn.k_proj"].highlighted
    assert view.search("no_such_module") == [] and view.match_label.text() == "no match"


def test_expand_all_and_export(qtbot, llama_view, tmp_path):
    view = llama_view
    view.expand_all()
    assert "model.layers.1.mlp.down_proj" in view.scene.items_by_key
    svg = view.export_svg(tmp_path / "g.svg")
    texts = " ".join(t.text or "" for t in ET.parse(svg).getroot().iter()
                     if t.tag.endswith("text"))
    assert "LlamaDecoderLayer" in texts
    png = view.export_png(tmp_path / "g.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_encoder_decoder_shows_cross_attention(qtbot, main_window, tiny_models):
    view = _graph(qtbot, main_window, tiny_models["bart"])
    assert any(link.kind == "cross" for link in view.scene.layout_data.links)
    assert view.flow_combo.count() == 2
    view.reveal("model.decoder.layers.0.encoder_attn")
    assert view.flow_combo.currentText().startswith("model.decoder.layers.0")
    assert any(link.kind == "cross" for link in view.flow_scene.layout_data.links)


def test_a_failed_trace_shows_a_banner_and_keeps_the_hierarchy(qtbot, main_window, tmp_path,
                                                               tiny_models):
    import shutil

    folder = tmp_path / "weights-only"
    folder.mkdir()
    shutil.copy(tiny_models["gpt2"] / "model.safetensors", folder / "model.safetensors")
    view = _graph(qtbot, main_window, folder)
    assert view.banner.isVisible() and "Dataflow unavailable" in view.banner.text()
    assert any(b.node.repeat == 2 for b in view.scene.layout_data.boxes)  # h.0, h.1 fold


def test_clicking_a_dataflow_step_jumps_to_its_module(qtbot, llama_view):
    view = llama_view
    flow_item = next(i for i in view.flow_scene.items_by_key.values()
                     if i.box.node.kind == "mlp")
    view.flow_canvas.centerOn(flow_item)
    point = view.flow_canvas.mapFromScene(flow_item.sceneBoundingRect().center())
    qtbot.mouseClick(view.flow_canvas.viewport(), Qt.MouseButton.LeftButton, pos=point)
    assert view.selected_key == "model.layers.0.mlp"
    assert view.params.header.text().startswith("<b>model.layers.0.mlp</b>")


def test_a_new_input_length_retraces_the_shapes(qtbot, llama_view):
    view = llama_view
    view.seq_spin.setValue(7)
    with qtbot.waitSignal(view.traced, timeout=60_000):
        view.seq_spin.editingFinished.emit()
    assert "1×7×32" in view.scene.items_by_key["model.layers"].box.subtitle


def test_fit_fills_a_large_canvas_and_dataflow_is_readable(qtbot, main_window, llama_view):
    """Fit zooms past 100% when the graph is small for the screen; the dataflow stays at 100%."""
    view = llama_view
    main_window.resize(1024, 700)
    qtbot.wait(50)
    view.collapse_all()  # the folded overview, fitted
    canvas = view.canvas
    small = canvas.zoom
    # fitted means all of it in view: no scroll bar offered on a graph that fits
    assert canvas.fitted
    for bar in (canvas.horizontalScrollBar(), canvas.verticalScrollBar()):
        assert bar.minimum() == bar.maximum(), (bar.minimum(), bar.maximum())
    main_window.resize(2560, 1440)  # a fitted graph follows the window
    qtbot.wait(50)
    assert canvas.zoom > max(small, 1.0) and canvas.fitted
    shown = canvas.mapFromScene(canvas.scene().itemsBoundingRect()).boundingRect()
    viewport = canvas.viewport().rect()
    assert max(shown.width() / viewport.width(), shown.height() / viewport.height()) > 0.8
    assert view.flow_canvas.zoom == pytest.approx(1.0)
    main_window.resize(1024, 700)


def test_a_wide_dataflow_opens_at_its_left_edge(qtbot, main_window, llama_view):
    """Wider than its panel, the dataflow shows where its box labels start, not its middle."""
    view = llama_view
    main_window.resize(1024, 700)
    qtbot.wait(50)
    flow = view.flow_canvas
    view._show_flow(view.flow_block)
    drawing = flow.scene().itemsBoundingRect()
    visible = flow.mapToScene(flow.viewport().rect()).boundingRect()
    assert FLOW_MIN_ZOOM <= flow.zoom <= 1.0  # readable: never fitted down to tiny text
    if drawing.width() + 2 * FLOW_EDGE_PX <= flow.viewport().width() / FLOW_MIN_ZOOM:
        # a little too wide for the panel: shrunk to its width, nothing cut at the right
        assert visible.left() <= drawing.left() and visible.right() >= drawing.right()
    else:
        assert visible.left() <= drawing.left() + 1


def test_a_dataflow_slightly_wider_than_its_panel_is_shrunk_to_fit(qtbot, main_window,
                                                                    minilm_path):
    """MiniLM's BertLayer dataflow at 1024x700 was cut at the right by a few pixels."""
    main_window.resize(1024, 700)
    with qtbot.waitSignal(main_window.checkpointOpened, timeout=60_000) as opened:
        main_window.open_checkpoint(str(minilm_path))
    view = opened.args[0].show_view("Graph")
    qtbot.waitUntil(lambda: view.report is not None and view.flow_block is not None,
                    timeout=60_000)
    qtbot.wait(50)
    view._show_flow(view.flow_block)  # as shown after the panel has its size
    flow = view.flow_canvas
    drawing = flow.scene().itemsBoundingRect()
    visible = flow.mapToScene(flow.viewport().rect()).boundingRect()
    assert FLOW_MIN_ZOOM <= flow.zoom < 1.0
    assert visible.left() <= drawing.left() and visible.right() >= drawing.right()
    # and no sideways scrolling into the scene's margin (it scrolled ~70 px of white)
    bar = flow.horizontalScrollBar()
    assert bar.maximum() - bar.minimum() == 0
    # the residual arrows' labels are part of the drawing (written beside the lanes they ran
    # past its right edge, and the panel scrolled sideways for them)
    labelled = [i for i in flow.scene().items() if isinstance(i, LinkItem) and i.link.label]
    width = flow.scene().layout_data.width
    assert labelled and all(i.boundingRect().contains(i._label_rect)
                            and i._label_rect.right() <= width for i in labelled)


def test_legend_and_compact_zoom_buttons(llama_view):
    from workbench.core.graph.layout import KIND_COLORS

    view = llama_view
    kinds = {b.node.kind for b in view.scene.layout_data.boxes}
    assert kinds - {"input", "output"} <= set(view.legend_items)
    for kind, label in view.legend_items.items():
        assert KIND_COLORS[kind] in label.styleSheet() and label.text() == kind
    assert view.buttons["+"].width() < view.buttons["Expand all"].width() / 2
    assert view.buttons["−"].width() == view.buttons["+"].width()


def test_retrace_keeps_the_box_under_the_centre_in_place(qtbot, llama_view):
    view = llama_view
    view.canvas.zoom_by(2.0)
    item = view.scene.items_by_key["model.layers"]
    view.canvas.centerOn(item)
    before = view.canvas.mapFromScene(view.scene.items_by_key["model.layers"].pos())
    view.seq_spin.setValue(9)
    with qtbot.waitSignal(view.traced, timeout=60_000):
        view.seq_spin.editingFinished.emit()
    after = view.canvas.mapFromScene(view.scene.items_by_key["model.layers"].pos())
    assert (after - before).manhattanLength() <= 2


def test_tied_weights_are_named_and_t5_columns_fit(qtbot, main_window, tiny_models):
    gpt2 = _graph(qtbot, main_window, tiny_models["gpt2"])
    gpt2.reveal("lm_head")
    table = gpt2.params.table
    assert table.item(0, 2).text() == "tied to transformer.wte.weight"
    assert table.item(0, 3).text() == "tied"
    t5 = _graph(qtbot, main_window, tiny_models["t5"])
    t5.reveal("encoder.block.0.layer.0.SelfAttention")
    qtbot.wait(50)
    table = t5.params.table
    assert table.rowCount() >= 4
    widths = [table.columnWidth(c) for c in range(4)]
    assert all(w > 20 for w in widths)
    assert sum(widths) <= table.viewport().width() + 2  # all four columns on screen


def test_a_big_expansion_is_laid_out_in_a_worker(qtbot, llama_view, monkeypatch):
    view = llama_view
    monkeypatch.setattr("workbench.qt.graph.view.WORKER_LAYOUT_KEYS", 0)  # as for a 70B
    view.expand_all()
    assert view.laying_out  # the worker lays it out; the old layout stays on screen meanwhile
    assert "model.layers.1.mlp.down_proj" not in view.scene.items_by_key
    with qtbot.waitSignal(view.layoutChanged, timeout=30_000):
        pass
    assert not view.laying_out and "model.layers.1.mlp.down_proj" in view.scene.items_by_key


def test_a_layout_overtaken_by_a_newer_one_is_dropped(qtbot, llama_view, monkeypatch):
    view = llama_view
    monkeypatch.setattr("workbench.qt.graph.view.WORKER_LAYOUT_KEYS", 0)
    view.expand_all()
    view.collapse_all()  # inline, before the worker's layout arrives
    qtbot.waitUntil(lambda: view.runner.active == 0, timeout=30_000)
    qtbot.wait(50)  # the worker's queued result has been delivered (and dropped)
    assert not view.laying_out and "model.layers.0" not in view.scene.items_by_key
