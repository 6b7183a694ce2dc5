"""Run folders can come from anywhere (File > Open Run): their records are read within limits."""

from __future__ import annotations

import pytest

from workbench.core.errors import WorkbenchError
from workbench.core.training.checkpoints import is_complete
from workbench.core.training.follow import RunFollower
from workbench.core.training.runs import load_run_metrics, read_run

DEEP = "[" * 5000 + "]" * 5000


def test_a_hostile_spec_is_a_workbench_error(tmp_path):
    (tmp_path / "spec.json").write_text(DEEP)
    with pytest.raises(WorkbenchError, match="not a training run folder"):
        read_run(tmp_path)


def test_hostile_event_lines_are_skipped_by_readers_and_the_follower(tmp_path):
    good = ('{"kind": "log", "step": 1, "max_steps": 2, "epoch": 0.5, "time": 1.0, '
            '"metrics": {"loss": 1.0}, "message": ""}')
    lines = [DEEP, '{"kind": "log", "step": ' + "9" * 5000 + "}", "[1, 2]", good]
    (tmp_path / "metrics.jsonl").write_text("\n".join(lines) + "\n")
    assert [e.step for e in RunFollower(tmp_path).poll()] == [1]
    assert [e.step for e in load_run_metrics(tmp_path)] == [1]


def test_a_hostile_checkpoint_marker_is_not_complete(tmp_path):
    folder = tmp_path / "checkpoint-3"
    folder.mkdir()
    (folder / "workbench_checkpoint.json").write_text(DEEP)
    assert not is_complete(folder)
    (folder / "workbench_checkpoint.json").write_text("[1]")
    assert not is_complete(folder)
