"""Follow a run folder as its metrics.jsonl grows, whoever writes it (this GUI, a terminal, a
launch script on another machine with the folder shared).

Only complete lines are read (a writer may be mid-line); a line that does not parse is skipped.
The follower keeps a byte offset, so each poll reads only what was appended.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from workbench.core.errors import WorkbenchError
from workbench.core.training.events import FINAL_KINDS, TrainEvent
from workbench.core.training.runs import METRICS_NAME

RunState = Literal["waiting", "live", "stalled", "finished", "cancelled", "failed"]
STALLED_AFTER_S = 300.0  # no event for 5 minutes: say so (a step can be slow, a rank can hang)
_MAX_READ = 16 * 2**20  # bytes per poll: a huge backlog is read over several polls


@dataclass
class FollowStatus:
    """What a followed run is doing now, for a badge and a status line."""

    state: RunState
    step: int = 0
    max_steps: int = 0
    last_event_age_s: float | None = None
    message: str = ""


class RunFollower:
    """Reads the events appended to a run's metrics.jsonl since the last poll."""

    def __init__(self, run_dir: str | Path, stalled_after_s: float = STALLED_AFTER_S) -> None:
        self.run_dir = Path(run_dir)
        self.path = self.run_dir / METRICS_NAME
        self.stalled_after_s = stalled_after_s
        self._offset = 0
        self._inode: int | None = None
        self.last: TrainEvent | None = None
        self._last_seen = time.time()

    def poll(self) -> list[TrainEvent]:
        """New complete events, oldest first (empty when nothing was appended)."""
        try:
            stat = self.path.stat()
        except OSError:
            return []
        if self._inode is not None and (stat.st_ino != self._inode or stat.st_size < self._offset):
            self._offset = 0  # the file was replaced or truncated (a new run in this folder)
        self._inode = stat.st_ino
        if stat.st_size <= self._offset:
            return []
        with self.path.open("rb") as f:
            f.seek(self._offset)
            chunk = f.read(min(stat.st_size - self._offset, _MAX_READ))
        end = chunk.rfind(b"\n")
        if end < 0:
            return []  # only a partial line so far
        self._offset += end + 1
        events = []
        for line in chunk[:end].splitlines():
            try:
                events.append(TrainEvent.from_json(line.decode("utf-8")))
            except (ValueError, WorkbenchError):
                continue  # a damaged line (a crash mid-write) is skipped, as load_run_metrics does
        if events:
            self.last = events[-1]
            self._last_seen = time.time()
        return events

    def status(self, now: float | None = None) -> FollowStatus:
        """live / finished / cancelled / failed / stalled (no event for a while) / waiting."""
        now = time.time() if now is None else now
        last = self.last
        if last is None:
            return FollowStatus("waiting", message=f"waiting for {self.path.name}")
        age = now - max(self._last_seen, _mtime(self.path))
        if last.kind in FINAL_KINDS:
            state: RunState = {"finished": "finished", "cancelled": "cancelled"}.get(
                last.kind, "failed")
        elif age > self.stalled_after_s:
            state = "stalled"
        else:
            state = "live"
        return FollowStatus(state, last.step, last.max_steps, age, last.message)


def _mtime(path: Path) -> float:
    try:
        return os.path.getmtime(path)
    except OSError:
        return 0.0
