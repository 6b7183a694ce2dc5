"""The deploy dialogs driven through their widgets, running the real core functions in workers."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from tests.conftest import make_tiny_model
from tests.fixtures.training import Recorder, data_file, tiny_model, tiny_spec

TIMEOUT = 120_000


def test_menus_hold_the_deploy_actions(main_window):
    file_texts = [a.text() for a in main_window.menus["File"].actions()]
    tool_texts = [a.text() for a in main_window.menus["Tools"].actions()]
    assert "&Export..." in file_texts
    assert {"&Evaluate...", "&Diff Checkpoints...", "&Serve Model..."} <= set(tool_texts)


@pytest.fixture
def two_berts(tmp_path):
    import transformers

    a = make_tiny_model("bert", tmp_path / "a")
    model = transformers.BertForMaskedLM.from_pretrained(a)
    with torch.no_grad():
        model.bert.encoder.layer[1].output.dense.weight.mul_(1.5)
    model.save_pretrained(tmp_path / "b")
    return a, tmp_path / "b"


def test_diff_dialog_draws_the_layer_matrix(qtbot, main_window, two_berts):
    from workbench.qt.deploy.actions import open_diff

    main_window.diff_action.trigger()
    dialog = main_window.deploy_dialogs["diff"]
    assert dialog is open_diff(main_window)  # one dialog per kind
    dialog.a_field.setText(str(two_berts[0]))
    dialog.b_field.setText(str(two_berts[1]))
    with qtbot.waitSignal(dialog.finished_work, timeout=TIMEOUT):
        dialog.run_button.click()
    shown = dialog.heatmap.matrix
    assert dialog.heatmap.rows == ["bert.encoder.layer.0", "bert.encoder.layer.1"]
    col = dialog.heatmap.cols.index("output.dense")
    moved = np.argwhere(np.nan_to_num(shown) > 0).tolist()
    assert moved == [[1, col]]
    assert shown[1, col] == pytest.approx(0.5, rel=1e-5)  # W * 1.5: ||dW|| / ||W|| = 0.5
    assert dialog.table.item(0, 0).text() == "bert.encoder.layer.1.output.dense"  # sorted
    dialog.close()


def test_diff_dialog_shows_errors_and_cancels(qtbot, main_window, two_berts, tmp_path):
    from workbench.qt.deploy.diff_dialog import DiffDialog

    dialog = DiffDialog(str(two_berts[0]), str(tmp_path / "missing"))
    qtbot.addWidget(dialog)
    with qtbot.waitSignal(dialog.failed_work, timeout=TIMEOUT) as blocker:
        dialog.start()
    assert "does not exist" in blocker.args[0] and "does not exist" in dialog.status.text()
    dialog.b_field.setText(str(two_berts[1]))
    task = dialog.start()
    task.cancel()
    qtbot.waitUntil(lambda: not task.running, timeout=TIMEOUT)
    assert dialog.result is None and dialog.run_button.isEnabled()
    dialog.close()


@pytest.fixture(scope="module")
def cls_run(tmp_path_factory):
    from workbench.core.training.runner import run_training

    run = tmp_path_factory.mktemp("qt-eval") / "run"
    assert run_training(tiny_spec("sequence-classification", run), Recorder()).status \
        == "finished"
    return run


def test_evaluate_dialog_shows_metrics_confusion_and_worst(qtbot, main_window, cls_run):
    main_window.evaluate_action.trigger()
    dialog = main_window.deploy_dialogs["evaluate"]
    assert "Choose a test file" in dialog.status.text()  # the empty tables say what to do
    dialog.path_field.setText(str(cls_run))
    dialog.data_field.setText(str(data_file("sequence-classification")))
    with qtbot.waitSignal(dialog.finished_work, timeout=TIMEOUT):
        dialog.run_button.click()
    _report, saved, _model_dir = dialog.result
    assert saved == str(cls_run / "evaluation.json")
    assert json.loads((cls_run / "evaluation.json").read_text())["num_examples"] == 64
    assert dialog.confusion.matrix.sum() == 64 and dialog.confusion.rows == ["neg", "pos"]
    metrics = {dialog.metrics_table.item(i, 0).text()
               for i in range(dialog.metrics_table.rowCount())}
    assert {"accuracy", "macro_f1", "micro_f1", "loss"} <= metrics
    assert dialog.worst_table.rowCount() == 10
    assert dialog.class_table.rowCount() == 2
    dialog.close()


def test_export_dialog_reports_verification(qtbot, main_window, tmp_path):
    main_window.export_action.trigger()
    dialog = main_window.deploy_dialogs["export"]
    assert "press Export" in dialog.report.placeholderText()  # the empty report says what to do
    dialog.path_field.setText(str(tiny_model("gpt2")))
    dialog.out_field.setText(str(tmp_path / "out"))
    assert not dialog.exporter_box.isEnabled()  # hf: no exporter to choose
    dialog.format_box.setCurrentText("onnx")
    assert dialog.exporter_box.isEnabled()
    dialog.exporter_box.setCurrentText("torchscript")
    with qtbot.waitSignal(dialog.finished_work, timeout=TIMEOUT):
        dialog.run_button.click()
    assert dialog.result["passed"] and "verified" in dialog.status.text()
    assert (tmp_path / "out" / "model.onnx").is_file()
    shown = json.loads(dialog.report.toPlainText())
    assert shown["perplexity"]["passed"] and shown["exporter"] == "torchscript"
    qtbot.waitUntil(dialog.run_button.isEnabled, timeout=TIMEOUT)
    with qtbot.waitSignal(dialog.failed_work, timeout=TIMEOUT):
        dialog.run_button.click()  # the folder is now full: refused
    assert "not empty" in dialog.status.text()
    dialog.close()


def test_serve_dialog_refuses_an_encoder(qtbot, main_window):
    main_window.serve_action.trigger()
    dialog = main_window.deploy_dialogs["serve"]
    dialog.path_field.setText(str(tiny_model("bert")))
    with qtbot.waitSignal(dialog.failed_work, timeout=TIMEOUT):
        dialog.run_button.click()
    assert "causal" in dialog.status.text() and dialog.server is None
    dialog.close()


def test_serve_dialog_serves_answers_and_stops_with_the_window(qtbot, main_window, tmp_path):
    import shutil

    from workbench.core.serve.server import free_port, port_in_use

    folder = tmp_path / "gpt2"
    shutil.copytree(tiny_model("gpt2"), folder)
    main_window.serve_action.trigger()
    dialog = main_window.deploy_dialogs["serve"]
    dialog.path_field.setText(str(folder))
    dialog.port_box.setValue(free_port())
    with qtbot.waitSignal(dialog.finished_work, timeout=300_000):
        dialog.run_button.click()
    server = dialog.server
    assert server.running() and server.url in dialog.url_label.text()
    assert "chat template" in dialog.status.text()  # the tiny tokenizer has none
    qtbot.waitUntil(lambda: "127.0.0.1" in dialog.log.toPlainText(), timeout=TIMEOUT)
    chat = dialog.chat  # over HTTP; no template, so /v1/completions streams plain text
    chat.max_new_tokens.setValue(6)
    chat.input.setPlainText("a good day")
    with qtbot.waitSignal(chat.reply_finished, timeout=TIMEOUT):
        chat.send_button.click()
    transcript = chat.columns[0].transcript.toPlainText()
    assert "Error" not in transcript and "plain text" in transcript
    assert chat.columns[0].history[-1]["role"] == "assistant"
    assert chat.columns[0].history[-1]["content"]
    dialog.close()
    assert not server.running()
    assert not port_in_use(server.port)
