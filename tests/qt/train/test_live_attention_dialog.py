"""The paused run's attention dialog is the Attention tab's view, fed by the live model
(qt.train asks for it through the window's requests; qt/attention/live.py builds it)."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QComboBox, QWidget

from tests.core.attention.test_aggregate_select import _maps


def test_dialog_is_the_attention_view_with_a_layer_combo(qtbot):
    from workbench.qt.attention.live import DEFAULT_LIVE_TEXT, LiveAttentionDialog
    from workbench.qt.attention.token_view import TokenView
    from workbench.qt.attention.view import AttentionView
    from workbench.qt.common.heatmap import AttentionHeatmap

    dialog = LiveAttentionDialog()
    qtbot.addWidget(dialog)
    view = dialog.attention
    assert isinstance(view, AttentionView) and isinstance(view.heatmap, AttentionHeatmap)
    assert isinstance(view.token_view, TokenView)
    assert isinstance(view.layer_combo, QComboBox)  # a combo, not a spin box
    assert view.text_edit.toPlainText() == DEFAULT_LIVE_TEXT
    dialog.show()
    qtbot.waitExposed(dialog)
    # a model already placed and read only while paused: no device, dtype or Compare
    assert not view.device_combo.isVisibleTo(dialog)
    titles = [view.views.tabText(i) for i in range(view.views.count())
              if view.views.isTabVisible(i)]
    assert titles == ["Heatmap", "All heads", "Tokens", "Summary"]
    maps = _maps()
    dialog.show_maps(maps)
    w = maps.maps["self"]
    last = maps.layers["self"][-1]
    assert view.layer_combo.currentData() == last  # starts at the last layer, as the tab does
    np.testing.assert_array_equal(dialog.heatmap.matrix, w[last, 0])
    assert dialog.heatmap.colorbar.isVisible()
    assert dialog.heatmap.plot.getViewBox().state["aspectLocked"]
    view.select(layer=1, head=2)
    np.testing.assert_array_equal(dialog.heatmap.matrix, w[1, 2])
    view.select(mode="mean")
    np.testing.assert_allclose(dialog.heatmap.matrix, w[1].mean(0), rtol=1e-6)
    assert dialog.heatmap.rows == [t.text for t in maps.tokens]
    view.views.setCurrentWidget(view.token_view)
    from workbench.core.attention.links import MEAN

    assert view.token_view.checked_heads() == {MEAN}  # the token view follows "mean" too
    dialog.close()


@pytest.fixture(scope="module")
def live_gpt2(tmp_path_factory, minilm_tokenizer_files):
    from tests.fixtures.attention import tiny_with_tokenizer
    from workbench.core.model.loading import load_model, load_tokenizer

    path = tiny_with_tokenizer("gpt2", tmp_path_factory.mktemp("live") / "gpt2",
                               minilm_tokenizer_files)
    model = load_model(path, attn_implementation="sdpa")
    return model, load_tokenizer(path)


class _Host(QWidget):
    """What inspect_live_attention needs of the train view: its tasks, its Resume bookkeeping
    and a place in a main window (whose requests open the Attention feature's dialog)."""

    def __init__(self, runner, window):
        super().__init__(window)
        from workbench.qt.common.tasks import TaskGroup

        self.tasks = TaskGroup(runner)
        self._attention_task = None
        self.synced: list[str] = []

    def _on_attention_task_finished(self) -> None:
        self._attention_task = None

    def _sync_buttons(self, state: str) -> None:
        self.synced.append(state)


def test_live_model_runs_in_the_full_view_and_only_while_paused(qtbot, main_window, live_gpt2):
    """A real TrainControl holding a real model in training mode: the dialog's Run computes
    its attention (eval during the pass, training mode after), a rerun after Resume is refused."""
    from workbench.core.training.runner import TrainControl
    from workbench.qt.common.tasks import TaskRunner
    from workbench.qt.train.summary import PAUSE_FIRST, inspect_live_attention

    model, tokenizer = live_gpt2
    model.train()
    control = TrainControl()
    control.live_model, control.live_tokenizer = model, tokenizer
    control.pause()
    runner = TaskRunner()
    host = _Host(runner, main_window)
    session = SimpleNamespace(control=control, state="paused")
    task = inspect_live_attention(host, session, text="the film was great")
    assert task is not None and host._attention_task is task  # Resume waits for it
    dialog = host.attention_dialog
    from workbench.qt.attention.live import LiveAttentionDialog

    assert isinstance(dialog, LiveAttentionDialog) and dialog.parent() is host
    view = dialog.attention
    qtbot.waitUntil(lambda: not task.running, timeout=60_000)
    qtbot.waitUntil(lambda: view.maps is not None, timeout=10_000)
    assert host._attention_task is None
    maps = view.maps
    assert maps.maps["self"].shape[:2] == (2, 4)  # (layers, heads) of the tiny GPT-2
    assert model.training and model.config._attn_implementation == "sdpa"  # restored
    assert [t.text for t in maps.tokens] == view.heatmap.rows
    # the token view of the live result: click two heads, hover a query token
    view.views.setCurrentWidget(view.token_view)
    tv = view.token_view
    QTest.mouseClick(tv.strip, Qt.MouseButton.LeftButton, pos=tv.strip.square_center(1))
    assert tv.checked_heads() == {0, 1}
    # beside the main window: a mouse move goes to the window under the cursor
    dialog.move(main_window.frameGeometry().right() + 40, 0)
    qtbot.waitExposed(dialog)
    QTest.mouseMove(tv.canvas, tv.canvas.token_pos("query", 3))
    links = tv.canvas.links()
    assert set(links.query.tolist()) == {3} and set(links.head.tolist()) <= {0, 1}
    # typed again and rerun while paused: recomputed on the same live model
    view.text_edit.setPlainText("a second sentence here")
    with qtbot.waitSignal(view.rendered, timeout=60_000):
        view.run_button.click()
    assert view.maps is not maps and "second" in " ".join(t.text for t in view.maps.tokens)
    qtbot.waitUntil(lambda: not view.task.running, timeout=10_000)
    control.resume()  # training goes on: the model is changing, so no forward pass
    with qtbot.waitSignal(view.failed, timeout=5_000) as refused:
        view.run_button.click()
    assert refused.args == [PAUSE_FIRST] and not view.task.running  # no new run started
    dialog.close()
    runner.shutdown()


def test_without_a_window_it_says_so(qtbot, live_gpt2, monkeypatch):
    """A train view shown alone has no window to open the Attention feature: a message."""
    from workbench.core.training.runner import TrainControl
    from workbench.qt.common.requests import NO_WINDOW
    from workbench.qt.common.tasks import TaskRunner
    from workbench.qt.train import summary

    told = []
    monkeypatch.setattr(summary.QMessageBox, "information",
                        lambda _parent, _title, text: told.append(text))
    control = TrainControl()
    control.live_model, control.live_tokenizer = live_gpt2
    control.pause()
    host = _Host(TaskRunner(), None)
    qtbot.addWidget(host)
    assert summary.inspect_live_attention(host, SimpleNamespace(control=control)) is None
    assert told == [NO_WINDOW]
