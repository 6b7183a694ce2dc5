"""The progress line and axes read true in every state (before, during, after a run)."""

from __future__ import annotations

from workbench.core.training.events import TrainEvent


def test_progress_before_during_and_after_a_cancelled_run(qtbot):
    from workbench.qt.train.curves import RunProgress

    progress = RunProgress()
    qtbot.addWidget(progress)
    assert progress.bar.format() == "no run yet"  # not "0 / 1 steps"
    progress.reset()
    events = [TrainEvent("log", s, 100, s / 100, s * 0.1, {"loss": 1.0}) for s in range(1, 6)]
    progress.add_events(events[:2])
    progress.add_events(events[2:])
    assert progress.bar.text() == "5 / 100 steps"
    progress.add_events([TrainEvent("cancelled", 5, 100, 0.05, 0.6)])
    assert progress.label.text().endswith("· cancelled") and "ETA" not in progress.label.text()


def test_axis_ticks_have_the_digits_their_spacing_needs_in_one_style():
    from workbench.qt.train.curves import tick_labels

    assert tick_labels([1.383147954940798, 1.388], 0.005) == ["1.383", "1.388"]
    assert tick_labels([0.0, 1.4], 0.1) == ["0", "1.4"]
    # a learning-rate axis read "0", "5e-05", "0.0001"
    assert tick_labels([0.0, 0.00005, 0.0001], 0.00005) == ["0", "5e-5", "1e-4"]
    assert tick_labels([0.000075, 0.0001], 0.000025) == ["7.5e-5", "1e-4"]
    assert tick_labels([0.0, 250_000.0, 300_000.0], 50_000.0) == ["0", "250,000", "300,000"]


def test_step_axis_ticks_are_whole_steps_at_every_zoom(qtbot):
    """A 3-step run drew "0 0.5 1 1.5 ..." on every step axis; a long one "12 (x1000)"."""
    import pyqtgraph as pg

    from workbench.qt.train.curves import StepAxis

    axis = StepAxis()
    plot = pg.PlotWidget(axisItems={"bottom": axis})
    qtbot.addWidget(plot)
    for low, high in ((0, 3), (1, 2), (0, 40), (0, 120_000)):
        plot.setXRange(low, high, padding=0)
        values = [v for _spacing, level in axis.tickValues(low, high, 300) for v in level]
        assert values and all(float(v).is_integer() for v in values), (low, high, values)
        assert all(spacing >= 1 for spacing, _ in axis.tickSpacing(low, high, 300))
    assert axis.tickStrings([12_000.0, 24_000.0], 1.0, 12_000.0) == ["12,000", "24,000"]
    assert axis.labelText == "step" and not axis.autoSIPrefix


def test_rate_after_resume_excludes_the_pause():
    import time

    from transformers import TrainerState

    from workbench.core.training.callbacks import EventCallback
    from workbench.core.training.runner import TrainControl

    sent = []
    callback = EventCallback(sent.append, TrainControl(), "sequence-classification", "cpu",
                             True, samples_per_step=8)
    callback.last_log = (time.perf_counter() - 3600.0, 5, 0)  # logged an hour ago, then paused
    state = TrainerState(global_step=5, max_steps=10)
    before = time.perf_counter()
    callback._resumed(state)
    assert callback.last_log[0] >= before and callback.last_log[1] == 5
    assert sent[-1].kind == "resumed"


def test_form_shows_sentinels_in_words_and_the_unused_eval_split(qtbot, tmp_path):
    from tests.fixtures.training import tiny_spec
    from workbench.qt.train.form import TrainForm

    form = TrainForm()
    qtbot.addWidget(form)
    form.set_spec(tiny_spec("sequence-classification", tmp_path, max_steps=-1, eval_steps=0))
    assert form.editors["max_steps"].widget.text() == "from epochs"
    assert form.editors["eval_steps"].widget.text() == "each epoch"
    assert form.editors["eval_split"].widget.isEnabled()
    form.set_value("eval_file", str(tmp_path / "eval.csv"))
    assert not form.editors["eval_split"].widget.isEnabled()
    assert form.spec().max_steps == -1  # the words stand for the value the spec keeps


def test_runs_are_named_by_model_task_and_time_in_the_user_data_folder(tmp_path,
                                                                         monkeypatch):
    from tests.fixtures.training import tiny_spec
    from workbench.core.training.runs import default_runs_root, run_name

    spec = tiny_spec("sequence-classification", tmp_path, method="lora")
    assert run_name(spec).endswith("-model-bert-sequence-classification-lora")
    monkeypatch.delenv("WORKBENCH_RUNS_DIR", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    assert default_runs_root() == tmp_path / "data" / "transformer-workbench" / "runs"


def test_a_run_started_again_in_the_same_second_gets_a_folder_of_its_own(tmp_path,
                                                                         monkeypatch):
    """Cancel, then Start at once: both runs are named by the same second, and the second was
    refused ("already holds a training run") while the view named the folder itself."""
    import workbench.core.training.runs as runs
    from tests.fixtures.training import tiny_spec

    monkeypatch.setattr(runs, "run_name", lambda _spec: "20261203-140000-model-bert")
    spec = tiny_spec("sequence-classification", tmp_path)
    first = runs.free_run_dir(tmp_path / "runs", spec)
    first.mkdir(parents=True)
    second = runs.free_run_dir(tmp_path / "runs", spec)
    assert second.name == f"{first.name}-2" and not second.exists()


def test_progress_says_failed_even_before_the_first_step(qtbot):
    from workbench.qt.train.curves import RunProgress

    progress = RunProgress()
    qtbot.addWidget(progress)
    progress.reset()
    progress.finish("failed")
    assert progress.label.text() == "failed"
    assert progress.bar.format() == "failed before the first step"
    progress.reset()
    progress.add_events([TrainEvent("log", 2, 10, 0.2, 1.0, {"loss": 1.0}),
                         TrainEvent("log", 4, 10, 0.4, 2.0, {"loss": 1.0})])
    progress.finish("failed")
    assert progress.label.text().startswith("step 4/10") and progress.label.text().endswith(
        "\u00b7 failed") and "ETA" not in progress.label.text()
