"""A run spread over several processes: which rank this is, per-rank logs, and control sync.

Processes are started by `accelerate launch` (or torchrun), which sets RANK / WORLD_SIZE /
LOCAL_RANK. Only the main process (rank 0) writes the run folder's record (spec.json,
metrics.jsonl, checkpoints, final/); every rank logs to logs/rank-N.log.

Pause, resume, cancel and "save now" are decided by the main process (from its TrainControl,
which the control file feeds) and broadcast to every rank at each step boundary, so all ranks
stop, wait or save at the same step and none waits forever in a collective.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from workbench.core.training.runs import METRICS_NAME

LOGS_NAME = "logs"
LAUNCHER_LOG_NAME = "launcher.log"  # the launcher's output, the main rank's console with it
# While paused, the main process sends a heartbeat this often so the other ranks, blocked in
# the broadcast, never reach the process group's timeout (30 min by default).
PAUSE_HEARTBEAT_S = 0.5


@dataclass(frozen=True)
class RankInfo:
    """This process's place in a multi-process run (rank 0 of 1 when run alone)."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        """True for the process that writes the run folder."""
        return self.rank == 0

    @property
    def is_distributed(self) -> bool:
        """True when there are other ranks to keep in step."""
        return self.world_size > 1


def rank_info() -> RankInfo:
    """Read the launcher's environment (accelerate and torchrun both set these)."""
    def number(name: str, default: int) -> int:
        try:
            return int(os.environ.get(name, default))
        except ValueError:
            return default

    return RankInfo(number("RANK", 0), number("WORLD_SIZE", 1), number("LOCAL_RANK", 0))


def rank_log_path(run_dir: str | Path, rank: int) -> Path:
    """logs/rank-N.log in the run folder."""
    return Path(run_dir) / LOGS_NAME / f"rank-{rank}.log"


def logged_rank_pids(run_dir: str | Path) -> dict[int, int]:
    """{rank: pid} from the first line each rank wrote into logs/rank-N.log (open_rank_log)."""
    pids = {}
    for log in Path(run_dir, LOGS_NAME).glob("rank-*.log"):
        try:
            with log.open(encoding="utf-8", errors="replace") as f:
                header = f.readline()
            pids[int(log.stem.split("-")[1])] = int(header.split("(pid ")[1].split(")")[0])
        except (OSError, IndexError, ValueError):
            continue  # not written yet, or not ours
    return pids


def open_rank_log(run_dir: str | Path, info: RankInfo):
    """Send this rank's Python log records (and, off the main rank, stdout/stderr) to its file.

    The main rank keeps its console (the launcher shows it); the other ranks' output would only
    interleave with it, so it goes to their log alone. Returns the open file.
    """
    path = rank_log_path(run_dir, info.rank)
    path.parent.mkdir(parents=True, exist_ok=True)
    log = path.open("a", encoding="utf-8", buffering=1)
    handler = logging.StreamHandler(log)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.getLogger().addHandler(handler)
    if not info.is_main:
        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(log.fileno(), 1)
        os.dup2(log.fileno(), 2)
    log.write(f"--- rank {info.rank} of {info.world_size} (pid {os.getpid()}) started "
              f"{time.strftime('%Y-%m-%d %H:%M:%S')}\n")
    return log


def bind_to_main_network(environ=os.environ) -> str | None:
    """On a run over several machines, bind gloo and NCCL to the interface that reaches the
    main machine, unless the user named one (GLOO_SOCKET_IFNAME / NCCL_SOCKET_IFNAME).

    Left alone, gloo binds to whatever this host's name resolves to, and on many cloud and
    container hosts that is 127.0.0.1: every rank then tells the others to reach it on loopback
    and the run fails with "Gloo connectFullMesh failed ... Connection refused" (measured with
    two network namespaces). Must run before the process group starts. Returns a line for the
    rank's log saying what was chosen, or None when nothing needed choosing.
    """
    import ipaddress
    import socket

    main = environ.get("MASTER_ADDR", "")
    if int(environ.get("WORLD_SIZE", "1") or 1) <= 1 or not main:
        return None
    if environ.get("GLOO_SOCKET_IFNAME") and environ.get("NCCL_SOCKET_IFNAME"):
        return None
    try:
        main_ip = socket.gethostbyname(main)
        if ipaddress.ip_address(main_ip).is_loopback:
            return None  # every rank on this host: loopback is right
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.connect((main_ip, int(environ.get("MASTER_PORT", "29500") or 29500)))
            local_ip = probe.getsockname()[0]  # the address the route to the main one leaves by
    except (OSError, ValueError):
        return None  # the launcher's own rendezvous will report an unreachable main machine
    import psutil  # accelerate's own dependency

    name = next((nic for nic, addrs in psutil.net_if_addrs().items()
                 if any(a.family == socket.AF_INET and a.address == local_ip for a in addrs)),
                None)
    if name is None:
        return None
    for variable in ("GLOO_SOCKET_IFNAME", "NCCL_SOCKET_IFNAME"):
        environ.setdefault(variable, name)
    return (f"network: the main machine {main} ({main_ip}) is reached through {name} "
            f"({local_ip}); gloo binds to {environ['GLOO_SOCKET_IFNAME']}, NCCL to "
            f"{environ['NCCL_SOCKET_IFNAME']} (set GLOO_SOCKET_IFNAME / NCCL_SOCKET_IFNAME to "
            f"choose another)")


# What torch.distributed's errors say when the ranks cannot reach each other (gloo, NCCL,
# the c10d store): matched on the text, since torch raises plain RuntimeErrors for most.
_CONNECTION_SIGNS = ("connectfullmesh", "connection refused", "connection reset",
                     "timed out connecting", "no route to host", "socket timeout",
                     "distnetworkerror", "diststoreerror", "rendezvous",
                     "watchdog caught collective operation timeout")
UNREACHABLE_ADVICE = ("Check that the main machine's address and port are reachable from every "
                      "machine (firewall, the same main address and port on each), and on "
                      "machines with several networks set GLOO_SOCKET_IFNAME / "
                      "NCCL_SOCKET_IFNAME to the interface of the one they share; then resume "
                      "the run.")


def reads_as_unreachable(text: str) -> bool:
    """True when an error's text says processes could not reach (or lost) each other."""
    low = text.lower()
    return any(sign in low for sign in _CONNECTION_SIGNS)


def connection_failure_message(error: BaseException) -> str | None:
    """A user message for a rank of a distributed run that could not reach (or lost) the
    others; None for other errors. Says what to check rather than "unexpected RuntimeError"."""
    text = str(error)
    if not rank_info().is_distributed or not reads_as_unreachable(
            f"{type(error).__name__} {text}"):
        return None
    first = (text.strip().splitlines() or [""])[0][:200]
    main = f"{os.environ.get('MASTER_ADDR', '?')}:{os.environ.get('MASTER_PORT', '?')}"
    return (f"Rank {rank_info().rank} could not reach the other processes ({first}; main "
            f"machine {main}). {UNREACHABLE_ADVICE}")


# A rank that reported its failure: how long the others (and their launcher) may take to end
# by themselves before they are ended; and how often the shared run folder is read for it.
PEER_GRACE_S = 15.0
PEER_CHECK_S = 2.0


def log_sizes(run_dir: str | Path) -> dict[str, int]:
    """{file name: bytes} of the rank logs and metrics.jsonl now (a resumed run appends to
    the earlier launch's, whose failure must not count again)."""
    sizes = {}
    for path in [*Path(run_dir, LOGS_NAME).glob("rank-*.log"), Path(run_dir, METRICS_NAME),
                 Path(run_dir, LOGS_NAME, LAUNCHER_LOG_NAME)]:
        try:
            sizes[path.name] = path.stat().st_size
        except OSError:
            continue
    return sizes


def failed_rank(run_dir: str | Path, since: dict[str, int], skip: int | None = None
                ) -> int | None:
    """The lowest rank (not `skip`) that wrote its "failed" event after `since` (log_sizes at
    the start): into its logs/rank-N.log, or rank 0 into metrics.jsonl or, for a failure
    before training (metrics.jsonl records the run from then on), onto its console, which is
    logs/launcher.log when the app started the launch."""
    import json

    sources = [(0, Path(run_dir, METRICS_NAME)), (0, Path(run_dir, LOGS_NAME, LAUNCHER_LOG_NAME))]
    for log in Path(run_dir, LOGS_NAME).glob("rank-*.log"):
        number = log.stem.split("-", 1)[1]
        if number.isdigit():
            sources.append((int(number), log))
    failed = []
    for rank, path in sources:
        if rank == skip:
            continue
        try:
            with path.open("rb") as f:
                f.seek(0, os.SEEK_END)
                f.seek(max(since.get(path.name, 0), f.tell() - 64 * 1024))
                lines = f.read().decode("utf-8", "replace").splitlines()
        except OSError:
            continue
        for line in lines:
            try:
                if line.startswith("{") and json.loads(line).get("kind") == "failed":
                    failed.append(rank)
                    break
            except (ValueError, AttributeError):
                continue
    return min(failed, default=None)


class PeerWatch:
    """In each rank of a run over several processes: ends this process when another rank
    reported its failure and this one still runs PEER_GRACE_S later.

    torchrun ends its own ranks when one of them dies, but not the ranks on other machines:
    seen with two network namespaces, a rank whose peer on the other machine had failed waited
    in the process group for its 30-minute timeout. Every rank writes its failure into the
    shared run folder, so each rank can see the others'. A rank blocked in a collective cannot
    be stopped gently: this one exits the process (the run stays resumable from its last
    checkpoint)."""

    def __init__(self, run_dir: str | Path, rank: int) -> None:
        import threading

        self.run_dir, self.rank = Path(run_dir), rank
        self.since = log_sizes(run_dir)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="workbench-peer-watch",
                                        daemon=True)
        self.seen: tuple[int, float] | None = None  # (failed rank, when first seen)

    def start(self) -> PeerWatch:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()

    def check(self, now: float) -> bool:
        """True when this process should end now (a peer failed PEER_GRACE_S ago)."""
        if self.seen is None:
            rank = failed_rank(self.run_dir, self.since, skip=self.rank)
            if rank is not None:
                self.seen = (rank, now)
            return False
        return now - self.seen[1] >= PEER_GRACE_S

    def _loop(self) -> None:
        while not self._stop.wait(PEER_CHECK_S):
            if self.check(time.monotonic()) and not self._stop.is_set():
                message = (f"rank {self.seen[0]} reported its failure (logs/rank-"
                           f"{self.seen[0]}.log, metrics.jsonl); ending rank {self.rank}, which "
                           f"would otherwise wait for the process group's timeout")
                logging.getLogger(__name__).error(message)  # into this rank's log
                sys.stderr.write(f"error: {message}\n")  # and its console
                sys.stderr.flush()
                sys.stdout.flush()
                os._exit(1)


# Flags broadcast from rank 0 at every step boundary.
_CANCEL, _SAVE_ON_CANCEL, _SAVE_NOW, _PAUSED = 1, 2, 4, 8


class ControlSync:
    """Keeps every rank's TrainControl equal to the main rank's at step boundaries."""

    def __init__(self, device: str) -> None:
        import torch

        self._torch = torch
        self._device = device if device.startswith("cuda") else "cpu"
        self.is_main = rank_info().is_main

    def _broadcast(self, flags: int) -> int:
        import torch.distributed as dist

        box = self._torch.tensor([flags], dtype=self._torch.int64, device=self._device)
        dist.broadcast(box, src=0)
        return int(box.item())  # a host sync: once per step, on a one-element tensor

    def _main_flags(self, ctl: Any, save_now: bool) -> int:
        return ((_CANCEL if ctl.is_cancelled else 0)
                | (_SAVE_ON_CANCEL if ctl.save_on_cancel else 0)
                | (_SAVE_NOW if save_now else 0)
                | (_PAUSED if ctl.is_paused else 0))

    def step_boundary(self, ctl: Any, on_paused=None,
                      on_resumed=None) -> tuple[bool, bool, bool]:
        """Agree on this step's decision; wait together while paused.

        Returns (save_now, cancelled, save_on_cancel) as decided by the main rank: every rank
        must act on these, never on its TrainControl read afterwards. On the main rank the
        control file's thread may cancel while the broadcast waits for the others (long on a
        busy machine); a rank acting on that would stop and save while the others train on,
        and the two would wait forever in different collectives. Such a late cancel is decided
        at the next boundary. On the other ranks the local TrainControl is set to match.
        """
        save_now = ctl.take_save_request() if self.is_main else False
        flags = self._broadcast(self._main_flags(ctl, save_now) if self.is_main else 0)
        if flags & _PAUSED:
            if on_paused is not None:
                on_paused()
            while flags & _PAUSED:
                if self.is_main:
                    ctl.wait_for_change(PAUSE_HEARTBEAT_S)
                    flags = self._broadcast(self._main_flags(ctl, False))
                else:
                    flags = self._broadcast(0)
            if on_resumed is not None and not flags & _CANCEL:
                on_resumed()
        if not self.is_main and flags & _CANCEL and not ctl.is_cancelled:
            ctl.cancel(save_checkpoint=bool(flags & _SAVE_ON_CANCEL))
        return bool(flags & _SAVE_NOW), bool(flags & _CANCEL), bool(flags & _SAVE_ON_CANCEL)


def barrier() -> None:
    """Wait for every rank (no-op when not distributed)."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.barrier()
