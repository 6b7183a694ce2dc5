"""Issue 11 faults: runs stuck by a failure or a kill can be started over or finished; full
disks, refused pickles and bugs end with messages that point at working actions."""

from __future__ import annotations

import json
import os
import pickle
import shutil
import textwrap
from pathlib import Path

import pytest
from transformers import TrainerCallback

from tests.fixtures.training import Recorder, kill_when, tiny_model, tiny_spec
from workbench.cli import main
from workbench.core.errors import RunFolderInUseError, WorkbenchError
from workbench.core.training.checkpoints import MARKER_NAME, latest_checkpoint
from workbench.core.training.events import TrainEvent
from workbench.core.training.runner import run_training
from workbench.core.training.runs import load_run_metrics, read_run

CLS = "sequence-classification"
REPO = Path(__file__).resolve().parents[3]


def _events(out: str) -> list[TrainEvent]:
    return [TrainEvent.from_json(line) for line in out.strip().splitlines()]


def test_a_run_failed_before_its_first_checkpoint_can_be_started_over(tmp_path, capsys):
    run_dir = tmp_path / "run"
    spec_path = tmp_path / "spec.json"
    tiny_spec(CLS, run_dir, label_column="sentiment", max_steps=2, eval_split=0.0).save(spec_path)
    # A setup failure with --json-events: every stdout line is an event, ending error + failed.
    assert main(["train", str(spec_path), "--json-events"]) == 1
    captured = capsys.readouterr()
    events = _events(captured.out)
    assert [e.kind for e in events[-2:]] == ["error", "failed"]
    assert "no column 'sentiment'" in events[-1].message
    assert "Traceback" not in captured.out + captured.err
    # and the folder says so too (the Runs list, a follower, the other machines' ranks)
    recorded = load_run_metrics(run_dir)[-1]
    assert recorded.kind == "failed" and recorded.message == events[-1].message
    assert read_run(run_dir).status == "failed"
    tiny_spec(CLS, run_dir, max_steps=2, eval_split=0.0).save(spec_path)
    # A new run and a resume both point at start over, which works; neither at the other.
    with pytest.raises(RunFolderInUseError) as new_run:
        run_training(tiny_spec(CLS, run_dir, max_steps=2, eval_split=0.0), Recorder())
    with pytest.raises(WorkbenchError) as resume:
        run_training(tiny_spec(CLS, run_dir), Recorder(), resume_from=str(run_dir))
    for message in (str(new_run.value), str(resume.value)):
        assert "--restart" in message and "Resume it" not in message
    (run_dir / "checkpoints" / ".tmp-checkpoint-left").mkdir()  # a crash's leftovers
    assert main(["train", str(spec_path), "--restart", "--json-events"]) == 0
    events = _events(capsys.readouterr().out)
    assert events[-1].kind == "finished" and events[-1].step == 2
    assert not list((run_dir / "checkpoints").glob(".tmp-*"))
    # The discarded attempt is gone from the record: one run, from step 0, finished.
    assert [e.kind for e in load_run_metrics(run_dir)].count("started") == 1
    assert read_run(run_dir).status == "finished"
    # A run with checkpoints: a new run points at resume (which works) and at start over.
    with pytest.raises(RunFolderInUseError, match=r"Resume it .*--restart"):
        run_training(tiny_spec(CLS, run_dir, max_steps=2, eval_split=0.0), Recorder())


class _Crash(TrainerCallback):
    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step == 2:
            raise ValueError("a bug in a callback\nsecond line")


def test_an_unexpected_error_has_no_traceback_in_its_message(tmp_path):
    rec = Recorder()
    result = run_training(tiny_spec(CLS, tmp_path / "run", eval_split=0.0), rec,
                          extra_callbacks=[_Crash()])
    assert result.status == "failed"
    assert result.message.startswith("Training failed at step 2: ValueError: a bug in a callback")
    assert "Traceback" not in result.message and "second line" not in result.message
    assert "Traceback" in result.details
    log = (tmp_path / "run" / "error.log").read_text()
    assert "Traceback" in log and "on_step_end" in log
    assert rec.events[-1].kind == "failed" and rec.events[-1].message == result.message


class _Evil:
    def __reduce__(self):
        return (os.system, ("echo pwned",))


def test_a_refused_resume_pickle_does_not_pass_on_torchs_advice(tmp_path):
    run_dir = tmp_path / "run"
    spec = tiny_spec(CLS, run_dir, max_steps=4, save_steps=2, eval_split=0.0)
    assert run_training(spec, Recorder()).status == "finished"
    checkpoint = run_dir / "checkpoints" / "checkpoint-2"
    rng = checkpoint / "rng_state.pth"
    rng.write_bytes(pickle.dumps(_Evil(), protocol=2))  # a plain GLOBAL opcode
    # A forged checkpoint passes our completeness check: its marker matches the new size.
    marker = json.loads((checkpoint / MARKER_NAME).read_text())
    marker["files"]["rng_state.pth"] = rng.stat().st_size
    (checkpoint / MARKER_NAME).write_text(json.dumps(marker))
    result = run_training(spec, Recorder(), resume_from=str(checkpoint))
    assert result.status == "failed"
    assert "weights_only" not in result.message and "False" not in result.message
    assert "the global 'posix.system'" in result.message and "not loaded" in result.message


def test_a_custom_code_tokenizer_is_reported_as_custom_code(tmp_path):
    from workbench.core.model.loading import load_tokenizer

    folder = tmp_path / "custom"
    shutil.copytree(tiny_model("bert"), folder)
    (folder / "tokenizer.json").unlink()
    config = json.loads((folder / "tokenizer_config.json").read_text())
    config.update(tokenizer_class="EvilTokenizer",
                  auto_map={"AutoTokenizer": [None, "tok.EvilTokenizer"]})
    (folder / "tokenizer_config.json").write_text(json.dumps(config))
    (folder / "tok.py").write_text("raise SystemExit('custom code ran')\n")
    with pytest.raises(WorkbenchError, match=r"custom code \(tok.EvilTokenizer") as error:
        load_tokenizer(folder)
    assert "Copy the tokenizer files" not in str(error.value)


_KILL_FINAL_SAVE = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    sys.path.insert(0, {repo!r})
    import workbench.core.training.session as session

    original = session.commit_folder
    def hang(staged, target, **kwargs):
        if Path(target).name == "final":  # final/ staged and complete, not yet renamed: hang
            Path(staged, "HANGING").write_text("x")
            time.sleep(600)
        return original(staged, target, **kwargs)
    session.commit_folder = hang
    from workbench.cli import main
    sys.exit(main(["train", {spec!r}, "--json-events"]))
""")


def test_a_kill_during_the_final_save_is_finished_by_resume(tmp_path, capsys):
    from safetensors.numpy import load_file

    run_dir = tmp_path / "run"
    spec_path = tmp_path / "spec.json"
    tiny_spec(CLS, run_dir, max_steps=3, save_steps=3, eval_split=0.25).save(spec_path)
    script = tmp_path / "train_and_hang.py"
    script.write_text(_KILL_FINAL_SAVE.format(repo=str(REPO), spec=str(spec_path)))
    kill_when(script, ".tmp-final-*/HANGING", run_dir, REPO)
    assert not (run_dir / "final").exists() and latest_checkpoint(run_dir).name == "checkpoint-3"
    assert main(["train", "--resume", str(run_dir), "--json-events"]) == 0
    events = _events(capsys.readouterr().out)
    assert any("rebuilding final/ from checkpoint-3" in e.message for e in events)
    assert events[-1].kind == "finished" and events[-1].step == 3
    assert "eval_loss" in events[-1].metrics  # the evaluation the kill skipped was run
    assert not list(run_dir.glob(".tmp-*"))  # the crash's staging folder was cleaned
    final = load_file(run_dir / "final" / "model.safetensors")
    saved = load_file(run_dir / "checkpoints" / "checkpoint-3" / "model.safetensors")
    assert final.keys() == saved.keys()
    assert all((final[k] == saved[k]).all() for k in final)
    assert read_run(run_dir).final_model_dir == str(run_dir / "final")
    # Now the run is complete: resuming again says what works (extend or start over).
    assert main(["train", "--resume", str(run_dir)]) == 1
    assert "--extend-epochs" in capsys.readouterr().err


@pytest.mark.parametrize("method", ["full", "lora"])
def test_resume_rebuilds_a_missing_final_model_from_the_last_checkpoint(tmp_path, method):
    from safetensors.numpy import load_file

    run_dir = tmp_path / "run"
    spec = tiny_spec(CLS, run_dir, max_steps=2, save_steps=2, eval_split=0.0, method=method)
    assert run_training(spec, Recorder()).status == "finished"
    weights = "adapter_model.safetensors" if method == "lora" else "model.safetensors"
    before = load_file(run_dir / "final" / weights)
    # What a kill during the final save leaves: final/ still staged, not renamed.
    (run_dir / "final").rename(run_dir / ".tmp-final-abc")
    rec = Recorder()
    result = run_training(spec, rec, resume_from=str(run_dir))
    assert result.status == "finished" and result.final_model_dir == str(run_dir / "final")
    after = load_file(run_dir / "final" / weights)
    assert before.keys() == after.keys() and all((before[k] == after[k]).all() for k in before)
    assert not list(run_dir.glob(".tmp-*"))
    assert "started" not in rec.kinds()  # no step was trained again


def test_extend_epochs_must_be_a_finite_number(tmp_path):
    with pytest.raises(WorkbenchError, match="extend_epochs"):
        run_training(tiny_spec(CLS, tmp_path / "run"), Recorder(), resume_from=str(tmp_path),
                     extend_epochs=float("nan"))


def test_an_unsafe_pickled_base_model_is_refused_without_torchs_advice(tmp_path, capsys):
    folder = tmp_path / "pickled"
    shutil.copytree(tiny_model("bert"), folder)
    (folder / "model.safetensors").unlink()
    (folder / "pytorch_model.bin").write_bytes(pickle.dumps(_Evil(), protocol=2))
    spec_path = tmp_path / "spec.json"
    tiny_spec(CLS, tmp_path / "run", model_path=str(folder)).save(spec_path)
    assert main(["train", str(spec_path), "--json-events"]) == 1
    out = capsys.readouterr().out
    failed = _events(out)[-1]
    assert failed.kind == "failed" and "the global 'posix.system'" in failed.message
    assert "weights_only" not in out and "unexpected" not in out
