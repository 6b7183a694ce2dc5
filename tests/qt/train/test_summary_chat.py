"""The run summary chats with base and fine-tuned model side by side for causal LM runs."""

from __future__ import annotations

from tests.fixtures.chat import tiny_chat_llama
from tests.fixtures.training import tiny_model, tiny_spec
from workbench.core.training.runner import RunResult
from workbench.qt.train.summary import RunSummaryView


def test_causal_lm_summary_chats_side_by_side(qtbot, tmp_path):
    from workbench.qt.common.tasks import TaskRunner

    runner = TaskRunner()
    view = RunSummaryView(runner)
    qtbot.addWidget(view)
    view.resize(1000, 650)
    view.show()
    spec = tiny_spec("causal-lm", tmp_path / "runs", model_path=str(tiny_model("gpt2")))
    final = tiny_chat_llama()  # stands in for the run's final model (with a chat template)
    view.show_result(RunResult(str(tmp_path / "runs" / "r1"), str(final),
                               {"eval_loss": 3.2}), spec)
    assert view.chat.isVisible() and not view.input.isVisible()
    assert [c.backend.title.split(" (")[0] for c in view.chat.columns] == [
        "Base model", "Fine-tuned"]
    view.chat.temperature.setValue(0)
    view.chat.max_new_tokens.setValue(6)
    with qtbot.waitSignal(view.chat.reply_finished, timeout=120_000):
        view.chat.send("hello")
    for column in view.chat.columns:
        assert column.history and column.history[-1]["role"] == "assistant", \
            column.transcript.toPlainText()
        assert "Error" not in column.transcript.toPlainText()
    classify = tiny_spec("sequence-classification", tmp_path / "runs2")
    view.show_result(RunResult(str(tmp_path / "runs2" / "r"), str(tiny_model("bert"))), classify)
    assert view.input.isVisible() and not view.chat.isVisible()
    runner.shutdown()
