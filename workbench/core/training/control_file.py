"""The control channel of a run that runs in other processes: a small file in its run folder.

Why a file and not a socket: it works for a run started anywhere (the GUI, a terminal, a launch
script on another machine whose run folder is shared), needs no port or address, survives the
GUI being closed and reopened, and is atomic to write (rename). The cost is latency: the main
training process looks at it every POLL_S seconds, far below a training step's usual length.

The file holds {"seq": N, "command": "pause" | "resume" | "cancel" | "save", "time": t}; each
new command has a higher seq, and a process applies only commands newer than those present when
it started.
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any, Literal

from workbench.core import jsonio
from workbench.core.atomic import atomic_write_text
from workbench.core.errors import WorkbenchError
from workbench.core.jsonio import RECORD_LIMITS

CONTROL_NAME = "control.json"
POLL_S = 0.2
Command = Literal["pause", "resume", "cancel", "save"]
COMMANDS = ("pause", "resume", "cancel", "save")


def _read(path: Path) -> dict:
    try:
        data = jsonio.load_file(path, limits=RECORD_LIMITS, what="control")
    except WorkbenchError:
        return {}
    return data if isinstance(data, dict) and isinstance(data.get("seq"), int) else {}


def send_command(run_dir: str | Path, command: Command) -> int:
    """Ask the run in `run_dir` to pause, resume, cancel (with a checkpoint) or save now."""
    if command not in COMMANDS:
        raise WorkbenchError(f"Unknown run command '{command}': use {', '.join(COMMANDS)}.")
    path = Path(run_dir) / CONTROL_NAME
    seq = int(_read(path).get("seq", 0)) + 1
    atomic_write_text(path, json.dumps({"seq": seq, "command": command, "time": time.time()}))
    return seq


class ControlFileWatcher:
    """Applies commands written to a run's control file to a TrainControl (a daemon thread)."""

    def __init__(self, run_dir: str | Path, control: Any) -> None:
        self.path = Path(run_dir) / CONTROL_NAME
        self.control = control
        self._seen = int(_read(self.path).get("seq", 0))
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="workbench-control-file",
                                        daemon=True)

    def start(self) -> ControlFileWatcher:
        """Start watching; returns self."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop watching (joins the thread)."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=2)

    def poll_once(self) -> str | None:
        """Apply a command newer than the last one seen; return it (or None)."""
        data = _read(self.path)
        if int(data.get("seq", 0)) <= self._seen:
            return None
        self._seen = int(data["seq"])
        command = data.get("command")
        if command == "pause":
            self.control.pause()
        elif command == "resume":
            self.control.resume()
        elif command == "cancel":
            self.control.cancel(save_checkpoint=True)
        elif command == "save":
            self.control.save_now()
        else:
            return None
        return str(command)

    def _loop(self) -> None:
        while not self._stop.wait(POLL_S):
            self.poll_once()
