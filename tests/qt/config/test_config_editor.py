"""The Edit config view and the New Model dialog, driven through their real widgets."""

from __future__ import annotations

import json
import shutil

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QKeySequence

TIMEOUT = 60_000


@pytest.fixture
def bert_copy(tiny_models, tmp_path):
    folder = tmp_path / "tiny-bert"
    shutil.copytree(tiny_models["bert"], folder)
    return folder


def open_editor(qtbot, window, folder):
    window.open_checkpoint(str(folder))
    qtbot.waitUntil(lambda: window.tabs.count() >= 1, timeout=TIMEOUT)
    tab = window.tabs.currentWidget()
    view = tab.show_view("Edit config")
    qtbot.waitUntil(lambda: view.panel.ready, timeout=TIMEOUT)
    return view


def commit_text(qtbot, form, name, text):
    """Type into a text field and press Enter, as a user would."""
    editor = form.rows[name].editor
    editor.clear()
    qtbot.keyClicks(editor, text)
    qtbot.keyClick(editor, Qt.Key.Key_Return)


def test_edit_updates_estimate_and_diff(qtbot, main_window, bert_copy):
    view = open_editor(qtbot, main_window, bert_copy)
    panel = view.panel
    before = panel.estimate.num_parameters
    assert before == panel.analysis.estimate.num_parameters > 0
    assert not view.save_action.isEnabled()  # nothing changed yet
    with qtbot.waitSignal(panel.analysisUpdated, timeout=TIMEOUT):
        panel.form.rows["num_hidden_layers"].editor.setValue(1)
    qtbot.waitUntil(lambda: panel.ready, timeout=TIMEOUT)
    after = panel.estimate.num_parameters
    layer = 4 * (32 * 32 + 32) + 2 * 32 + 32 * 64 + 64 + 64 * 32 + 32 + 2 * 32  # one BERT layer
    assert before - after == layer
    counts = panel.diff.section_counts()
    assert counts["Changed fields"] == 1 and counts["No longer used, dropped"] == 16
    assert panel.form.rows["num_hidden_layers"].label.text().startswith("\u25cf")
    assert view.save_action.isEnabled() and view.build_action.isEnabled()
    assert panel.last_latency_ms is not None


def test_invalid_value_shows_inline_error_disables_save_and_undo_restores(
        qtbot, main_window, bert_copy):
    view = open_editor(qtbot, main_window, bert_copy)
    panel, form = view.panel, view.panel.form
    form.rows["hidden_size"].editor.setValue(30)  # 4 heads do not divide 30
    assert "not divisible by num_attention_heads (4)" in form.message_for("hidden_size")
    assert "not divisible" in form.message_for("num_attention_heads")
    for action in (view.save_action, view.save_as_action, view.export_action,
                   view.build_action):
        assert not action.isEnabled()
    assert panel.estimate.num_parameters is None
    undo = main_window.config_undo_action
    assert undo.shortcut() == QKeySequence(QKeySequence.StandardKey.Undo)
    assert undo.isEnabled()
    undo.trigger()
    assert form.rows["hidden_size"].editor.value() == 32
    assert form.message_for("hidden_size") == ""
    qtbot.waitUntil(lambda: panel.ready, timeout=TIMEOUT)
    assert view.save_as_action.isEnabled()
    main_window.config_redo_action.trigger()
    assert panel.values["hidden_size"] == 30 and not view.save_as_action.isEnabled()


def test_text_fields_json_errors_and_the_library_check(qtbot, main_window, bert_copy):
    view = open_editor(qtbot, main_window, bert_copy)
    panel, form = view.panel, view.panel.form
    commit_text(qtbot, form, "eos_token_id", "[1, 2")
    assert "not valid JSON" in form.message_for("eos_token_id")
    assert not view.save_as_action.isEnabled()
    commit_text(qtbot, form, "eos_token_id", "[1, 2]")
    assert form.message_for("eos_token_id") == ""
    assert panel.values["eos_token_id"] == [1, 2]
    commit_text(qtbot, form, "hidden_act", "not_an_activation")
    qtbot.waitUntil(lambda: "transformers rejects" in form.message_for("hidden_act"),
                    timeout=TIMEOUT)
    assert not view.save_action.isEnabled()
    form.rows["hidden_act"].reset.click()  # back to the class default
    assert panel.values["hidden_act"] == "gelu"
    qtbot.waitUntil(lambda: panel.ready, timeout=TIMEOUT)


def test_filter_and_save_with_backup(qtbot, main_window, bert_copy):
    view = open_editor(qtbot, main_window, bert_copy)
    panel, form = view.panel, view.panel.form
    panel.filter.setText("dropout")
    visible = [n for n in form.rows if form.is_row_visible(n)]
    assert visible and all("dropout" in n or "dropout" in form.rows[n].spec.doc.lower()
                           for n in visible)
    assert not form.is_row_visible("vocab_size")
    panel.filter.setText("")
    original = (bert_copy / "config.json").read_text()
    commit_text(qtbot, form, "layer_norm_eps", "1e-06")
    qtbot.waitUntil(lambda: view.save_action.isEnabled(), timeout=TIMEOUT)
    view.save_action.trigger()
    assert json.loads((bert_copy / "config.json").read_text())["layer_norm_eps"] == 1e-06
    assert (bert_copy / "config.json.bak").read_text() == original
    assert not view.save_action.isEnabled()  # saved: no pending changes
    exported = view.export(str(bert_copy.parent / "out.json"))
    assert json.loads(open(exported).read())["layer_norm_eps"] == 1e-06


def test_build_from_checkpoint_weights_reports_and_opens(qtbot, main_window, bert_copy):
    view = open_editor(qtbot, main_window, bert_copy)
    view.panel.form.rows["num_hidden_layers"].editor.setValue(1)
    qtbot.waitUntil(lambda: view.build_action.isEnabled(), timeout=TIMEOUT)
    out = bert_copy.parent / "rebuilt"
    with qtbot.waitSignal(view.built, timeout=TIMEOUT) as blocker:
        view.build_from_weights(str(out))
    result = blocker.args[0]
    assert result.report.missing == ()
    unexpected = view.report_dialog.names("Unexpected")
    assert len(unexpected) == 16 and all(".layer.1." in n for n in unexpected)
    qtbot.waitUntil(lambda: main_window.tabs.count() == 2, timeout=TIMEOUT)
    assert main_window.tabs.currentWidget().info.root == str(out)
    view.report_dialog.close()


def test_new_model_dialog_builds_and_opens(qtbot, main_window, tmp_path):
    main_window.new_model_action.trigger()
    dialog = main_window.new_model_dialog
    dialog.tokenizer.setCurrentIndex(dialog.tokenizer.findData(None))  # no tokenizer: tiny vocab
    dialog.family.setCurrentIndex(dialog.family.findData("gpt2"))
    panel = dialog.panel
    assert panel.values["model_type"] == "gpt2"
    qtbot.waitUntil(lambda: dialog.build_button.isEnabled(), timeout=TIMEOUT)
    panel.form.rows["n_embd"].editor.setValue(100)  # 4 heads do not divide 100
    assert not dialog.build_button.isEnabled()
    panel.undo_stack.undo()
    panel.form.rows["n_layer"].editor.setValue(1)
    panel.form.rows["vocab_size"].editor.setValue(300)
    commit_text(qtbot, panel.form, "bos_token_id", "0")
    commit_text(qtbot, panel.form, "eos_token_id", "0")
    qtbot.waitUntil(lambda: dialog.build_button.isEnabled(), timeout=TIMEOUT)
    dialog.out.setText(str(tmp_path / "tiny-gpt2"))
    dialog.seed.setValue(5)
    with qtbot.waitSignal(dialog.built, timeout=TIMEOUT) as blocker:
        dialog.build_button.click()
    result = blocker.args[0]
    assert result.seed == 5 and result.num_parameters == panel.estimate.num_parameters
    assert (tmp_path / "tiny-gpt2" / "model.safetensors").is_file()
    qtbot.waitUntil(lambda: main_window.tabs.count() == 1, timeout=TIMEOUT)
    assert main_window.tabs.currentWidget().info.num_parameters > 0


def test_new_model_with_the_tokenizer_of_an_open_checkpoint(qtbot, main_window, minilm_path,
                                                            tmp_path):
    main_window.open_checkpoint(str(minilm_path))
    qtbot.waitUntil(lambda: main_window.tabs.count() == 1, timeout=TIMEOUT)
    main_window.new_model_action.trigger()
    dialog = main_window.new_model_dialog
    dialog.tokenizer.setCurrentIndex(0)  # None, then the open tab's below
    dialog.family.setCurrentIndex(dialog.family.findData("bert"))
    panel = dialog.panel
    panel.form.rows["vocab_size"].editor.setValue(1000)
    panel.form.rows["num_hidden_layers"].editor.setValue(1)
    qtbot.waitUntil(lambda: panel.ready, timeout=TIMEOUT)
    dialog.tokenizer.setCurrentIndex(1)  # the MiniLM tab's tokenizer, 30522 tokens
    assert panel.values["vocab_size"] == 30522  # matched to the tokenizer, as an undoable edit
    panel.undo_stack.undo()
    assert "tokenizer has 30,522 tokens" in panel.form.message_for("vocab_size")
    assert not dialog.build_button.isEnabled()
    panel.undo_stack.redo()
    qtbot.waitUntil(lambda: dialog.build_button.isEnabled(), timeout=TIMEOUT)
    dialog.out.setText(str(tmp_path / "bert-tok"))
    with qtbot.waitSignal(dialog.built, timeout=TIMEOUT) as blocker:
        dialog.build()
    assert "tokenizer.json" in blocker.args[0].files
    qtbot.waitUntil(lambda: main_window.tabs.count() == 2, timeout=TIMEOUT)
    assert main_window.tabs.currentWidget().info.tokenizer.vocab_size == 30522


def test_json_dialog_refuses_invalid_json(qtbot):
    from workbench.qt.config.form import JsonEditDialog

    dialog = JsonEditDialog("rope_parameters", '{"rope_type": "default"}')
    qtbot.addWidget(dialog)
    dialog.edit.setPlainText('{"rope_type": "linear", "factor": ')
    dialog._on_buttons_accepted()
    assert "Not valid JSON" in dialog.error.text() and dialog.result() == 0
    dialog.edit.setPlainText('{"rope_type": "linear", "factor": 2.0}')
    dialog._on_buttons_accepted()
    assert dialog.value == {"rope_type": "linear", "factor": 2.0}
    assert dialog.result() == dialog.DialogCode.Accepted


def test_save_as_writes_a_new_folder_and_opens_it(qtbot, main_window, bert_copy):
    view = open_editor(qtbot, main_window, bert_copy)
    before = (bert_copy / "config.json").read_bytes()
    commit_text(qtbot, view.panel.form, "hidden_dropout_prob", "0.0")
    qtbot.waitUntil(lambda: view.save_as_action.isEnabled(), timeout=TIMEOUT)
    out = bert_copy.parent / "saved-as"
    with qtbot.waitSignal(view.saved, timeout=TIMEOUT):
        view.save_as(str(out))
    assert json.loads((out / "config.json").read_text())["hidden_dropout_prob"] == 0.0
    assert (out / "model.safetensors").is_file()  # weights still fit: they came along
    assert (bert_copy / "config.json").read_bytes() == before
    qtbot.waitUntil(lambda: main_window.tabs.count() == 2, timeout=TIMEOUT)


def test_quick_steps_on_one_field_undo_together(qtbot, main_window, bert_copy):
    view = open_editor(qtbot, main_window, bert_copy)
    panel = view.panel
    spin = panel.form.rows["intermediate_size"].editor
    for _ in range(3):
        spin.stepUp()  # arrow clicks: one edit each, merged into one undo step
    assert panel.values["intermediate_size"] == 67
    assert panel.undo_stack.count() == 1
    panel.form.rows["num_hidden_layers"].editor.setValue(1)
    assert panel.undo_stack.count() == 2
    panel.undo_stack.undo()
    panel.undo_stack.undo()
    assert panel.values["intermediate_size"] == 64 and panel.values["num_hidden_layers"] == 2


def test_new_model_dialog_builds_one_panel_for_its_first_family_and_tokenizer(qtbot,
                                                                               monkeypatch):
    from workbench.qt.config import new_model_dialog

    built = []

    class CountedPanel(new_model_dialog.ConfigEditorPanel):  # the real panel, counted
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            built.append(self)

    monkeypatch.setattr(new_model_dialog, "ConfigEditorPanel", CountedPanel)
    dialog = new_model_dialog.NewModelDialog()
    qtbot.addWidget(dialog)
    assert built == [dialog.panel]  # one panel, not one per combo box set
    assert dialog.family.currentData() == "llama"
    demo = dialog.tokenizer.currentData()
    if demo is not None:  # the demo tokenizer chosen: the panel's vocabulary is its size
        assert dialog.panel.values["vocab_size"] == demo[1]
        assert dialog.panel.tokenizer_vocab_size == demo[1]
    assert dialog.panel.undo_stack.count() == 0  # nothing to undo in a fresh dialog
    dialog.family.setCurrentIndex(dialog.family.findData("gpt2"))  # a switch: one more
    assert len(built) == 2 and dialog.panel.values["model_type"] == "gpt2"
    dialog.done(0)
