"""Issue 11: a full disk during a run removes the partial save, records the failure event and
names the space needed; metrics.jsonl holds whole lines only (real size-limited tmpfs)."""

from __future__ import annotations

import errno
import json
import os
import subprocess
from pathlib import Path

import pytest

from tests.fixtures.training import Recorder, tiny_spec
from workbench.core.training.events import TrainEvent
from workbench.core.training.runner import run_training
from workbench.core.training.runs import RESERVE_NAME, MetricsLog, load_run_metrics

CLS = "sequence-classification"


@pytest.fixture
def small_disk(tmp_path, request):
    """A folder on a tmpfs of `request.param` bytes; skipped where mounting is not allowed."""
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={request.param}", "tmpfs",
                           str(mount)], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a size-limited tmpfs here (needs root and CAP_SYS_ADMIN): "
                    f"{done.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def _fill(folder: Path) -> Path:
    """Write a file until the disk is full; return it (delete it to free the space)."""
    filler = folder / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT)
    try:
        while True:
            try:
                if os.write(fd, b"x" * 4096) < 4096:
                    break
            except OSError as e:
                if e.errno != errno.ENOSPC:
                    raise
                break
    finally:
        os.close(fd)
    return filler


def _lines(path: Path) -> list[dict]:
    data = path.read_bytes()
    assert data.endswith(b"\n"), "metrics.jsonl ends in half a line"
    return [json.loads(line) for line in data.decode().splitlines()]  # every line whole


@pytest.mark.parametrize("small_disk", ["8m"], indirect=True)
def test_a_full_disk_during_a_checkpoint_save(small_disk):
    # The tiny model's weights (~4 MB) fit, its AdamW state (~8 MB more) does not.
    run_dir = small_disk / "run"
    rec = Recorder()
    result = run_training(tiny_spec(CLS, run_dir, max_steps=2, save_steps=1, eval_split=0.0),
                          rec)
    assert result.status == "failed"
    assert result.message.startswith("The disk is full: writing the checkpoint at step 1 needs "
                                     "about 1")  # MiB: weights + optimizer state + margin
    assert "MiB is free" in result.message and "--restart" in result.message
    assert "Traceback" not in result.message and "unexpected" not in result.message
    assert sorted(p.name for p in (run_dir / "checkpoints").iterdir()) == []  # partial removed
    events = _lines(run_dir / "metrics.jsonl")
    assert events[-1]["kind"] == "failed" and events[-1]["message"] == result.message
    assert rec.events[-1].kind == "failed"
    assert not (run_dir / RESERVE_NAME).exists()


@pytest.mark.parametrize("small_disk", ["1m"], indirect=True)
def test_the_metrics_log_keeps_whole_lines_and_the_events_on_a_full_disk(small_disk):
    log = MetricsLog(small_disk)
    assert (small_disk / RESERVE_NAME).stat().st_size > 0
    filler = _fill(small_disk)
    events = [TrainEvent("log", i, 400, 0.0, float(i), {"loss": 1.0 / (i + 1)}, "x" * 300)
              for i in range(400)]
    for event in events:
        log.write(event)
    # The reserve made room for some; the rest wait in memory, none half-written.
    on_disk = _lines(small_disk / "metrics.jsonl")
    assert 0 < len(on_disk) < 400 and log.pending == 400 - len(on_disk)
    assert [e["step"] for e in on_disk] == list(range(len(on_disk)))
    filler.unlink()
    log.close()  # retried once there is room
    assert [e["step"] for e in _lines(small_disk / "metrics.jsonl")] == list(range(400))
    assert [e.step for e in load_run_metrics(small_disk)] == list(range(400))


def test_a_partial_last_line_is_dropped_and_tolerated(tmp_path):
    first = TrainEvent("started", 0, 4, 0.0, 0.0)
    path = tmp_path / "metrics.jsonl"
    path.write_text(first.to_json() + "\n" + first.to_json()[:25])  # a kill mid-write
    assert [e.kind for e in load_run_metrics(tmp_path)] == ["started"]
    log = MetricsLog(tmp_path)
    log.write(TrainEvent("log", 1, 4, 0.0, 1.0, {"loss": 2.0}))
    log.close()
    assert [e["kind"] for e in _lines(path)] == ["started", "log"]


@pytest.mark.parametrize("small_disk", ["40m"], indirect=True)
def test_a_full_disk_during_the_final_save_then_resume_finishes(small_disk):
    from transformers import TrainerCallback

    class FillTheDisk(TrainerCallback):
        filler: Path | None = None

        def on_train_end(self, args, state, control, **kwargs):
            self.filler = _fill(small_disk)  # after the last checkpoint, before final/

    run_dir = small_disk / "run"
    spec = tiny_spec(CLS, run_dir, max_steps=2, save_steps=2, eval_split=0.0)
    fill = FillTheDisk()
    result = run_training(spec, Recorder(), extra_callbacks=[fill])
    assert result.status == "failed"
    assert result.message.startswith("The disk is full: writing the final model needs about")
    assert f"then resume the run (--resume {run_dir})" in result.message
    assert not list(run_dir.glob(".tmp-*")) and not (run_dir / "final").exists()
    assert _lines(run_dir / "metrics.jsonl")[-1]["kind"] == "failed"
    fill.filler.unlink()
    resumed = run_training(spec, Recorder(), resume_from=str(run_dir))
    assert resumed.status == "finished" and (run_dir / "final" / "model.safetensors").is_file()


_FILE_SIZE_LIMIT_SCRIPT = """
import resource, signal, sys
sys.path.insert(0, {repo!r})
from pathlib import Path
from workbench.core.training.events import TrainEvent
from workbench.core.training.runs import MetricsLog

signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG
resource.setrlimit(resource.RLIMIT_FSIZE, (20_000, 20_000))
log = MetricsLog(Path({run!r}))
for i in range(200):
    log.write(TrainEvent("log", i, 200, 0.0, float(i), {{"loss": 1.0}}, "y" * 150))
print(log.pending)
"""


def test_the_metrics_log_keeps_whole_lines_at_a_file_size_limit(tmp_path):
    # Needs no root: RLIMIT_FSIZE in a subprocess stands in for a full disk (EFBIG, not ENOSPC).
    import sys

    script = tmp_path / "limited.py"
    repo = Path(__file__).resolve().parents[3]
    script.write_text(_FILE_SIZE_LIMIT_SCRIPT.format(repo=str(repo), run=str(tmp_path)))
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                          timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    lines = _lines(tmp_path / "metrics.jsonl")
    assert 0 < len(lines) < 200 and int(done.stdout) == 200 - len(lines)
    assert [e["step"] for e in lines] == list(range(len(lines)))
