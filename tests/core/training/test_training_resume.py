"""Resume and crash safety: step count continues, losses follow, half-written saves are ignored."""

from __future__ import annotations

import json
import shutil
import textwrap
from pathlib import Path

import pytest

from tests.fixtures.training import Recorder, kill_when, tiny_spec
from workbench.core.errors import WorkbenchError
from workbench.core.training.checkpoints import (
    MARKER_NAME,
    clean_staging,
    is_complete,
    latest_checkpoint,
    list_checkpoints,
    resolve_resume,
)
from workbench.core.training.runner import TrainControl, run_training
from workbench.core.training.runs import load_run_metrics, read_run

CLS = "sequence-classification"
REPO = Path(__file__).resolve().parents[3]


def _spec(path: Path, **changes):
    # 48 training rows / batch 8 = 6 steps per epoch, so step 8 is inside epoch 2.
    return tiny_spec(CLS, path, max_steps=8, save_steps=4, logging_steps=1, eval_split=0.25,
                     eval_steps=1000, **changes)


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    rec = Recorder()
    result = run_training(_spec(tmp_path_factory.mktemp("a") / "run"), rec)
    assert result.status == "finished"
    return result, rec


def test_resume_continues_the_step_count_and_follows_the_losses(tmp_path, uninterrupted):
    reference, ref_rec = uninterrupted
    control = TrainControl()
    first = Recorder(lambda e: control.cancel() if e.kind == "log" and e.step == 5 else None)
    run_dir = tmp_path / "run"
    stopped = run_training(_spec(run_dir), first, control)
    assert stopped.status == "cancelled"
    assert latest_checkpoint(run_dir).name == "checkpoint-4"

    second = Recorder()
    resumed = run_training(_spec(run_dir), second, resume_from=str(run_dir))
    assert resumed.status == "finished"
    started = next(e for e in second.events if e.kind == "started")
    assert started.step == 4 and "resumed from step 4" in started.message
    assert sorted(second.losses()) == [5, 6, 7, 8]
    expected = ref_rec.losses()
    for step, loss in second.losses().items():
        # Optimizer, scheduler, RNG and data position are restored: the same losses.
        assert loss == pytest.approx(expected[step], rel=1e-3, abs=1e-4), step
    lrs = {e.step: e.metrics["learning_rate"] for e in second.events if e.kind == "log"}
    ref_lrs = {e.step: e.metrics["learning_rate"] for e in ref_rec.events if e.kind == "log"}
    assert all(lrs[s] == pytest.approx(ref_lrs[s]) for s in lrs)
    # The run's record shows each step once (the interrupted session's step 5 is replaced).
    record = load_run_metrics(run_dir)
    assert [e.step for e in record if e.kind == "log"] == [1, 2, 3, 4, 5, 6, 7, 8]
    assert [e.step for e in record] == sorted(e.step for e in record)
    assert read_run(run_dir).status == "finished"
    assert resumed.metrics["eval_loss"] == pytest.approx(reference.metrics["eval_loss"],
                                                         rel=1e-3)


def test_extend_by_epochs_trains_more_steps(tmp_path):
    run_dir = tmp_path / "run"
    spec = tiny_spec(CLS, run_dir, num_epochs=1.0, max_steps=-1, eval_split=0.25,
                     logging_steps=2)
    first = run_training(spec, Recorder())
    assert first.status == "finished"
    steps_per_epoch = read_run(run_dir).step
    rec = Recorder()
    second = run_training(spec, rec, resume_from=str(run_dir), extend_epochs=1.0)
    assert second.status == "finished"
    assert rec.events[-1].step == 2 * steps_per_epoch
    assert json.loads((run_dir / "spec.json").read_text())["num_epochs"] == 2.0
    assert [c.name for c in list_checkpoints(run_dir)] == [
        f"checkpoint-{steps_per_epoch}", f"checkpoint-{2 * steps_per_epoch}"]


def test_incomplete_checkpoints_are_never_offered(tmp_path, uninterrupted):
    from transformers.trainer_utils import get_last_checkpoint

    reference, _ = uninterrupted
    run_dir = tmp_path / "run"
    shutil.copytree(reference.run_dir, run_dir)
    good = latest_checkpoint(run_dir)
    assert good.name == "checkpoint-8" and is_complete(good)
    # A crash after the rename but before the marker: a higher-numbered folder without marker.
    unmarked = run_dir / "checkpoints" / "checkpoint-12"
    shutil.copytree(good, unmarked)
    (unmarked / MARKER_NAME).unlink()
    # A crash while the marker's files were being written: a truncated weights file.
    truncated = run_dir / "checkpoints" / "checkpoint-10"
    shutil.copytree(good, truncated)
    marker = json.loads((truncated / MARKER_NAME).read_text())
    marker["step"] = 10
    (truncated / MARKER_NAME).write_text(json.dumps(marker))
    with (truncated / "model.safetensors").open("r+b") as f:
        f.truncate(100)
    # A crash mid-save: the staging folder.
    staging = run_dir / "checkpoints" / ".tmp-checkpoint-abc"
    shutil.copytree(good, staging / "checkpoint-16")
    # transformers' own helper would pick the half-written one; ours does not.
    assert get_last_checkpoint(str(run_dir / "checkpoints")).endswith("checkpoint-12")
    assert [c.name for c in list_checkpoints(run_dir)] == ["checkpoint-4", "checkpoint-8"]
    assert resolve_resume(run_dir)[1].name == "checkpoint-8"
    with pytest.raises(WorkbenchError, match="not a complete checkpoint"):
        resolve_resume(unmarked)
    assert clean_staging(run_dir) == 3
    assert sorted(p.name for p in (run_dir / "checkpoints").iterdir()) == [
        "checkpoint-4", "checkpoint-8"]


def test_resume_refuses_a_folder_without_checkpoints(tmp_path):
    with pytest.raises(WorkbenchError, match="no complete checkpoint"):
        run_training(_spec(tmp_path / "x"), Recorder(), resume_from=str(tmp_path))


_KILLED_SCRIPT = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    sys.path.insert(0, {repo!r})
    import transformers
    from tests.fixtures.training import Recorder, tiny_spec
    from workbench.core.training.runner import run_training

    original = transformers.Trainer._save_rng_state
    def slow_save(self, output_dir):
        original(self, output_dir)
        if self.state.global_step == 4:  # the second save: hang half-way so it can be killed
            Path(output_dir, "HALF_WRITTEN").write_text("x")
            time.sleep(600)
    transformers.Trainer._save_rng_state = slow_save
    spec = tiny_spec("sequence-classification", {run!r}, max_steps=8, save_steps=2,
                     eval_split=0.0)
    run_training(spec, Recorder())
""")


def test_process_killed_mid_save_leaves_nothing_resume_would_pick(tmp_path):
    run_dir = tmp_path / "run"
    script = tmp_path / "train_and_hang.py"
    script.write_text(_KILLED_SCRIPT.format(repo=str(REPO), run=str(run_dir)))
    kill_when(script, "checkpoints/*/checkpoint-4/HALF_WRITTEN", run_dir, REPO)
    assert [c.name for c in list_checkpoints(run_dir)] == ["checkpoint-2"]
    assert not (run_dir / "checkpoints" / "checkpoint-4").exists()
    assert read_run(run_dir).status == "interrupted"
    rec = Recorder()
    result = run_training(tiny_spec(CLS, run_dir, max_steps=8, save_steps=2, eval_split=0.0),
                          rec, resume_from=str(run_dir))
    assert result.status == "finished"
    assert next(e for e in rec.events if e.kind == "started").step == 2
    assert not list((run_dir / "checkpoints").glob(".tmp-*"))  # leftovers cleaned on resume


def test_only_the_newest_checkpoints_are_kept(tmp_path):
    spec = tiny_spec(CLS, tmp_path / "run", max_steps=4, save_steps=1, eval_split=0.0,
                     keep_checkpoints=2)
    rec = Recorder()
    result = run_training(spec, rec)
    assert [e.step for e in rec.events if e.kind == "checkpoint"] == [1, 2, 3, 4]
    assert [c.name for c in list_checkpoints(result.run_dir)] == ["checkpoint-3",
                                                                  "checkpoint-4"]
    assert sorted(p.name for p in (tmp_path / "run" / "checkpoints").iterdir()) == [
        "checkpoint-3", "checkpoint-4"]


def test_final_model_and_checkpoints_get_the_umask_permissions(uninterrupted):
    """final/ and checkpoints/ were 0700 folders holding 0600 weights, unreadable to a server."""
    from workbench.core.atomic import DIR_MODE, FILE_MODE

    result, _rec = uninterrupted
    final = Path(result.final_model_dir)
    [checkpoint] = list_checkpoints(result.run_dir)[-1:]
    for folder in (final, checkpoint):
        assert folder.stat().st_mode & 0o777 == DIR_MODE, folder
        weights = folder / "model.safetensors"
        assert weights.stat().st_mode & 0o777 == FILE_MODE, weights
