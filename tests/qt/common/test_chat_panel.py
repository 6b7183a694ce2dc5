"""The chat panel on real tiny models: streaming into the transcript, Stop, side by side."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QVBoxLayout, QWidget

from tests.fixtures.chat import tiny_chat_llama
from workbench.core.chat.local import LocalChat
from workbench.qt.common.chat_panel import ChatPanel

TIMEOUT = 60_000


@pytest.fixture
def runner():
    from workbench.qt.common.tasks import TaskRunner

    runner = TaskRunner()
    yield runner
    runner.shutdown()


@pytest.fixture(scope="module")
def llama():
    chat = LocalChat(tiny_chat_llama(positions=2048), title="fine-tuned")
    chat.load()
    return chat


def _panel(qtbot, runner, backends) -> ChatPanel:
    panel = ChatPanel(runner, backends)
    qtbot.addWidget(panel)
    panel.resize(800, 500)
    panel.show()
    return panel


def test_reply_streams_into_the_transcript(qtbot, runner, llama):
    panel = _panel(qtbot, runner, [llama])
    panel.temperature.setValue(0)
    panel.max_new_tokens.setValue(20)
    panel.input.setPlainText("hello there")
    assert panel.send_button.isEnabled() and not panel.stop_button.isEnabled()
    with qtbot.waitSignal(panel.reply_finished, timeout=TIMEOUT):
        panel.send_button.click()
        assert panel.stop_button.isEnabled() and not panel.send_button.isEnabled()
    column = panel.columns[0]
    text = column.transcript.toPlainText()
    assert "You\nhello there" in text and "Reached max new tokens." in text
    assert [m["role"] for m in column.history] == ["user", "assistant"]
    assert column.history[1]["content"].strip() in text.replace("\n", " ")
    assert panel.send_button.isEnabled() and not panel.stop_button.isEnabled()
    assert panel.input.toPlainText() == ""
    panel.input.setPlainText("and again")
    panel.input.setFocus()
    with qtbot.waitSignal(panel.reply_finished, timeout=TIMEOUT):  # Ctrl+Enter sends
        qtbot.keyClick(panel.input, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)
    assert "You\nand again" in column.transcript.toPlainText()  # a second turn, with history
    assert [m["role"] for m in column.history] == ["user", "assistant"] * 2
    panel.clear_button.click()
    assert column.history == [] and column.transcript.toPlainText() == ""


def test_stop_ends_a_long_reply_and_resets_the_buttons(qtbot, runner, llama):
    panel = _panel(qtbot, runner, [llama])
    panel.temperature.setValue(0)
    panel.max_new_tokens.setValue(1000)
    panel.send("tell me everything")
    column = panel.columns[0]
    qtbot.waitUntil(lambda: column.updates >= 2, timeout=TIMEOUT)  # streaming has started
    assert panel.stop_button.isEnabled()
    with qtbot.waitSignal(panel.reply_finished, timeout=TIMEOUT):
        panel.stop_button.click()
        assert not panel.stop_button.isEnabled()
    assert "Stopped after" in column.transcript.toPlainText()
    tokens = int(column.transcript.toPlainText().split("Stopped after ")[1].split()[0])
    assert tokens < 1000
    assert panel.send_button.isEnabled() and not panel.stop_button.isEnabled()


def test_pieces_are_batched_into_one_update_per_tick(qtbot, runner, llama):
    panel = _panel(qtbot, runner, [llama])
    column = panel.columns[0]
    for i in range(500):  # a worker's pieces arriving between two timer ticks
        column.buffer.append(f"t{i} ")
    column.drain()
    assert column.updates == 1 and "t0 t1" in column.transcript.toPlainText()
    assert "t499" in column.transcript.toPlainText()


def test_side_by_side_shows_two_answers_and_errors_inline(qtbot, runner, llama, tmp_path):
    base = LocalChat(tiny_chat_llama(), title="base model")
    broken = LocalChat(tmp_path / "missing", title="missing model")
    panel = _panel(qtbot, runner, [base, llama])
    panel.temperature.setValue(0)
    panel.max_new_tokens.setValue(8)
    with qtbot.waitSignal(panel.reply_finished, timeout=TIMEOUT):
        panel.send("hello")
    assert ["base model" in panel.columns[0].title.text(),
            "fine-tuned" in panel.columns[1].title.text()] == [True, True]
    for column in panel.columns:  # each transcript holds its own model's answer
        answer = column.history[1]["content"].strip()
        assert answer and answer.split()[0] in column.transcript.toPlainText()
    assert [len(c.history) for c in panel.columns] == [2, 2]
    panel.set_backends([broken])
    with qtbot.waitSignal(panel.reply_finished, timeout=TIMEOUT):
        panel.send("hello")
    text = panel.columns[0].transcript.toPlainText()
    assert "Error:" in text and "Traceback" not in text
    assert panel.columns[0].history == []  # the unanswered message is not kept


def test_a_long_reply_does_not_widen_a_1024_window(qtbot, runner, llama):
    window = QWidget()
    qtbot.addWidget(window)
    layout = QVBoxLayout(window)
    panel = ChatPanel(runner, [llama, llama])
    layout.addWidget(panel)
    window.resize(1024, 700)
    window.show()
    for column in panel.columns:
        column.add_turn("You", "x" * 3000)  # one unbreakable word
        column.buffer.append("y" * 3000)
        column.drain()
    qtbot.wait(50)
    assert window.width() == 1024


def test_with_no_model_the_transcripts_place_says_why(qtbot, runner, llama):
    """Before the server is up the Serve dialog showed a blank grey gap above the input."""
    panel = ChatPanel(runner, [], empty_text="Start the server to chat with the model here.")
    qtbot.addWidget(panel)
    assert panel.empty.isVisibleTo(panel) and not panel.splitter.isVisibleTo(panel)
    assert panel.empty.text().startswith("Start the server")
    assert not panel.send_button.isEnabled()
    panel.set_backends([llama])
    assert panel.splitter.isVisibleTo(panel) and not panel.empty.isVisibleTo(panel)
