"""Views handing work to each other through the window (qt/common/requests.py): the run
summary's Evaluate... and Open final model, a worst example into the Attention tab, and the
Evaluate view's table comparing runs."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.fixtures.training import Recorder, data_file, tiny_spec

TIMEOUT = 120_000


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    """A real 3-step sequence-classification run: (RunResult, spec)."""
    from workbench.core.training.runner import run_training

    spec = tiny_spec("sequence-classification", tmp_path_factory.mktemp("handoff") / "run")
    result = run_training(spec, Recorder())
    assert result.status == "finished", result.message
    return result, spec


def _summary_in(window, result, spec):
    from workbench.qt.train.summary import RunSummaryView

    summary = RunSummaryView(window.runner, parent=window)  # inside the window, as in a tab
    summary.show_result(result, spec)
    return summary


def test_summary_buttons_open_the_final_model_and_the_evaluate_view(qtbot, main_window,
                                                                   finished_run):
    from workbench.qt.common.requests import requests_for

    result, spec = finished_run
    summary = _summary_in(main_window, result, spec)
    assert requests_for(summary) is main_window.requests
    assert summary.test_button.isEnabled() and summary.open_button.isEnabled()
    with qtbot.waitSignal(main_window.checkpointOpened, timeout=TIMEOUT) as opened:
        summary.open_button.click()
    tab = opened.args[0]
    assert tab.info.path == str(Path(result.final_model_dir).resolve())
    assert main_window.current_tab() is tab and main_window.tabs.count() == 1
    summary.open_button.click()  # already open: focused, not opened twice
    assert main_window.tabs.count() == 1

    summary.test_button.click()
    dialog = main_window.deploy_dialogs["evaluate"]
    assert dialog.isVisible()
    assert dialog.path_field.text() == str(result.run_dir)
    assert dialog.data_field.text() == str(spec.eval_file or "")
    summary.deleteLater()
    dialog.close()


def test_summary_buttons_wait_for_a_final_model(qtbot, main_window, finished_run):
    import dataclasses

    result, spec = finished_run
    summary = _summary_in(main_window, dataclasses.replace(result, final_model_dir=None,
                                                           status="cancelled"), spec)
    assert not summary.test_button.isEnabled() and not summary.open_button.isEnabled()
    summary.deleteLater()


def _evaluated(qtbot, window, run):
    window.evaluate_action.trigger()
    dialog = window.deploy_dialogs["evaluate"]
    dialog.path_field.setText(str(run))
    dialog.data_field.setText(str(data_file("sequence-classification")))
    with qtbot.waitSignal(dialog.finished_work, timeout=TIMEOUT):
        dialog.run_button.click()
    return dialog


def test_a_worst_example_opens_the_attention_tab_with_its_text(qtbot, main_window, finished_run):
    result, _spec = finished_run
    dialog = _evaluated(qtbot, main_window, result.run_dir)
    assert dialog.model_dir == str(Path(result.final_model_dir).resolve())
    assert dialog.attention_button.isEnabled()
    dialog.worst_table.selectRow(2)
    text = dialog.worst_table.item(2, 1).text()
    with qtbot.waitSignal(main_window.checkpointOpened, timeout=TIMEOUT) as opened:
        dialog.attention_button.click()
    tab = opened.args[0]
    view = tab.views["Attention"]
    qtbot.waitUntil(lambda: tab.currentWidget() is view, timeout=TIMEOUT)  # placed a turn later
    assert view.text_edit.toPlainText() == text
    qtbot.waitUntil(lambda: view.maps is not None, timeout=TIMEOUT)  # it ran on that text
    import transformers

    tokenizer = transformers.AutoTokenizer.from_pretrained(result.final_model_dir)
    assert [t.id for t in view.maps.tokens] == tokenizer(text)["input_ids"]
    # a second example goes to the same tab, now open: filled and run again
    other = dialog.worst_table.item(0, 1).text()
    old_maps = view.maps
    assert dialog.inspect_worst(0)
    assert main_window.tabs.count() == 1 and view.text_edit.toPlainText() == other
    qtbot.waitUntil(lambda: view.maps is not old_maps, timeout=TIMEOUT)
    dialog.close()


def test_compare_tab_tables_several_evaluations(qtbot, main_window, finished_run, tmp_path):
    from workbench.core.evaluate.report import load_report, save_report
    from workbench.core.evaluate.runner import evaluate

    result, _spec = finished_run
    dialog = _evaluated(qtbot, main_window, result.run_dir)
    panel = dialog.compare
    assert panel.path_list() == [str(Path(result.run_dir) / "evaluation.json")]  # added itself
    second = save_report(evaluate(result.run_dir, data_file("sequence-classification"),
                                  max_rows=20), tmp_path / "first20.json")
    panel.add_path(str(second))
    panel.add_path(str(second))  # once only
    with qtbot.waitSignal(panel.compared, timeout=TIMEOUT) as done:
        panel.compare()
    data = done.args[0]
    assert [r["num_examples"] for r in data["rows"]] == [64, 20]
    headers = [panel.table.horizontalHeaderItem(j).text()
               for j in range(panel.table.columnCount())]
    assert headers[:4] == ["evaluation", "model", "data", "examples"]
    assert {"accuracy", "macro_f1", "loss"} <= set(headers)
    col = headers.index("accuracy")
    shown = {panel.table.item(i, 3).text(): float(panel.table.item(i, col).data(0))
             for i in range(panel.table.rowCount())}
    assert shown == {"64": pytest.approx(load_report(result.run_dir).metrics["accuracy"]),
                     "20": pytest.approx(load_report(second).metrics["accuracy"])}
    assert "2 evaluations of sequence-classification" in panel.status.text()

    lm = save_report(evaluate(result.run_dir, data_file("sequence-classification"),
                              max_rows=8), tmp_path / "other.json")
    text = lm.read_text().replace('"task": "sequence-classification"', '"task": "causal-lm"')
    lm.write_text(text)
    panel.add_path(str(lm))
    with qtbot.waitSignal(panel.failed, timeout=TIMEOUT) as failed:
        panel.compare()
    assert "different tasks" in failed.args[0] and "different tasks" in panel.status.text()
    dialog.close()


def test_a_seq2seq_worst_example_fills_source_and_target_of_the_attention_tab(
        qtbot, main_window, tmp_path):
    """A T5 run's worst example: its source in the Attention tab's source text and what the
    model generated (the expected text when it generated nothing) as the decoder's text."""
    from workbench.core.training.runner import run_training

    spec = tiny_spec("seq2seq", tmp_path / "run")
    result = run_training(spec, Recorder())
    assert result.status == "finished", result.message
    main_window.evaluate_action.trigger()
    dialog = main_window.deploy_dialogs["evaluate"]
    dialog.path_field.setText(str(result.run_dir))
    dialog.data_field.setText(str(data_file("seq2seq")))
    with qtbot.waitSignal(dialog.finished_work, timeout=TIMEOUT) as done:
        dialog.run_button.click()
    report = done.args[0][0]  # (EvalReport, saved path, model folder)
    assert dialog.worst_table.rowCount() > 0
    row = int(dialog.worst_table.item(0, 0).data(0))
    source = dialog.worst_table.item(0, 1).text()
    expected = dialog.worst_table.item(0, 2).text()
    predicted = dialog.worst_table.item(0, 3).text()
    assert expected and source != expected  # the table holds the source, reference and output
    worst = next(w for w in report.worst if w.index == row)
    assert (worst.text, worst.expected, worst.predicted) == (source, expected, predicted)
    with qtbot.waitSignal(main_window.checkpointOpened, timeout=TIMEOUT) as opened:
        assert dialog.inspect_worst(0)
    view = opened.args[0].views["Attention"]
    assert view.enc_dec
    assert view.text_edit.toPlainText() == source
    assert view.target_edit.toPlainText() == (predicted or expected).strip()
    assert "decoder" in dialog.attention_note.text()
    qtbot.waitUntil(lambda: view.maps is not None, timeout=TIMEOUT)  # it ran on both texts
    assert view.maps.target_tokens  # the decoder side was computed, not only the encoder
    dialog.close()


def test_a_lora_runs_worst_example_opens_attention_on_the_merged_adapter(qtbot, main_window,
                                                                        tmp_path):
    """A LoRA run's final/ is an adapter folder: its Attention tab runs the base model with the
    adapter merged (peft's merge_and_unload), whose attention is the adapted model's."""
    import torch

    from workbench.core.attention.compute import compute_attention
    from workbench.core.model.loading import load_model, load_tokenizer
    from workbench.core.training.evaluate import load_trained_model
    from workbench.core.training.runner import run_training

    spec = tiny_spec("sequence-classification", tmp_path / "lora", method="lora")
    result = run_training(spec, Recorder())
    assert result.status == "finished", result.message
    final = Path(result.final_model_dir)
    assert (final / "adapter_config.json").is_file()
    dialog = _evaluated(qtbot, main_window, result.run_dir)
    assert dialog.worst_table.rowCount() > 0 and dialog.attention_button.isEnabled()
    text = dialog.worst_table.item(0, 1).text()
    with qtbot.waitSignal(main_window.checkpointOpened, timeout=TIMEOUT) as opened:
        assert dialog.inspect_worst(0)
    view = opened.args[0].views["Attention"]
    qtbot.waitUntil(lambda: view.maps is not None, timeout=TIMEOUT)
    assert view.text_edit.toPlainText() == text

    # the merged model is the adapted one (same logits as peft's unmerged PeftModel) and the
    # tab's attention is its attention, not the base model's
    merged = load_model(final, attn_implementation="eager")
    tokenizer = load_tokenizer(final)
    inputs = tokenizer(text, return_tensors="pt")
    with torch.no_grad():
        assert torch.allclose(merged(**inputs).logits,
                              load_trained_model(final, spec.task)(**inputs).logits, atol=1e-5)
    expected = compute_attention(merged, tokenizer, text)
    assert [t.id for t in view.maps.tokens] == [t.id for t in expected.tokens]
    for row, layer in enumerate(view.maps.layers["self"]):
        want = expected.maps["self"][expected.layers["self"].index(layer)]
        assert abs(view.maps.maps["self"][row] - want).max() < 1e-5
    dialog.close()
