"""The Fine-tune view: generated form, validation, a real run with live curves, controls, close."""

from __future__ import annotations

import csv
import dataclasses
import random
import shutil
from pathlib import Path

import pytest

TRAIN_ROWS = 96


@pytest.fixture(scope="module")
def tiny_classifier_setup(tmp_path_factory, minilm_tokenizer_files):
    """A tiny BERT sharing MiniLM's vocabulary (so its tokenizer fits) and a learnable CSV."""
    import torch
    import transformers

    root = tmp_path_factory.mktemp("train_view")
    model_dir = root / "tinybert"
    torch.manual_seed(0)
    config = transformers.BertConfig(vocab_size=30522, hidden_size=32, num_hidden_layers=2,
                                     num_attention_heads=4, intermediate_size=64,
                                     max_position_embeddings=64)
    transformers.BertForMaskedLM(config).save_pretrained(model_dir)
    for f in minilm_tokenizer_files:
        shutil.copy(f, model_dir / f.name)
    rng = random.Random(0)
    pos, neg = ["good", "great", "lovely", "fun"], ["bad", "awful", "boring", "dull"]
    data = root / "train.csv"
    with data.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["text", "label"])
        for i in range(TRAIN_ROWS):
            words = pos if i % 2 else neg
            writer.writerow([f"the film was {rng.choice(words)} and {rng.choice(words)}",
                             "pos" if i % 2 else "neg"])
    return model_dir, data


@pytest.fixture
def train_view(main_window, qtbot, tiny_classifier_setup, tmp_path, monkeypatch):
    """The Fine-tune view of the tiny model's tab, with runs written under tmp_path."""
    monkeypatch.setenv("WORKBENCH_RUNS_DIR", str(tmp_path / "runs"))
    model_dir, _ = tiny_classifier_setup
    with qtbot.waitSignal(main_window.checkpointOpened, timeout=30_000) as opened:
        main_window.open_checkpoint(str(model_dir))
    view = opened.args[0].show_view("Fine-tune")
    from workbench.qt.train.view import CLOSE_DISCARD

    view.ask_close = lambda: CLOSE_DISCARD  # closing the window never waits on a dialog
    return view  # pytest-qt closes the window, which shuts the view down


def _fill(view, setup, **changes):
    from workbench.core.training.spec import TrainSpec

    model_dir, data = setup
    spec = TrainSpec(model_path=str(model_dir), task="sequence-classification",
                     train_file=str(data), max_length=32, batch_size=8, logging_steps=1,
                     learning_rate=1e-3, **changes)
    view.form.set_spec(spec)
    return spec


def _points(curve) -> int:
    x, _y = curve.getData()
    return 0 if x is None else len(x)


def test_form_has_an_editor_for_every_trainspec_field(qtbot):
    from workbench.core.training.spec import TrainSpec, choices, field_docs
    from workbench.qt.train.form import TrainForm

    form = TrainForm()
    qtbot.addWidget(form)
    names = [f.name for f in dataclasses.fields(TrainSpec)]
    assert sorted(form.editors) == sorted(names)
    docs = field_docs()
    for name in names:
        widget = form.editors[name].widget
        assert widget.toolTip() == docs.get(name, ""), name
    for name, options in choices().items():
        combo = form.editors[name].widget
        assert [combo.itemData(i) for i in range(combo.count())] == options
    # the defaults of the dataclass are what the form starts with
    values = form.values()
    for f in dataclasses.fields(TrainSpec):
        if f.default is not dataclasses.MISSING:
            assert values[f.name] == f.default, f.name


def test_lora_targets_offered_from_the_module_tree(qtbot, tiny_models):
    from workbench.core.checkpoint.inspection import inspect_checkpoint
    from workbench.qt.train.form import TrainForm

    form = TrainForm()
    qtbot.addWidget(form)
    form.set_module_tree(inspect_checkpoint(tiny_models["llama"]).module_tree)
    editor = form.editors["lora_target_modules"]
    assert {"q_proj", "k_proj", "v_proj", "o_proj"} <= set(editor.candidates)
    assert editor.defaults == ["q_proj", "v_proj"]
    assert not editor.widget.isEnabled()  # method is "full"
    form.set_value("method", "lora")
    assert editor.widget.isEnabled()


def test_invalid_value_shows_error_and_blocks_start(train_view, tiny_classifier_setup):
    view = train_view
    _fill(view, tiny_classifier_setup, max_steps=4)
    view.form.editors["learning_rate"].set_text("-0.5")
    view.start_button.click()
    assert view.session is None
    assert not view.form.error_label.isHidden()
    assert "learning_rate" in view.form.error_label.text()
    assert view.form.error_field == "learning_rate"
    view.form.editors["learning_rate"].set_text("fast")
    view.start_button.click()
    assert view.session is None
    assert "not a number" in view.form.error_label.text()


def test_run_draws_curves_and_finishes_with_a_summary(train_view, tiny_classifier_setup, qtbot):
    view = train_view
    _fill(view, tiny_classifier_setup, max_steps=8, eval_steps=4)
    with qtbot.waitSignal(view.runFinished, timeout=180_000) as done:
        view.start_button.click()
        qtbot.waitUntil(lambda: _points(view.curves.curves["loss"]) > 0, timeout=120_000)
    result = done.args[0]
    assert result.status == "finished", result.message
    view.curves.redraw()
    steps, losses = view.curves.curves["loss"].getData()
    assert list(steps) == list(range(1, 9))
    assert all(0 < v < 10 for v in losses)
    eval_steps, _ = view.curves.curves["eval_loss"].getData()
    assert 4 in list(eval_steps) and 8 in list(eval_steps)
    assert len(view.curves.curves["learning_rate"].getData()[0]) == 8
    # events came in batches, not one signal per event
    assert view.session.batches < view.session.events_seen
    assert view.progress.bar.value() == view.progress.bar.maximum() == 8
    assert "finished" in view.summary.label.text()
    assert "eval_accuracy" in view.summary.label.text()
    view.summary.input.setText("the film was great and fun")
    view.summary.try_button.click()
    qtbot.waitUntil(lambda: bool(view.summary.last_output), timeout=60_000)
    assert view.summary.last_output.split("\n")[0] in ("pos", "neg")
    view.summary.evaluate_button.click()  # the base model on the same eval rows, for before/after
    qtbot.waitUntil(lambda: view.summary.before is not None, timeout=60_000)
    assert 0.0 <= view.summary.before["eval_accuracy"] <= 1.0
    assert "base model" in view.summary.label.text()
    # the run appears in the runs list and its curves can be shown again
    runs = view.runs
    qtbot.waitUntil(lambda: any(r.run_dir == result.run_dir for r in runs.runs), timeout=10_000)
    runs.select_run(result.run_dir)
    qtbot.waitUntil(lambda: runs.curves.series["loss"].n == 8, timeout=10_000)
    runs.set_checked([result.run_dir])
    qtbot.waitUntil(lambda: len(runs.comparison_items()) == 2, timeout=10_000)


def test_pause_inspect_resume_and_cancel_from_the_ui(train_view, tiny_classifier_setup, qtbot):
    from workbench.qt.train.summary import inspect_live_attention

    view = train_view
    _fill(view, tiny_classifier_setup, max_steps=400)
    view.save_on_cancel.setChecked(False)
    view.start_button.click()
    qtbot.waitUntil(lambda: view.curves.series["loss"].n >= 2, timeout=120_000)
    view.save_now_button.click()  # a resumable checkpoint at the next step
    qtbot.waitUntil(lambda: "[checkpoint @" in view.progress.log.toPlainText(), timeout=60_000)
    view.pause_button.click()
    qtbot.waitUntil(lambda: view.session.state == "paused", timeout=30_000)
    assert view.pause_button.text() == "Resume"
    assert view.attention_button.isEnabled()
    qtbot.wait(300)
    view.session.drain()
    paused_at = view.curves.series["loss"].n
    qtbot.wait(700)
    view.session.drain()
    assert view.curves.series["loss"].n == paused_at  # no step while paused

    task = inspect_live_attention(view, view.session, text="the film was great")
    assert task is not None
    qtbot.waitUntil(lambda: not task.running, timeout=30_000)
    maps = view.attention_dialog.maps
    assert maps is not None and maps.maps["self"].shape[0] == 2  # (layers, heads, T, T)
    view.attention_dialog.close()

    view.pause_button.click()  # Resume
    qtbot.waitUntil(lambda: view.curves.series["loss"].n > paused_at + 1, timeout=60_000)
    with qtbot.waitSignal(view.runFinished, timeout=60_000) as done:
        view.cancel_button.click()
    result = done.args[0]
    assert result.status == "cancelled"
    assert list((Path(result.run_dir) / "checkpoints").glob("checkpoint-*"))  # from Save now
    assert view.curves.series["loss"].x[-1] < 400
    assert view.start_button.isEnabled()


def test_lora_run_from_the_form_saves_an_adapter(train_view, tiny_classifier_setup, qtbot):
    view = train_view
    _fill(view, tiny_classifier_setup, max_steps=3)
    view.form.set_value("method", "lora")
    assert view.form.editors["lora_r"].widget.isEnabled()
    view.form.editors["lora_target_modules"].set_text("query, value")
    with qtbot.waitSignal(view.runFinished, timeout=180_000) as done:
        view.start_button.click()
    result = done.args[0]
    assert result.status == "finished", result.message
    assert (Path(result.final_model_dir) / "adapter_config.json").is_file()


def test_closing_the_tab_asks_too(train_view, tiny_classifier_setup, qtbot, main_window):
    from workbench.qt.train import view as module

    view = train_view
    _fill(view, tiny_classifier_setup, max_steps=400)
    view.start_button.click()
    qtbot.waitUntil(lambda: view.curves.series["loss"].n >= 1, timeout=120_000)
    view.ask_close = lambda: module.CLOSE_KEEP
    main_window.close_tab(0)
    assert main_window.tabs.count() == 1 and view.running
    view.ask_close = lambda: module.CLOSE_SAVE
    main_window.close_tab(0)
    assert main_window.tabs.count() == 0
    assert view.session.result.status == "cancelled"


def test_closing_the_window_asks_then_stops_the_run(train_view, tiny_classifier_setup, qtbot,
                                                   main_window):
    from workbench.qt.train import view as module

    view = train_view
    _fill(view, tiny_classifier_setup, max_steps=400)
    view.start_button.click()
    qtbot.waitUntil(lambda: view.curves.series["loss"].n >= 1, timeout=120_000)
    view.ask_close = lambda: module.CLOSE_KEEP
    assert not main_window.close()
    assert view.running
    view.ask_close = lambda: module.CLOSE_DISCARD
    assert main_window.close()
    assert not view.running
    assert view.session.result is not None and view.session.result.status == "cancelled"


def test_load_demo_fills_the_form(train_view):
    from workbench.core.training.spec import demo_data_dir

    if not (demo_data_dir() / "train.csv").is_file():
        pytest.skip("the demo data is not in this checkout yet")
    train_view.demo_button.click()
    spec = train_view.form.spec()
    assert spec is not None
    assert Path(spec.train_file).name == "train.csv"


def test_preflight_shows_data_schedule_and_memory(train_view, tiny_classifier_setup, qtbot):
    view = train_view
    panel = view.preflight
    assert panel.table_and_plots.isHidden()  # no file yet: the sentence, not empty axes
    assert "Choose a training file" in panel.data_label.text()
    _fill(view, tiny_classifier_setup, num_epochs=2.0, eval_split=0.25)
    # 96 rows, 25% held out -> 72 train rows -> 9 steps per epoch at batch 8 -> 18 steps
    qtbot.waitUntil(lambda: panel.plan is not None and panel.plan["steps"] == 18,
                    timeout=60_000)
    assert panel.preview.label_counts == {"neg": 48, "pos": 48}
    assert panel.preview.token_length_counts.sum() > 0
    assert not panel.table_and_plots.isHidden()
    assert not panel.lengths_plot.getAxis("bottom").autoSIPrefix  # "tokens", never "(x0.001)"
    x, lr = panel.lr_curve.getData()
    assert len(x) == 18 and lr[0] == pytest.approx(1e-3) and lr[-1] < lr[0]
    combo = view.form.editors["text_column"].widget
    assert [combo.itemText(i) for i in range(combo.count())] == ["text", "label"]
    assert panel.plan["memory"].fits and "Fits on the device" in panel.memory_label.text()
    view.form.set_value("batch_size", 50_000_000)  # activations far beyond any machine's RAM
    qtbot.waitUntil(lambda: panel.plan["memory"] is not None
                    and not panel.plan["memory"].fits, timeout=60_000)
    assert "does not fit" in panel.memory_label.text()


def test_extend_a_finished_run_from_the_runs_list(train_view, tiny_classifier_setup, qtbot):
    view = train_view
    _fill(view, tiny_classifier_setup, max_steps=4)
    with qtbot.waitSignal(view.runFinished, timeout=180_000) as first:
        view.start_button.click()
    run_dir = first.args[0].run_dir
    runs = view.runs
    qtbot.waitUntil(lambda: any(r.run_dir == run_dir for r in runs.runs), timeout=10_000)
    runs.select_run(run_dir)
    assert runs.extend_button.isEnabled()
    assert not runs.resume_button.isEnabled()  # finished: nothing to continue, only extend
    runs.extend_epochs.setValue(0.5)  # 86 train rows / 8 = 11 steps per epoch -> +6 steps
    with qtbot.waitSignal(view.runFinished, timeout=180_000) as second:
        runs.extend_button.click()
    result = second.args[0]
    assert result.status == "finished" and result.run_dir == run_dir
    steps = list(view.curves.series["loss"].x)
    assert steps == list(range(1, 11))  # the first session's steps, then the resumed ones


def test_tools_menu_opens_the_demo_ready_to_fine_tune(main_window, qtbot):
    from workbench.core.training.spec import demo_data_dir

    if not (demo_data_dir() / "train.csv").is_file():
        pytest.skip("the demo data is not in this checkout yet")
    with qtbot.waitSignal(main_window.checkpointOpened, timeout=60_000) as opened:
        main_window.finetune_demo_action.trigger()
    view = opened.args[0].views["Fine-tune"]
    assert view.form.editors["train_file"].text() == str(demo_data_dir() / "train.csv")
    assert view.form.spec() is not None


def test_bad_data_fails_before_training_with_a_message(train_view, tiny_classifier_setup,
                                                       qtbot, monkeypatch):
    from workbench.qt.train import view as module

    shown = []
    monkeypatch.setattr(module, "show_error", lambda _p, title, msg, details="":
                        shown.append((title, msg, details)))
    view = train_view
    _fill(view, tiny_classifier_setup, max_steps=4, label_column="sentiment")
    view.start_button.click()
    qtbot.waitUntil(lambda: bool(shown), timeout=60_000)
    _title, message, _details = shown[0]
    assert "sentiment" in message and "label" in message  # names the column and the choices
    qtbot.waitUntil(lambda: view.start_button.isEnabled(), timeout=10_000)
    assert view.curves.series["loss"].n == 0


def test_a_run_stuck_before_its_first_checkpoint_is_offered_start_over(
        train_view, tiny_classifier_setup, qtbot, monkeypatch, tmp_path):
    from workbench.qt.train import view as module

    shown, offered = [], []
    monkeypatch.setattr(module, "show_error", lambda _p, title, msg, details="":
                        shown.append(msg))
    view = train_view
    view.ask_start_over = lambda title, message: offered.append(message) or True
    run_dir = tmp_path / "stuck"
    _fill(view, tiny_classifier_setup, max_steps=2, label_column="sentiment",
          output_dir=str(run_dir))
    view.start_button.click()  # fails on its data: a plain error, no start over offered
    qtbot.waitUntil(lambda: bool(shown), timeout=60_000)
    qtbot.waitUntil(lambda: view.start_button.isEnabled(), timeout=10_000)
    assert not offered and (run_dir / "spec.json").is_file()
    _fill(view, tiny_classifier_setup, max_steps=2, output_dir=str(run_dir))
    with qtbot.waitSignal(view.runFinished, timeout=120_000) as done:
        view.start_button.click()  # refused by the stuck folder -> "Start over" -> trains
    assert offered and "Start over" in offered[0] and len(shown) == 1
    assert done.args[0].status == "finished" and done.args[0].run_dir == str(run_dir)


def test_status_line_progress_and_eta_in_every_state(train_view, tiny_classifier_setup, qtbot):
    """idle -> running -> paused -> running -> cancelled -> idle, then finished (issue 12)."""
    view = train_view
    # a failure offering "Start over" must fail this test, not wait on a modal box (CI once
    # hung there after the cancelled run; not reproduced locally)
    offered = []
    view.ask_start_over = lambda _title, message: offered.append(message) or False
    progress = view.progress
    assert view.state_label.text() == "Idle"
    assert progress.bar.format() == "no run yet" and progress.label.text() == "Not started."
    _fill(view, tiny_classifier_setup, max_steps=400)
    view.save_on_cancel.setChecked(False)
    view.start_button.click()
    qtbot.waitUntil(lambda: view.curves.series["loss"].n >= 3, timeout=120_000)
    assert view.state_label.text() == "Training"
    assert progress.bar.format() == "%v / %m steps" and progress.bar.maximum() == 400
    qtbot.waitUntil(lambda: "ETA" in progress.label.text(), timeout=30_000)
    assert progress.label.text().startswith("step ")
    view.pause_button.click()
    qtbot.waitUntil(lambda: view.session.state == "paused", timeout=30_000)
    qtbot.waitUntil(lambda: progress.label.text().endswith("\u00b7 paused"), timeout=10_000)
    assert view.state_label.text() == "Paused" and "ETA" not in progress.label.text()
    view.pause_button.click()  # Resume
    qtbot.waitUntil(lambda: view.state_label.text() == "Training", timeout=30_000)
    with qtbot.waitSignal(view.runFinished, timeout=60_000):
        view.cancel_button.click()
    qtbot.waitUntil(lambda: view.session.state == "idle", timeout=30_000)
    assert view.state_label.text() == "Idle \u00b7 last run cancelled"
    assert progress.label.text().endswith("\u00b7 cancelled")
    assert "ETA" not in progress.label.text() and "paused" not in progress.label.text()
    # a short run to the end
    _fill(view, tiny_classifier_setup, max_steps=3)
    with qtbot.waitSignal(view.runFinished, timeout=120_000) as done:
        view.start_button.click()
    assert not offered
    assert done.args[0].status == "finished"
    qtbot.waitUntil(lambda: view.session.state == "idle", timeout=30_000)
    assert view.state_label.text() == "Idle \u00b7 last run finished"
    assert progress.label.text().startswith("step 3/3") and progress.label.text().endswith(
        "\u00b7 finished")
    assert progress.bar.value() == progress.bar.maximum() == 3

