"""Chat fine-tuning's Setup page (issue 15): one example exactly as the model sees it after the
chat template, the loss tokens highlighted, and the count of examples max_length truncates."""

from __future__ import annotations

import json

import pytest

from tests.fixtures.chat import chat_spec, demo_file, tiny_chat_model

TIMEOUT = 60_000


@pytest.fixture
def preflight(qtbot):
    from workbench.qt.common.tasks import TaskRunner
    from workbench.qt.train.form import TrainForm
    from workbench.qt.train.preflight import PreflightPanel

    runner = TaskRunner()
    form = TrainForm()
    panel = PreflightPanel(runner)
    qtbot.addWidget(form)
    qtbot.addWidget(panel)
    panel.resize(480, 600)
    panel.show()
    yield form, panel
    panel.shutdown()
    runner.shutdown()


def _core(spec, row):
    """What core says: the preview of `row` and the number of rows longer than max_length."""
    from workbench.core.model.loading import load_tokenizer
    from workbench.core.training.chat_data import load_chat_rows, preview_chat
    from workbench.core.training.chat_templates import resolve_template

    tokenizer = load_tokenizer(spec.model_path)
    template, _name = resolve_template(tokenizer, spec.chat_template)
    rows = load_chat_rows(spec.train_file, tokenizer, template)
    long = sum(len(ids) > spec.max_length for ids in rows.input_ids)
    return preview_chat(spec, load_tokenizer(spec.model_path), row), long


def test_preview_shows_the_format_truncation_count_and_the_loss_text(qtbot, preflight, tmp_path):
    form, panel = preflight
    spec = chat_spec(tmp_path / "run", fmt="alpaca", max_length=40)
    form.set_spec(spec)
    with qtbot.waitSignal(panel.chat.loaded, timeout=TIMEOUT) as loaded:
        panel.schedule_update(form)
    assert panel.chat.isVisible() and not panel.table_and_plots.isVisible()
    core, long = _core(spec, 1)
    shown = loaded.args[0]
    assert long > 0 and shown.num_truncated == long  # the test data does get truncated
    summary = panel.chat.summary.text()
    assert "alpaca" in summary and f"<b>{long:,}</b> longer than max_length 40" in summary
    assert "the model's own chat template" in summary
    loss = "".join(text for text, kind in core.segments if kind == "loss")
    assert loss and panel.chat.shown_text("loss") == loss
    prompt = "".join(text for text, kind in core.segments if kind == "prompt")
    assert panel.chat.shown_text("prompt") == prompt
    assert "<|im_start|>" in prompt  # the template's own tokens are shown, not hidden

    # another row, and a standard template instead of the model's own
    with qtbot.waitSignal(panel.chat.loaded, timeout=TIMEOUT):
        panel.chat.row_spin.setValue(3)
    core, _long = _core(spec, 3)
    assert panel.chat.preview.row == 3
    assert panel.chat.shown_text("loss") == "".join(t for t, k in core.segments if k == "loss")
    assert panel.chat.shown_text("cut") == "".join(t for t, k in core.segments if k == "cut")
    form.set_value("chat_template", "zephyr")
    with qtbot.waitSignal(panel.chat.loaded, timeout=TIMEOUT):
        panel.schedule_update(form)
    assert "the zephyr template" in panel.chat.summary.text()
    form.set_value("chat_template", "")
    with qtbot.waitSignal(panel.chat.loaded, timeout=TIMEOUT):
        panel.schedule_update(form)  # the cached tokenizer still knows its own template
    assert "the model's own chat template" in panel.chat.summary.text()


def test_a_bad_row_is_named_inline(qtbot, preflight, tmp_path):
    form, panel = preflight
    rows = [json.loads(line) for line in demo_file("messages").read_text().splitlines()][:3]
    rows[1]["messages"] = [m for m in rows[1]["messages"] if m["role"] != "assistant"]
    bad = tmp_path / "bad.jsonl"
    bad.write_text("".join(json.dumps(r) + "\n" for r in rows))
    form.set_spec(chat_spec(tmp_path / "run", train_file=str(bad)))
    with qtbot.waitSignal(panel.chat.failed, timeout=TIMEOUT) as failed:
        panel.schedule_update(form)
    assert "bad.jsonl row 2" in failed.args[0] and "no assistant turn" in failed.args[0]
    text = panel.chat.summary.text()
    assert "bad.jsonl row 2" in text and "Traceback" not in text
    assert panel.chat.text.toPlainText() == ""


def test_form_offers_the_chat_fields_and_hides_the_column_pickers(qtbot):
    from workbench.qt.train.form import COLUMN_FIELDS, TrainForm

    form = TrainForm()
    qtbot.addWidget(form)
    rows = form._rows_of["Data"]
    chat_fields = ("chat_template", "packing", "sample_prompts")
    assert not any(rows.isRowVisible(form.editors[n].widget) for n in chat_fields)
    form.set_value("task", "chat-sft")
    assert all(rows.isRowVisible(form.editors[n].widget) for n in chat_fields)
    assert not any(rows.isRowVisible(form.editors[n].widget) for n in COLUMN_FIELDS)
    form.set_value("chat_template", "chatml")
    assert form.values()["chat_template"] == "chatml"


def test_demo_data_for_chat_keeps_the_checkpoint_and_fits_1024(qtbot, main_window):
    from PySide6.QtWidgets import QApplication

    from workbench.qt.train.view import CLOSE_DISCARD

    main_window.resize(1024, 700)
    model = tiny_chat_model()
    with qtbot.waitSignal(main_window.checkpointOpened, timeout=TIMEOUT) as opened:
        main_window.open_checkpoint(str(model))
    view = opened.args[0].show_view("Fine-tune")
    view.ask_close = lambda: CLOSE_DISCARD
    view.form.set_value("task", "chat-sft")
    with qtbot.waitSignal(view.preflight.chat.loaded, timeout=TIMEOUT):
        view.load_demo()
    spec = view.form.spec()
    assert spec.task == "chat-sft" and spec.train_file.endswith("chat_messages.jsonl")
    assert spec.model_path == str(model)
    view.preflight.chat.text.setPlainText("a long line " * 500)
    QApplication.processEvents()
    assert main_window.width() == 1024
