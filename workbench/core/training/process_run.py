"""Start a run as processes (`accelerate launch ... workbench train`), control it, end it.

The launcher gets a session (process group) of its own, so ending the run reaches every rank
and nothing outlives it. Pause / resume / save / a clean cancel go through the run folder's
control file; only when the processes do not stop in time are they terminated by signal.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from workbench.core.errors import WorkbenchError
from workbench.core.training.control_file import send_command
from workbench.core.training.distributed import (
    LAUNCHER_LOG_NAME,
    LOGS_NAME,
    PEER_CHECK_S,
    PEER_GRACE_S,
    UNREACHABLE_ADVICE,
    failed_rank,
    log_sizes,
    logged_rank_pids,
    rank_log_path,
    reads_as_unreachable,
)
from workbench.core.training.launch import (
    LaunchSpec,
    launch_command,
    preflight,
    write_launch_files,
)
from workbench.core.training.runs import new_run_dir

LAUNCH_SPEC_NAME = "launch-spec.json"
_ROOT_CAUSE = re.compile(r"rank\s*:\s*(\d+).*?exitcode\s*:\s*(-?\d+)", re.S)


@dataclass(frozen=True)
class RankFailure:
    """Which rank failed first, how, its last log lines, and what to do."""

    rank: int | None
    exit_code: int
    last_lines: list[str]
    advice: str

    def message(self) -> str:
        """A message for the user: who failed, why, what to do."""
        who = f"Rank {self.rank}" if self.rank is not None else "The launcher"
        how = (f"was killed by signal {-self.exit_code}" if self.exit_code < 0
               else f"exited with status {self.exit_code}")
        tail = "\n".join(self.last_lines[-8:])
        return f"{who} {how}. {self.advice}" + (f"\nLast log lines:\n{tail}" if tail else "")


def _cuda_devices() -> int:
    import torch

    return torch.cuda.device_count() if torch.cuda.is_available() else 0


class ProcessRun:
    """One multi-process run: its folder, the launcher process and how to steer it."""

    def __init__(self, run_dir: Path, process: subprocess.Popen, command: list[str]) -> None:
        self.run_dir = run_dir
        self.process = process
        self.command = command
        self.escalation: CancelEscalation | None = None  # once cancel() was called
        # a rank that reported its own failure while this launcher still runs: (rank, when
        # first seen, whether the group was signalled); see _end_if_a_rank_failed
        self.failed_rank: tuple[int, float, bool] | None = None
        self._rank_check_at = 0.0
        self._log_sizes = log_sizes(run_dir)  # what earlier launches wrote

    @classmethod
    def start(cls, train_spec, launch: LaunchSpec, env: dict | None = None) -> ProcessRun:
        """Check the launch, create the run folder, write the launch files, start it."""
        preflight(train_spec, launch, _cuda_devices())
        run_dir = new_run_dir(train_spec.output_dir, train_spec)
        if (run_dir / "metrics.jsonl").exists() or (run_dir / "spec.json").exists():
            raise WorkbenchError(f"{run_dir} already holds a training run. Resume it, or choose "
                                 f"an empty output folder for a new run.")
        spec = train_spec.replace(output_dir=str(run_dir))
        spec_path = run_dir / LAUNCH_SPEC_NAME
        spec.save(spec_path)
        write_launch_files(spec, launch, run_dir, spec_path)
        return cls.launch(run_dir, launch_command(spec, launch, spec_path), env)

    @classmethod
    def resume(cls, run_dir: str | Path, launch: LaunchSpec, env: dict | None = None,
               extend_epochs: float = 0.0) -> ProcessRun:
        """Continue a run from its newest complete checkpoint with `launch`'s processes."""
        from workbench.core.training.runs import load_run_spec

        run = Path(run_dir)
        spec = load_run_spec(run)
        preflight(spec, launch, _cuda_devices())
        command = launch_command(spec, launch, run / LAUNCH_SPEC_NAME)
        at = command.index("train") + 1
        command[at:at + 1] = ["--resume", str(run)]
        if extend_epochs:
            command += ["--extend-epochs", str(extend_epochs)]
        return cls.launch(run, command, env)

    @classmethod
    def launch(cls, run_dir: Path, command: list[str], env: dict | None = None) -> ProcessRun:
        """Start `command` in a new session, its output in logs/launcher.log."""
        logs = run_dir / LOGS_NAME
        logs.mkdir(parents=True, exist_ok=True)
        full_env = dict(os.environ if env is None else env)
        full_env.setdefault("OMP_WAIT_POLICY", "PASSIVE")
        with (logs / LAUNCHER_LOG_NAME).open("ab") as log:
            process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=log,
                                       stderr=subprocess.STDOUT, env=full_env,
                                       start_new_session=True)
        return cls(run_dir, process, command)

    # -- control ----------------------------------------------------------------------------
    def send(self, command: str) -> None:
        """pause / resume / save / cancel, through the control file."""
        send_command(self.run_dir, command)

    def poll(self) -> int | None:
        """The launcher's exit status, or None while it runs. Never blocks: a rank that
        reported its failure (say on another machine) ends the group here, in steps."""
        code = self.process.poll()
        if code is None and self.escalation is None:
            self._end_if_a_rank_failed(time.monotonic())
            code = self.process.poll()
        return code

    def terminate(self, grace_s: float = 10.0) -> None:
        """End every process of the run now: SIGTERM to the group and the ranks, SIGKILL
        after `grace_s`."""
        for sig, wait in ((signal.SIGTERM, grace_s), (signal.SIGKILL, 5.0)):
            if not self.signal_all(sig):
                break
            deadline = time.monotonic() + wait
            while time.monotonic() < deadline and self.group_alive():
                time.sleep(0.1)
            if not self.group_alive():
                break
        self.process.poll()

    def cancel(self, events: list | None = None) -> CancelEscalation:
        """Ask every rank to stop with a checkpoint at the next step (control file); the
        returned escalation signals the group if they do not stop in time.

        The escalation runs on a thread of its own until no process of the run is left, so it
        belongs to the launch, not to whoever shows it: a monitor window closed after Cancel
        no longer stops it. A second call returns the same escalation.
        """
        if self.escalation is None:
            self.send("cancel")
            self.escalation = CancelEscalation(self, cancel_budget_s(events or [])).start()
        return self.escalation

    def signal_all(self, sig: int) -> bool:
        """Send `sig` to the launcher's process group and to every rank still alive; False
        when none of them was there to receive it.

        The ranks need their own signal: torchrun starts each in a session of its own, so the
        group reaches only the launcher, which ends its ranks itself unless it is killed first
        (or a rank is stopped and cannot act on SIGTERM; SIGCONT lets it)."""
        delivered = False
        try:
            os.killpg(self.process.pid, sig)  # start_new_session: the launcher leads it
            delivered = True
        except ProcessLookupError:
            pass
        for pid in self.rank_pids():
            try:
                os.kill(pid, sig)
                if sig == signal.SIGTERM:
                    os.kill(pid, signal.SIGCONT)
                delivered = True
            except ProcessLookupError:
                pass
        return delivered

    def rank_pids(self) -> list[int]:
        """The pids of the run's ranks that are alive now (from their logs' first line; each
        checked to be this run's `workbench train`, so a reused pid is never signalled)."""
        return [pid for pid in logged_rank_pids(self.run_dir).values()
                if _is_live_rank_of(pid, self.run_dir)]

    def group_alive(self) -> bool:
        """True while the launcher's group or any rank is alive (zombies count as ended)."""
        self.process.poll()
        if self.rank_pids():
            return True
        try:
            os.killpg(self.process.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return _group_has_live_members(self.process.pid)

    def wait(self, timeout: float) -> int | None:
        """Wait up to `timeout` seconds for the launcher to exit; its status or None."""
        deadline = time.monotonic() + timeout
        while True:
            code = self.poll()
            if code is not None or time.monotonic() >= deadline:
                return code
            try:
                return self.process.wait(min(PEER_CHECK_S, max(0.0, deadline - time.monotonic())))
            except subprocess.TimeoutExpired:
                continue

    def _end_if_a_rank_failed(self, now: float) -> None:
        """End the group once a rank's log holds its "failed" event and the launcher has not
        ended by itself within PEER_GRACE_S.

        torchrun ends a launch when one of *its* ranks dies, but not when a rank on another
        machine does: measured with two network namespaces, the main machine's rank 0 then
        waited in the process group's setup for its 30-minute timeout after rank 1 had failed.
        The rank logs are in the shared run folder, so the failure is visible here."""
        if now < self._rank_check_at:
            return
        self._rank_check_at = now + PEER_CHECK_S
        if self.failed_rank is None:
            rank = failed_rank(self.run_dir, self._log_sizes)
            if rank is not None:
                self.failed_rank = (rank, now, False)
            return
        rank, seen, signalled = self.failed_rank
        if not signalled and now - seen >= PEER_GRACE_S:
            self.signal_all(signal.SIGTERM)
            self.failed_rank = (rank, now, True)
        elif signalled and now - seen >= TERM_GRACE_S:
            self.signal_all(signal.SIGKILL)

    # -- failures ---------------------------------------------------------------------------
    def failure(self) -> RankFailure:
        """Describe how a failed launch ended, from the launcher's and the ranks' logs."""
        code = self.process.poll()
        launcher = _tail(self.run_dir / LOGS_NAME / LAUNCHER_LOG_NAME, 80)
        text = "\n".join(launcher)
        match = None
        if "Root Cause" in text:
            match = _ROOT_CAUSE.search(text[text.index("Root Cause"):])
        rank = int(match.group(1)) if match else None
        exit_code = int(match.group(2)) if match else (code if code is not None else 1)
        if rank is None and self.failed_rank is not None:  # ended here for that rank's failure
            rank, exit_code = self.failed_rank[0], 1
        if rank is not None:
            lines = _tail(rank_log_path(self.run_dir, rank), 20)
        else:  # no rank named: every rank's last lines, one of them will tell
            lines = launcher[-10:]
            for log in sorted((self.run_dir / LOGS_NAME).glob("rank-*.log")):
                lines += [f"--- {log.name}", *_tail(log, 6)]
        if rank in (0, None):  # the main rank keeps its console (the launcher's log): its error
            lines += [line for line in launcher if line.startswith("error: ")
                      and line not in lines][-2:]
        return RankFailure(rank, exit_code, lines, _advice(exit_code, "\n".join(lines)))


# After the main process wrote its final event (the checkpoint is committed before it), the
# ranks only have to exit and the launcher to notice: measured 4.9-6.1 s here (2 CPU ranks, load
# ~2: interpreter exit with torch loaded, torchrun's 1 s monitor interval). Past this grace (2.5x
# that) the group gets SIGTERM.
EXIT_GRACE_S = 15.0
# SIGTERM ends a rank at once (no handler); SIGKILL follows for anything still alive after this.
TERM_GRACE_S = 5.0
# Writing a checkpoint, when no earlier one was timed: the demo's (90 MB) takes < 2 s here.
CHECKPOINT_ALLOWANCE_S = 30.0
# The least time a cancel is given before the group is signalled once steps have run. Timings
# seen earlier in a run under-estimate the cancel checkpoint on a loaded machine (CI: a write
# took over twice the one timed, and SIGTERM lost it); waiting longer costs time only for a run
# that hangs, signalling early loses the checkpoint the user asked for.
MIN_CANCEL_BUDGET_S = 30.0


def cancel_budget_s(events: list) -> float:
    """How long ranks may take, after a cancel, to reach their next step and checkpoint it:
    the control file's poll, two of the slowest steps seen (the current one may have just
    begun; the others wait for it in the collective) and the slowest checkpoint write seen
    (from a log/eval event to the checkpoint event at the same step), else an allowance; at
    least MIN_CANCEL_BUDGET_S."""
    from workbench.core.training.control_file import POLL_S

    step_s, save_s, last = 0.0, 0.0, None
    for event in events:
        if last is not None and event.step > last.step and event.kind == "log":
            step_s = max(step_s, (event.time - last.time) / (event.step - last.step))
        if last is not None and event.kind == "checkpoint" and event.step == last.step:
            save_s = max(save_s, event.time - last.time)
        if event.kind in ("log", "eval", "checkpoint"):
            last = event
    if last is None:  # no step yet (still loading): nothing to checkpoint, little to wait for
        return POLL_S + EXIT_GRACE_S
    return max(MIN_CANCEL_BUDGET_S,
               POLL_S + 2 * step_s + (2 * save_s if save_s else CHECKPOINT_ALLOWANCE_S))


class CancelEscalation:
    """After a cancel request: wait for the clean stop, then SIGTERM, then SIGKILL the group.

    `tick(final_seen)` is cheap and never blocks (`start` calls it from a thread of its own):
    it signals when the main process reported the run's end (its checkpoint is written before
    that) but the group is still alive EXIT_GRACE_S later, or when no end came within the
    budget from `cancel_budget_s`. `state`: "requested", "terminating", "killing", "ended" (no
    process of the group alive) or "survivors" (something outlived SIGKILL: should not happen).
    """

    def __init__(self, run: ProcessRun, budget_s: float, now: float | None = None) -> None:
        self.run = run
        self.budget_s = budget_s
        self.sent_at = time.monotonic() if now is None else now
        self.final_at: float | None = None
        self.signalled_at = 0.0
        self.state = "requested"
        self._lock = threading.Lock()  # tick() from the watch thread and from wait()
        self.thread: threading.Thread | None = None

    def start(self, interval_s: float = 0.25) -> CancelEscalation:
        """Tick on a daemon thread until the group has ended (its final event read from the
        run's metrics.jsonl); returns self. Nothing else needs to call tick() then."""
        from workbench.core.training.follow import RunFollower

        follower = RunFollower(self.run.run_dir)

        def final_seen() -> bool:
            follower.poll()  # only what was appended since the last look
            return follower.last is not None and follower.last.is_final

        def watch() -> None:
            while self.tick(final_seen()) not in ("ended", "survivors"):
                time.sleep(interval_s)
            self.run.process.poll()  # reap the launcher

        self.thread = threading.Thread(target=watch, name="workbench-cancel-escalation",
                                       daemon=True)
        self.thread.start()
        return self

    def tick(self, final_seen: bool = False, now: float | None = None) -> str:
        """Advance: check the group, send the next signal when its time has come."""
        with self._lock:
            return self._tick(final_seen, time.monotonic() if now is None else now)

    def _tick(self, final_seen: bool, now: float) -> str:
        if self.state in ("ended", "survivors"):
            return self.state
        if not self.run.group_alive():
            self.state = "ended"
            return self.state
        if final_seen and self.final_at is None:
            self.final_at = now
        if self.state == "requested":
            deadline = (self.final_at + EXIT_GRACE_S if self.final_at is not None
                        else self.sent_at + self.budget_s)
            if now >= deadline:
                self._signal(signal.SIGTERM, "terminating", now)
        elif now >= self.signalled_at + TERM_GRACE_S:
            if self.state == "terminating":
                self._signal(signal.SIGKILL, "killing", now)
            else:
                self.state = "survivors"
        return self.state

    def _signal(self, sig: int, state: str, now: float) -> None:
        self.run.signal_all(sig)
        self.state, self.signalled_at = state, now

    def wait(self, timeout: float, final_seen=lambda: False) -> str:
        """Tick until the group ended (or `timeout`); for scripts and tests, not the GUI."""
        deadline = time.monotonic() + timeout
        while self.tick(final_seen()) not in ("ended", "survivors") and \
                time.monotonic() < deadline:
            time.sleep(0.1)
        self.run.process.poll()
        return self.state


def _advice(exit_code: int, text: str) -> str:
    low = text.lower()
    if "out of memory" in low:
        return ("It ran out of memory: lower batch_size or max_length, use LoRA or gradient "
                "checkpointing. The run folder can be resumed from its last checkpoint.")
    if exit_code in (-9, 137):
        return ("It was killed (out of system memory, or by hand). The other ranks were ended; "
                "resume the run from its last checkpoint.")
    if reads_as_unreachable(text):
        return f"The processes could not reach each other. {UNREACHABLE_ADVICE}"
    if "nccl" in low or "gloo" in low or "connection" in low:
        return ("The processes lost contact (NCCL/gloo). Check the network and main address/"
                "port, then resume the run.")
    return "The other ranks were ended; see the log above, fix the cause, then resume the run."


def _tail(path: Path, n: int) -> list[str]:
    try:
        with path.open("rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - 64 * 1024))
            return f.read().decode("utf-8", "replace").splitlines()[-n:]
    except OSError:
        return []


def _is_live_rank_of(pid: int, run_dir: Path) -> bool:
    """True if `pid` is alive, not a zombie, and its command line names `run_dir` (Linux
    /proc; elsewhere no pid is trusted and only the launcher's group is signalled)."""
    proc = Path("/proc", str(pid))
    try:
        state = (proc / "stat").read_text().rsplit(")", 1)[1].split()[0]
        argv = (proc / "cmdline").read_bytes().decode("utf-8", "replace").split("\0")
    except (OSError, IndexError):
        return False
    run = str(run_dir)
    return state != "Z" and any(arg == run or arg.startswith(run + os.sep) for arg in argv)


def _group_has_live_members(pgid: int) -> bool:
    """True if some process in group `pgid` is not a zombie (Linux /proc; else assume yes)."""
    proc = Path("/proc")
    if not proc.is_dir():
        return True
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            return True
    return False
