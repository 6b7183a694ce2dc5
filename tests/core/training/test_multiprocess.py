"""Training as several processes, started by `accelerate launch` exactly as the GUI starts it.

CPU only: DDP over gloo with 2 ranks on a tiny BERT whose dropout is off, so a 2-process run
with per-device batch 4 sees the same 8 examples per step as one process with batch 8 and its
logged loss must match that run's to float rounding (the mean of two equal-sized halves' means
is the mean of the whole; only the summation order differs).
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from tests.fixtures.launch import (  # no_orphans: a fixture
    free_port,
    launch_env,
    no_orphans,  # noqa: F401
    rank_pid,
    two_processes,
    wait_for,
)
from tests.fixtures.training import data_file
from workbench.core.training.checkpoints import list_checkpoints
from workbench.core.training.launch import LaunchSpec
from workbench.core.training.process_run import ProcessRun
from workbench.core.training.runs import load_run_metrics
from workbench.core.training.spec import TrainSpec

LAUNCH_TIMEOUT_S = 240
PLANNED = 80  # steps of the cancel-then-resume run


@pytest.fixture(scope="module")
def no_dropout_model(tmp_path_factory) -> Path:
    import torch
    import transformers

    from workbench.core.model.loading import demo_checkpoint_path

    folder = tmp_path_factory.mktemp("ddp-model")
    torch.manual_seed(0)
    config = transformers.BertConfig(
        hidden_size=32, num_attention_heads=4, intermediate_size=64, num_hidden_layers=2,
        vocab_size=30522, max_position_embeddings=64, hidden_dropout_prob=0.0,
        attention_probs_dropout_prob=0.0)
    transformers.BertForSequenceClassification(config).save_pretrained(folder)
    for name in ("tokenizer.json", "tokenizer_config.json", "vocab.txt"):
        if (demo_checkpoint_path() / name).is_file():
            shutil.copy(demo_checkpoint_path() / name, folder / name)
    return folder


def _spec(model: Path, out: Path, **changes) -> TrainSpec:
    base = dict(model_path=str(model), task="sequence-classification",
                train_file=str(data_file("sequence-classification")), eval_split=0.25,
                max_length=32, batch_size=4, max_steps=6, logging_steps=1, learning_rate=1e-3,
                save_steps=2, output_dir=str(out))
    base.update(changes)
    return TrainSpec(**base)


# every launched run's process group is ended after each test, whatever its outcome
pytestmark = pytest.mark.usefixtures("no_orphans")


def _losses(run_dir: Path) -> dict[int, float]:
    return {e.step: e.metrics["loss"] for e in load_run_metrics(run_dir)
            if e.kind == "log" and "loss" in e.metrics}


def test_two_processes_match_one_and_only_rank0_writes(no_dropout_model, tmp_path):
    from workbench.core.training.runner import run_training

    single = run_training(_spec(no_dropout_model, tmp_path / "one", batch_size=8), lambda e: None)
    assert single.status == "finished"

    run = ProcessRun.start(_spec(no_dropout_model, tmp_path / "two"), two_processes(),
                           env=launch_env())
    assert run.wait(LAUNCH_TIMEOUT_S) == 0, run.failure().message()
    assert not run.group_alive()
    one, two = _losses(tmp_path / "one"), _losses(tmp_path / "two")
    assert sorted(two) == sorted(one) == [1, 2, 3, 4, 5, 6]
    for step in one:
        assert two[step] == pytest.approx(one[step], rel=1e-4, abs=1e-5)
    folder = tmp_path / "two"
    # One record, written once: a line per event, one 'started', one final event.
    kinds = [json.loads(line)["kind"] for line in (folder / "metrics.jsonl").open()]
    assert kinds.count("started") == 1 and kinds[-1] == "finished"
    assert (folder / "final" / "model.safetensors").is_file()
    assert sorted(p.name for p in (folder / "logs").iterdir()) == [
        "launcher.log", "rank-0.log", "rank-1.log"]
    newest = list_checkpoints(folder)[-1]
    assert {"rng_state_0.pth", "rng_state_1.pth"} <= {p.name for p in newest.iterdir()}
    assert not [p for p in (folder / "checkpoints").iterdir() if p.name.startswith(".tmp")]
    assert (folder / "launch.sh").is_file() and (folder / "accelerate_config.yaml").is_file()


def test_cancel_stops_every_rank_with_a_checkpoint_then_resume_finishes(no_dropout_model,
                                                                         tmp_path):
    # Pause as soon as the first step is logged, with room to spare: steps of this tiny model
    # take tens of ms, so a short plan could finish before the control file is next read (the
    # watcher polls it) and no "paused" would ever come (seen in CI with max_steps=12).
    spec = _spec(no_dropout_model, tmp_path / "run", max_steps=PLANNED, save_steps=1000)
    launch = two_processes()
    run = ProcessRun.start(spec, launch, env=launch_env())
    assert wait_for(lambda: any(e.kind == "log" for e in load_run_metrics(run.run_dir)),
                    LAUNCH_TIMEOUT_S)
    run.send("pause")
    assert wait_for(lambda: any(e.kind == "paused" for e in load_run_metrics(run.run_dir)), 60)
    run.send("cancel")
    assert run.wait(120) == 0, run.failure().message()
    assert not run.group_alive()
    events = load_run_metrics(run.run_dir)
    assert events[-1].kind == "cancelled"
    stopped_at = events[-1].step
    assert stopped_at < PLANNED  # really stopped mid-run
    checkpoints = list_checkpoints(run.run_dir)
    assert checkpoints and checkpoints[-1].name == f"checkpoint-{stopped_at}"

    launch = LaunchSpec(mode="processes", num_processes=2, main_port=free_port())
    resumed = ProcessRun.resume(run.run_dir, launch, env=launch_env())
    assert resumed.wait(LAUNCH_TIMEOUT_S) == 0, resumed.failure().message()
    assert not resumed.group_alive()
    events = load_run_metrics(run.run_dir)
    assert events[-1].kind == "finished" and events[-1].step == PLANNED
    assert sorted(_losses(run.run_dir)) == list(range(1, PLANNED + 1))  # each logged once


def test_a_killed_rank_ends_the_launch_and_is_reported(no_dropout_model, tmp_path):
    import signal

    spec = _spec(no_dropout_model, tmp_path / "run", max_steps=400, save_steps=1000)
    run = ProcessRun.start(spec, two_processes(), env=launch_env())
    assert wait_for(lambda: any(e.kind == "log" for e in load_run_metrics(run.run_dir)),
                     LAUNCH_TIMEOUT_S)
    assert sorted(run.rank_pids()) == sorted([rank_pid(run.run_dir, 0),
                                              rank_pid(run.run_dir, 1)])  # both alive, ours
    os.kill(rank_pid(run.run_dir, 1), signal.SIGKILL)
    code = run.wait(120)
    if code is None:
        run.terminate()
    assert code not in (None, 0)
    assert not run.group_alive()
    failure = run.failure()
    assert failure.rank == 1 and failure.exit_code == -9
    assert "Rank 1 was killed by signal 9" in failure.message()


def test_save_now_reaches_every_rank_and_cancel_leaves_no_process(no_dropout_model, tmp_path):
    spec = _spec(no_dropout_model, tmp_path / "run", max_steps=400, save_steps=1000)
    run = ProcessRun.start(spec, two_processes(), env=launch_env())
    assert wait_for(lambda: any(e.kind == "log" and e.step >= 2
                                 for e in load_run_metrics(run.run_dir)), LAUNCH_TIMEOUT_S)
    run.send("save")
    assert wait_for(lambda: any(e.kind == "checkpoint" for e in load_run_metrics(run.run_dir)),
                     60)
    saved = list_checkpoints(run.run_dir)
    assert saved, "Save now wrote no complete checkpoint"
    # every rank's RNG state is in it: the request reached rank 1 at the same step
    assert {"rng_state_0.pth", "rng_state_1.pth"} <= {p.name for p in saved[0].iterdir()}

    escalation = run.cancel(load_run_metrics(run.run_dir))
    assert escalation.wait(120, final_seen=lambda: load_run_metrics(run.run_dir)[-1].is_final) \
        == "ended"
    assert not run.group_alive()
    events = load_run_metrics(run.run_dir)
    assert events[-1].kind == "cancelled"  # the main rank stopped at a step, with a checkpoint
    assert list_checkpoints(run.run_dir)[-1].name == f"checkpoint-{events[-1].step}"
