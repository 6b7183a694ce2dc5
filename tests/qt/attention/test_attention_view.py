"""The Attention tab on real tiny models: selection, hover, clicks, causal masking, export."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest

from tests.fixtures.attention import tiny_with_tokenizer
from workbench.core.attention.export import read_png_size


@pytest.fixture(scope="module")
def models(tmp_path_factory, minilm_tokenizer_files):
    root = tmp_path_factory.mktemp("attn_qt_models")
    out = {f: tiny_with_tokenizer(f, root / f, minilm_tokenizer_files)
           for f in ("bert", "gpt2", "t5")}
    out["bert_b"] = tiny_with_tokenizer("bert", root / "bert_b", minilm_tokenizer_files,
                                        initializer_range=0.2)
    return out


@pytest.fixture
def no_dialogs(monkeypatch):
    """Record error dialogs instead of opening modal boxes the test cannot answer."""
    shown = []
    monkeypatch.setattr("workbench.qt.attention.view.show_error",
                        lambda parent, title, message, details="": shown.append(message))
    return shown


def open_view(qtbot, window, path):
    with qtbot.waitSignal(window.checkpointOpened, timeout=30_000) as opened:
        window.open_checkpoint(str(path))
    tab = opened.args[0]
    return tab, tab.show_view("Attention")


def run(qtbot, view, text="The cat sat on the mat.", **fields):
    # a run still finishing (its result shown, its thread not yet done) would be returned
    qtbot.waitUntil(lambda: view.task is None or not view.task.running, timeout=30_000)
    view.text_edit.setPlainText(text)
    for name, value in fields.items():
        getattr(view, f"{name}_edit").setPlainText(value)
    with qtbot.waitSignal(view.rendered, timeout=60_000):
        view.run()
    return view.maps


def test_layer_and_head_change_the_image(qtbot, main_window, models, no_dialogs):
    _tab, view = open_view(qtbot, main_window, models["bert"])
    maps = run(qtbot, view)
    assert maps.maps["self"].shape[:2] == (2, 4)
    shown = view.heatmap.matrix
    np.testing.assert_array_equal(shown, maps.matrix("self", 1, 0))  # default: last layer
    assert shown.dtype == np.float32 and shown.flags.c_contiguous
    view.select(layer=0, head=3)
    np.testing.assert_array_equal(view.heatmap.matrix, maps.matrix("self", 0, 3))
    view.select(mode=1)
    np.testing.assert_allclose(view.heatmap.matrix, maps.maps["self"][0].mean(0), rtol=1e-6)
    view.select(mode=3, layer=1)  # rollout: rows sum to 1
    np.testing.assert_allclose(view.heatmap.matrix.sum(1), 1.0, atol=1e-5)
    assert not no_dialogs


def test_hover_reports_the_weight_under_the_mouse(qtbot, main_window, models):
    _tab, view = open_view(qtbot, main_window, models["bert"])
    maps = run(qtbot, view)
    view.select(layer=0, head=2)
    qtbot.wait(50)
    heat = view.heatmap
    row, col = 3, 1
    viewport_pos = heat.graphics.mapFromScene(heat.scene_pos_of(row, col))
    with qtbot.waitSignal(heat.hovered, timeout=5_000) as hovered:
        QTest.mouseMove(heat.graphics.viewport(), viewport_pos)
    expected = maps.matrix("self", 0, 2)[row, col]
    tokens = [t.text for t in maps.tokens]
    assert hovered.args[0] == f"{tokens[row]} ({row}) -> {tokens[col]} ({col}): {expected:.4f}"


def test_grid_click_opens_head_and_token_click_colours(qtbot, main_window, models):
    _tab, view = open_view(qtbot, main_window, models["bert"])
    maps = run(qtbot, view)
    view.views.setCurrentWidget(view.grid)
    qtbot.wait(50)
    grid = view.grid
    pos = grid.graphics.mapFromScene(grid.scene_pos_of(0, 2))  # layer 0, head 2
    with qtbot.waitSignal(grid.headClicked, timeout=5_000) as clicked:
        QTest.mouseClick(grid.graphics.viewport(), Qt.MouseButton.LeftButton, pos=pos)
    assert clicked.args == [0, 2]
    assert view.views.currentWidget() is view.heatmap
    assert (view.layer, view.head_spin.value()) == (0, 2)
    np.testing.assert_array_equal(view.heatmap.matrix, maps.matrix("self", 0, 2))

    view.views.setCurrentWidget(view.token_view)
    tv = view.token_view
    assert tv.checked_heads() == {2}  # follows the Head selector
    strip, canvas = tv.strip, tv.canvas
    for head in (1, 3, 2):  # click heads 1 and 3 on, 2 off
        QTest.mouseClick(strip, Qt.MouseButton.LeftButton, pos=strip.square_center(head))
    assert tv.checked_heads() == {1, 3} and canvas.visible_heads() == {1, 3}
    qtbot.wait(50)
    canvas.repaint()
    drawn = canvas.lines_by_head()
    assert set(drawn) == {1, 3}  # both heads drawn, each in its own colour group
    for head, lines in drawn.items():
        for q, k, w in lines:
            assert w == pytest.approx(float(maps.maps["self"][0][head, q, k]), rel=1e-6)
    QTest.mouseMove(canvas, canvas.token_pos("query", 2))  # hover focuses a query token
    assert canvas.active() == ("query", 2)
    links = canvas.links()
    assert set(links.query.tolist()) == {2} and set(links.head.tolist()) <= {1, 3}
    np.testing.assert_allclose(links.weight, maps.maps["self"][0][links.head, 2, links.key])
    QTest.mouseMove(canvas, canvas.token_pos("key", 0))
    links = canvas.links()
    assert canvas.active() == ("key", 0) and set(links.key.tolist()) == {0}
    np.testing.assert_allclose(links.weight, maps.maps["self"][0][links.head, links.query, 0])
    QTest.mouseClick(strip, Qt.MouseButton.LeftButton, pos=strip.square_center(3))  # 3 off
    assert tv.checked_heads() == {1} and set(canvas.links().head.tolist()) <= {1}
    assert (view.mode.value, view.head_spin.value()) == ("head", 1)  # one head: the selector too


def test_causal_future_is_masked_not_zero(qtbot, main_window, models):
    _tab, view = open_view(qtbot, main_window, models["gpt2"])
    maps = run(qtbot, view, "Once upon a time there was a fox.")
    assert maps.causal == ("self",)
    heat = view.heatmap
    assert heat.causal and not heat.future.polygon().isEmpty()
    assert heat.hover_text(0, 3).endswith("masked (future)")
    assert not heat.hover_text(3, 0).endswith("masked (future)")
    assert heat.future.polygon().containsPoint(_view_pt(0, 3),
                                               Qt.FillRule.OddEvenFill)
    assert not heat.future.polygon().containsPoint(_view_pt(3, 0), Qt.FillRule.OddEvenFill)
    assert not heat.future.polygon().containsPoint(_view_pt(2, 2), Qt.FillRule.OddEvenFill)


def _view_pt(row, col):
    from PySide6.QtCore import QPointF

    return QPointF(col, row)


def test_encoder_decoder_kinds(qtbot, main_window, models):
    _tab, view = open_view(qtbot, main_window, models["t5"])
    assert view.target_edit.isVisibleTo(view) and not view.pair_edit.isVisibleTo(view)
    maps = run(qtbot, view, "translate: the house is small", target="das Haus ist klein")
    assert [view.kind_combo.itemData(i) for i in range(view.kind_combo.count())] == \
        ["encoder", "decoder", "cross"]
    view.select(kind="cross", layer=1, head=0)
    assert view.heatmap.matrix.shape == (len(maps.target_tokens), len(maps.tokens))
    assert not view.heatmap.causal
    view.select(kind="decoder")
    assert view.heatmap.causal


def test_chinese_text_tokenizes_and_renders(qtbot, main_window, models):
    _tab, view = open_view(qtbot, main_window, models["bert"])
    maps = run(qtbot, view, "今天天气很好")
    texts = [t.text for t in maps.tokens]
    assert "天" in texts and len(texts) == 8  # [CLS] + six characters + [SEP]
    assert view.heatmap.rows == texts
    assert "天" in view.heatmap.left_axis.tickStrings(range(len(texts)), 1, 1)
    assert view.heatmap.grab().width() > 0


def test_exports_exist_and_reload(qtbot, main_window, models, tmp_path):
    _tab, view = open_view(qtbot, main_window, models["gpt2"])
    maps = run(qtbot, view, "A fox jumps.")
    view.select(layer=1, head=2)
    view.export("png", tmp_path / "view.png")
    assert read_png_size(tmp_path / "view.png")[0] > 100
    view.export("svg", tmp_path / "map.svg")
    assert (tmp_path / "map.svg").read_text(encoding="utf-8").startswith("<svg")
    view.export("csv", tmp_path / "map.csv")
    rows = (tmp_path / "map.csv").read_text(encoding="utf-8").splitlines()[1:]
    first = [float(v) if v else np.nan for v in rows[-1].split(",")[1:]]
    np.testing.assert_allclose(first, maps.matrix("self", 1, 2)[-1], rtol=1e-6)
    assert rows[0].split(",")[-1] == ""  # the future is exported as masked, not 0
    view.export("npy", tmp_path / "all.npy")
    np.testing.assert_array_equal(np.load(tmp_path / "all.npy"), maps.maps["self"])
    view.export("json", tmp_path / "tokens.json")
    data = json.loads((tmp_path / "tokens.json").read_text(encoding="utf-8"))
    assert [t["id"] for t in data["tokens"]] == [t.id for t in maps.tokens]


def test_compare_two_texts_and_two_checkpoints(qtbot, main_window, models):
    _tab, view = open_view(qtbot, main_window, models["bert"])
    maps = run(qtbot, view, "The cat sat on the mat.")
    view.views.setCurrentWidget(view.compare)
    cmp = view.compare
    cmp.text_edit.setPlainText("The dog lay on the rug.")  # same token count
    with qtbot.waitSignal(cmp.compared, timeout=60_000):
        cmp.start()
    assert "overviews" not in cmp.other.extra  # B's grid is never shown: not computed
    a = maps.matrix("self", view.layer, view.head_spin.value())
    b = cmp.other.matrix("self", view.layer, view.head_spin.value())
    np.testing.assert_allclose(cmp.diff_map.matrix, a - b, atol=1e-7)
    view.select(head=3)  # the comparison follows the selection
    np.testing.assert_allclose(cmp.diff_map.matrix, maps.matrix("self", view.layer, 3)
                               - cmp.other.matrix("self", view.layer, 3), atol=1e-7)

    open_view(qtbot, main_window, models["bert_b"])
    main_window.tabs.setCurrentIndex(0)
    cmp.mode_combo.setCurrentIndex(1)
    assert cmp.checkpoint_combo.count() == 1
    with qtbot.waitSignal(cmp.compared, timeout=60_000):
        cmp.start()
    assert cmp.other.tokens == maps.tokens
    assert np.abs(cmp.diff_map.matrix).max() > 0  # different weights, same input


def test_missing_tokenizer_is_reported_not_zeros(qtbot, main_window, tiny_models, no_dialogs):
    _tab, view = open_view(qtbot, main_window, tiny_models["bert"])
    with qtbot.waitSignal(view.failed, timeout=60_000) as failed:
        view.run()
    assert "tokenizer" in failed.args[0]
    assert no_dialogs == [failed.args[0]]
    assert view.heatmap.matrix is None and "tokenizer" in view.heatmap.status.full_text
    qtbot.waitUntil(lambda: view.run_button.isEnabled(), timeout=5_000)


def test_memory_limit_captures_one_layer_then_fetches_others(qtbot, main_window, models):
    _tab, view = open_view(qtbot, main_window, models["bert"])
    view.cache.memory_limit = 1000  # bytes: far below any real input
    maps = run(qtbot, view)
    assert maps.layers["self"] == (1,)
    assert view.notes.isVisibleTo(view) and "only the last layer" in view.notes.text()
    assert view.layer_combo.itemText(0) == "0 (not captured)"
    with qtbot.waitSignal(view.rendered, timeout=60_000):
        view.select(layer=0)  # not captured: runs again for that layer
    assert view.maps.layers["self"] == (0,) and view.layer == 0
    full = view.maps  # compare with an unrestricted run of the same text
    view.cache.memory_limit = None
    everything = run(qtbot, view)
    np.testing.assert_array_equal(full.maps["self"][0], everything.maps["self"][0])


def test_live_model_in_training_mode(qtbot, main_window, models):
    from workbench.core.model.loading import load_model, load_tokenizer

    _tab, view = open_view(qtbot, main_window, models["gpt2"])
    model = load_model(models["gpt2"], attn_implementation="sdpa")
    model.train()  # as if paused mid-training
    view.use_model(model, load_tokenizer(models["gpt2"]), "paused training model")
    maps = run(qtbot, view, "A live model.")
    assert maps.maps["self"].shape[:2] == (2, 4)
    assert model.training and model.config._attn_implementation == "sdpa"


def test_expensive_rollout_is_computed_in_a_worker(qtbot, main_window, models, no_dialogs):
    """A long input's rollout is computed off the GUI thread, by core, and then drawn."""
    import dataclasses

    from workbench.core.attention.aggregate import MapMode, rollout_layers
    from workbench.core.attention.compute import Token

    _tab, view = open_view(qtbot, main_window, models["bert"])
    maps = run(qtbot, view)
    t = 400  # 2 layers x 4 heads x 400^2: rollout costs ~1.3e8 multiply-adds
    rng = np.random.default_rng(0)
    weights = rng.random((2, maps.num_heads("self"), t, t), dtype=np.float32)
    weights /= weights.sum(-1, keepdims=True)
    view.maps = dataclasses.replace(
        maps, maps={"self": weights}, tokens=tuple(Token(f"t{i}", i, False) for i in range(t)))
    with qtbot.waitSignal(view.matrixShown, timeout=60_000):  # 400^2 cells: coloured off-thread
        view.select(mode=MapMode.MEAN, layer=1)
    np.testing.assert_allclose(view.heatmap.matrix, weights[1].mean(0), rtol=1e-5)
    with qtbot.waitSignal(view.matrixShown, timeout=60_000):
        view.select(mode=MapMode.ROLLOUT)
        assert view.matrix_task is not None and view.matrix_task.running is True
        assert view.heatmap.status.full_text == "Computing..."
    np.testing.assert_allclose(view.heatmap.matrix, rollout_layers(weights)[-1], rtol=1e-5)
    assert "rollout of layers 0-1" in view.heatmap.status.full_text
    assert no_dialogs == []


def test_expensive_comparison_is_computed_in_a_worker(qtbot, main_window, models, no_dialogs,
                                                      monkeypatch):
    """Compare follows the selection; a long input's rollout diff is computed off the GUI,
    and its three maps are coloured there too."""
    import dataclasses
    import threading

    from workbench.core.attention.aggregate import MapMode, rollout_layers
    from workbench.core.attention.compute import Token
    from workbench.qt.common import heatmap as heatmap_module

    _tab, view = open_view(qtbot, main_window, models["bert"])
    maps = run(qtbot, view)
    t = 400
    rng = np.random.default_rng(0)

    def stack():
        w = rng.random((2, maps.num_heads("self"), t, t), dtype=np.float32)
        return w / w.sum(-1, keepdims=True)

    tokens = tuple(Token(f"t{i}", i, False) for i in range(t))
    a, b = stack(), stack()
    view.maps = dataclasses.replace(maps, maps={"self": a}, tokens=tokens)
    view.select(mode=MapMode.HEAD, layer=1)
    cmp = view.compare
    cmp.other = dataclasses.replace(maps, maps={"self": b}, tokens=tokens)
    on_gui = []
    real = heatmap_module.heatmap_image

    def spy(*args, **kwargs):
        on_gui.append(threading.current_thread() is threading.main_thread())
        return real(*args, **kwargs)

    monkeypatch.setattr(heatmap_module, "heatmap_image", spy)
    view.select(mode=MapMode.ROLLOUT)
    assert cmp.diff_task is not None and cmp.diff_task.running is True
    qtbot.waitUntil(lambda: not cmp.diff_task.running, timeout=60_000)
    qtbot.waitUntil(lambda: "Largest difference" in cmp.status.text(), timeout=10_000)
    np.testing.assert_allclose(cmp.diff_map.matrix,
                               rollout_layers(a)[-1] - rollout_layers(b)[-1], atol=1e-6)
    assert on_gui.count(False) >= 3 and True not in on_gui  # A, B, A - B: all in workers
    assert no_dialogs == []


def test_grid_and_summary_are_made_in_the_worker(qtbot, main_window, models):
    """The worker that ran the model also made the mosaic, entropy and sinks the views draw."""
    from workbench.core.attention.aggregate import head_entropy
    from workbench.core.attention.overview import cached_overview, mosaic_rgb

    _tab, view = open_view(qtbot, main_window, models["gpt2"])
    maps = run(qtbot, view)
    overview = cached_overview(maps, "self")
    assert overview is not None and overview.stack is maps.maps["self"]
    np.testing.assert_array_equal(overview.mosaic, mosaic_rgb(maps.maps["self"], True))
    np.testing.assert_array_equal(view.grid.rgb, overview.mosaic)
    assert view.grid.image.qimage is maps.extra["mosaic_images"]["self"]  # its QImage too
    np.testing.assert_allclose(view.summary.entropy, head_entropy(maps.maps["self"]))
    assert view.summary.sinks.text() == overview.sinks_text


def test_token_view_follows_the_head_selector(qtbot, main_window, models):
    _tab, view = open_view(qtbot, main_window, models["bert"])
    run(qtbot, view)
    view.select(layer=1, head=3)
    assert view.token_view.checked_heads() == {3}
    assert view.token_view.canvas.heads == {3}
    view.select(layer=0)  # another layer keeps the head the selector shows
    assert view.token_view.checked_heads() == {3}


def test_long_input_scrolls_in_two_rows_and_offers_truncation(qtbot, main_window, models,
                                                              no_dialogs):
    """~500 tokens on a 64-position model: an offer to truncate, then the strip scrolls."""
    _tab, view = open_view(qtbot, main_window, models["bert"])
    main_window.resize(1024, 700)
    view.text_edit.setPlainText(" ".join(["token"] * 500))
    with qtbot.waitSignal(view.failed, timeout=60_000) as failed:
        view.run()
    assert "at most 64" in failed.args[0] and not no_dialogs  # no modal error box
    assert view.too_long.isVisibleTo(view)
    assert "64 tokens" in view.truncate_button.text()
    heat_before = view.views.height()
    with qtbot.waitSignal(view.rendered, timeout=60_000):
        view.truncate_button.click()
    assert len(view.maps.tokens) == 64 and not view.too_long.isVisibleTo(view)
    strip, scroll = view.tokens_strip, view.tokens_scroll
    # the layout settles in later event-loop turns (slower on a loaded machine)
    qtbot.waitUntil(lambda: scroll.height() <= strip.rows_height(2) + 4, timeout=5_000)
    assert strip.heightForWidth(scroll.viewport().width()) > scroll.height()  # it scrolls
    # the heatmap kept its space: the strip grew by one row at most, however long the input
    assert view.views.height() >= heat_before - (strip.rows_height(2) - strip.rows_height(1)) - 2
    assert view.width() <= main_window.width()


def test_text_boxes_are_as_tall_as_their_text(qtbot, main_window, models):
    """At 1024x700 fixed three-line boxes left the heatmap ~235 px: a sentence takes one line,
    a paragraph up to four (then the box scrolls), and the views get what the boxes leave."""
    _tab, view = open_view(qtbot, main_window, models["bert"])
    main_window.resize(1024, 700)
    qtbot.wait(50)
    box = view.text_edit
    one_line = box.height_for(1)
    assert box.lines_shown() == 1 and box.height() == one_line
    assert view.pair_edit.height() == one_line  # empty: one line for its placeholder
    views_before = view.views.height()
    box.setPlainText("word " * 400)
    qtbot.waitUntil(lambda: box.lines_shown() == box.max_lines == 4)
    assert box.height() == box.height_for(4) and box.verticalScrollBar().maximum() > 0
    qtbot.wait(50)
    assert view.views.height() == views_before - (box.height_for(4) - one_line)
    assert view.window().height() == 700
    box.setPlainText("short again")
    qtbot.waitUntil(lambda: box.height() == one_line)


def test_single_stack_and_pair_controls(qtbot, main_window, models):
    """No orphan "Attention" label on single-stack models; no pair box for GPT-2."""
    _tab, view = open_view(qtbot, main_window, models["gpt2"])
    run(qtbot, view)
    assert not view.kind_label.isVisibleTo(view) and not view.kind_combo.isVisibleTo(view)
    assert not view.pair_edit.isVisibleTo(view)
    _tab, bert = open_view(qtbot, main_window, models["bert"])
    assert bert.pair_edit.isVisibleTo(bert)
    _tab, t5 = open_view(qtbot, main_window, models["t5"])
    run(qtbot, t5, target="Le chat.")
    assert t5.kind_label.isVisibleTo(t5) and not t5.pair_edit.isVisibleTo(t5)


def test_heatmap_cells_stay_square_when_resized(qtbot, main_window, models):
    _tab, view = open_view(qtbot, main_window, models["gpt2"])
    run(qtbot, view)
    heatmap = view.heatmap
    for width, height in ((1400, 500), (500, 900), (900, 900)):
        heatmap.graphics.resize(width, height)
        qtbot.wait(50)
        cell_w, cell_h = heatmap.cell_size()
        assert cell_w > 1 and cell_w == pytest.approx(cell_h, rel=1e-3)
    first = heatmap.cell_size()
    heatmap.graphics.resize(1400, 500)
    qtbot.waitUntil(lambda: heatmap.cell_size() != first)
    assert heatmap.cell_size()[0] == pytest.approx(heatmap.cell_size()[1], rel=1e-3)


def test_heavy_views_are_built_when_first_shown(qtbot, main_window, models):
    _tab, view = open_view(qtbot, main_window, models["bert"])
    assert "grid" not in view._built and "compare" not in view._built  # not built on open
    maps = run(qtbot, view)
    assert "grid" not in view._built  # a result does not build a hidden view
    view.views.setCurrentIndex(1)  # the user clicks "All heads"
    assert view.views.currentWidget() is view._built["grid"]
    from workbench.core.attention.overview import cached_overview

    np.testing.assert_array_equal(view.grid.rgb, cached_overview(maps, "self").mosaic)
    assert view.views.tabText(1) == "All heads" and view.views.count() == 5


def test_token_view_of_2048_tokens_draws_only_what_is_in_view(qtbot):
    """2,048 tokens, every query with 20 strong keys in 3 heads: a frame draws only the rows in
    view, at most TOP_K lines per visible query and head (and never more than MAX_LINES)."""
    from workbench.core.attention.compute import Token
    from workbench.core.attention.links import MEAN, TOP_K, link_table
    from workbench.qt.attention.token_view import MAX_LINES, TokenView

    n, heads = 2048, 3
    maps = np.zeros((heads, n, n), dtype=np.float32)
    rows = np.arange(n)
    for j in range(20):  # 20 keys of 0.05: itself, the 18 before it, and the first token
        maps[:, rows, np.maximum(rows - j, 0) if j < 19 else 0] += 0.05
    tokens = [Token(f"t{i}", i, False, False) for i in range(n)]
    view = TokenView()
    qtbot.addWidget(view)
    view.resize(900, 600)
    view.show()
    view.set_data(maps, tokens, tokens, 0)  # no table yet: nothing drawn, no ranking here
    canvas = view.canvas
    view.canvas.repaint()
    assert canvas.drawn is None and canvas.links() is None
    view.set_table(link_table(maps))  # what the worker makes
    view.select_heads([0, 1, 2, MEAN])
    bar = view.scroll.verticalScrollBar()
    qtbot.waitUntil(lambda: bar.maximum() > 10_000)  # laid out: 2,048 rows
    bar.setValue(bar.maximum() // 2)
    qtbot.waitUntil(lambda: bool(canvas.painted and canvas.painted[0]
                                 and canvas.painted[0][0] > 100))
    view.scroll.viewport().repaint()
    queries, segments, (y_min, y_max) = canvas.painted
    top = canvas.visibleRegion().boundingRect()
    rows = set(range(top.top() // canvas.row_height - 2, top.bottom() // canvas.row_height + 3))
    assert set(queries) <= rows and len(queries) < 60  # the rows in view, not 2,048
    per_head = canvas.lines_by_head()
    assert set(per_head) == {0, 1, 2, MEAN}
    for lines in per_head.values():
        assert 0 < len(lines) <= TOP_K * len(queries)  # capped per query: 8 of its 20
        assert {q for q, _k, _w in lines} <= set(queries)
    assert 0 < segments <= min(MAX_LINES, (heads + 1) * TOP_K * len(queries))
    assert top.top() - 5 <= y_min and y_max <= top.bottom() + 5  # lines cut to the view


def test_head_selector_and_token_view_agree(qtbot, main_window, models):
    """The Head selector's head is the one the token view draws (not head 0), both ways."""
    _tab, view = open_view(qtbot, main_window, models["bert"])
    maps = run(qtbot, view)
    view.select(layer=1, head=3)  # chosen before the Tokens tab is ever shown
    view.views.setCurrentWidget(view.token_view)
    tv, canvas = view.token_view, view.token_view.canvas
    qtbot.wait(50)
    canvas.repaint()
    assert tv.checked_heads() == canvas.visible_heads() == {3}
    assert set(canvas.lines_by_head()) == {3}
    for q, k, w in canvas.lines_by_head()[3]:
        assert w == pytest.approx(float(maps.matrix("self", 1, 3)[q, k]), rel=1e-6)
    strip = tv.strip
    QTest.mouseClick(strip, Qt.MouseButton.LeftButton, pos=strip.square_center(0))  # 0 on
    assert view.head_spin.value() == 3  # two heads: the selector cannot show both, keeps 3
    QTest.mouseClick(strip, Qt.MouseButton.LeftButton, pos=strip.square_center(3))  # 3 off
    assert view.head_spin.value() == 0 and tv.checked_heads() == {0}  # one head: it follows
    np.testing.assert_array_equal(view.heatmap.matrix, maps.matrix("self", 1, 0))
    view.select(head=2)
    assert tv.checked_heads() == canvas.visible_heads() == {2}
    run(qtbot, view, "Another sentence to run.")  # a new result keeps the selector's head
    assert view.head_spin.value() == 2 and tv.checked_heads() == {2}


def test_hovering_a_token_shows_only_its_lines_and_weights(qtbot, main_window, models):
    """Real mouse moves: a query shows its lines and each key's weight; a key the queries
    that attend to it; moving off the tokens brings every line back."""
    from workbench.core.attention.links import MEAN, MIN_WEIGHT

    _tab, view = open_view(qtbot, main_window, models["bert"])
    maps = run(qtbot, view)
    view.views.setCurrentWidget(view.token_view)
    tv, canvas = view.token_view, view.token_view.canvas
    tv.select_heads([1, MEAN])
    qtbot.wait(50)
    canvas.repaint()
    everything = canvas.lines_by_head()
    assert len({q for lines in everything.values() for q, _k, _w in lines}) > 1
    layer = maps.maps["self"][view._layer_pos()]  # (heads, T, T)
    QTest.mouseMove(canvas, canvas.token_pos("query", 4))
    canvas.repaint()
    drawn = canvas.lines_by_head()
    assert set(drawn) <= {1, MEAN} and drawn
    assert {q for lines in drawn.values() for q, _k, _w in lines} == {4}  # only its lines
    weights, heads = canvas.focus_weights  # what each key token is tinted and labelled with
    expected = np.maximum(layer[1, 4], layer[:, 4].mean(0))
    np.testing.assert_allclose(weights, expected, rtol=1e-5)
    assert set(heads[weights >= MIN_WEIGHT].tolist()) <= {1, MEAN}
    assert "attends to" in canvas.toolTip()
    QTest.mouseMove(canvas, canvas.token_pos("key", 0))
    canvas.repaint()
    into = canvas.lines_by_head()
    assert {k for lines in into.values() for _q, k, _w in lines} == {0}
    np.testing.assert_allclose(canvas.focus_weights[0],
                               np.maximum(layer[1, :, 0], layer[:, :, 0].mean(0)), rtol=1e-5)
    gap = canvas.token_pos("query", 2)
    gap.setX((canvas.query_x + canvas.column_width + canvas.key_x) // 2)  # between the columns
    QTest.mouseMove(canvas, gap)
    canvas.repaint()
    assert canvas.active() is None and canvas.focus_weights is None
    assert canvas.lines_by_head() == everything


def test_heatmap_pixels_and_links_are_made_in_the_worker(qtbot, main_window, tmp_path,
                                                         minilm_tokenizer_files, monkeypatch):
    """A 300-token input: the heatmap's QImage and the token view's link table are made in
    worker threads; the GUI thread draws the very image the worker made."""
    import threading

    from tests.fixtures.attention import tiny_with_tokenizer
    from workbench.core.attention import links as links_module
    from workbench.core.attention.export import to_rgb
    from workbench.qt.attention import jobs
    from workbench.qt.common import heatmap as heatmap_module

    on_gui: dict[str, list[bool]] = {"image": [], "links": []}

    def spy(name, real):
        def wrapper(*args, **kwargs):
            on_gui[name].append(threading.current_thread() is threading.main_thread())
            return real(*args, **kwargs)
        return wrapper

    monkeypatch.setattr(jobs, "heatmap_image", spy("image", jobs.heatmap_image))
    monkeypatch.setattr(heatmap_module, "heatmap_image", spy("image", heatmap_module.heatmap_image))
    monkeypatch.setattr(links_module, "link_table", spy("links", links_module.link_table))
    path = tiny_with_tokenizer("llama", tmp_path / "llama", minilm_tokenizer_files,
                               max_position_embeddings=1024)
    _tab, view = open_view(qtbot, main_window, path)
    maps = run(qtbot, view, " ".join(["word"] * 300))
    t = len(maps.tokens)
    assert t >= 300
    rendered = maps.extra["rendered"]
    assert view.heatmap.image.qimage is rendered.image  # drawn as the worker made it
    assert (rendered.image.width(), rendered.image.height()) == (t, t)
    assert on_gui == {"image": [False], "links": [False]}  # both in the worker, once
    last = maps.layers["self"][-1]
    rgb = to_rgb(maps.matrix("self", last, 0), view.heatmap.levels)
    for i, j in ((5, 2), (t - 1, 0), (t - 1, t - 1)):
        colour = rendered.image.pixelColor(j, i)
        assert (colour.red(), colour.green(), colour.blue()) == tuple(rgb[i, j])
    with qtbot.waitSignal(view.matrixShown, timeout=30_000):
        view.select(head=1)  # another head of a large map: coloured in a worker too
        assert view.matrix_task is not None and view.heatmap.status.full_text == "Computing..."
    np.testing.assert_array_equal(view.heatmap.matrix, maps.matrix("self", last, 1))
    assert on_gui["image"] == [False, False]
    view.views.setCurrentWidget(view.token_view)
    assert view.token_view.canvas.table is not None  # the worker's table, not ranked here
    assert on_gui["links"] == [False]
