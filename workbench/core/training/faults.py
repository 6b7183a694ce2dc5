"""Faults during a run as messages a user can act on: a full disk, a refused pickle, a bug."""

from __future__ import annotations

import pickle
import shutil
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from workbench.core.errors import DiskFullError, WorkbenchError
from workbench.core.training.runs import DISK_FULL_ERRNOS, ERROR_LOG_NAME, SPEC_NAME
from workbench.core.units import human_bytes

SAVE_MARGIN = 2 * 2**20  # tokenizer files, configs, trainer state beside the tensors


def is_disk_full(error: BaseException) -> bool:
    """True for a write that failed for lack of room (OSError, or the text of torch/safetensors).

    torch.save reports ENOSPC as RuntimeError("... file write failed") and safetensors as its
    own error type, so the errno alone does not find them.
    """
    if isinstance(error, OSError) and error.errno in DISK_FULL_ERRNOS:
        return True
    text = str(error).lower()
    return any(s in text for s in ("no space left", "disk quota", "file too large"))


def save_size_estimate(trainer: Any, with_optimizer: bool = True) -> int:
    """Bytes a save of `trainer`'s model (and optimizer state) needs: tensors plus a margin."""
    import torch

    total = sum(p.numel() * p.element_size() for p in trainer.model.parameters())
    optimizer = getattr(trainer, "optimizer", None)
    if with_optimizer and optimizer is not None:
        for state in optimizer.state.values():
            total += sum(v.numel() * v.element_size() for v in state.values()
                         if isinstance(v, torch.Tensor))
    return total + SAVE_MARGIN


def disk_full_error(error: BaseException, run_dir: Path, what: str,
                    needed: int) -> BaseException:
    """A DiskFullError naming the space needed and free, or `error` itself if not disk-full."""
    if not is_disk_full(error):
        return error
    return DiskFullError(_disk_full_text(run_dir, what, needed))


def _disk_full_text(run_dir: Path, what: str, needed: int) -> str:
    from workbench.core.training.checkpoints import latest_checkpoint

    try:
        free = human_bytes(shutil.disk_usage(run_dir).free)
    except OSError:
        free = "unknown"
    then = (f"then resume the run (--resume {run_dir})" if latest_checkpoint(run_dir)
            else f"then start it over (workbench train {run_dir / SPEC_NAME} --restart)")
    return (f"The disk is full: writing {what} needs about {human_bytes(needed)} free in "
            f"{run_dir}, and {free} is free. The partial write was removed. Free some space "
            f"(a lower keep_checkpoints keeps fewer checkpoints), {then}.")


def save_or_clean_up(write: Callable[[], None], staged: Path, what: str, run_dir: Path,
                     trainer: Any) -> None:
    """Run `write` (which fills the staging folder `staged`); on failure delete `staged`.

    A failure for lack of room becomes a DiskFullError naming the space needed: the larger
    of the estimate and the newest complete checkpoint (for a checkpoint save).
    """
    try:
        write()
    except Exception as e:
        shutil.rmtree(staged, ignore_errors=True)  # never leave a partial save filling the disk
        is_checkpoint = "checkpoint" in what
        if not is_disk_full(e) and not _low_on_space(run_dir, trainer, is_checkpoint):
            raise
        needed = save_size_estimate(trainer, with_optimizer=is_checkpoint)
        if is_checkpoint:
            from workbench.core.training.checkpoints import folder_size, latest_checkpoint

            last = latest_checkpoint(run_dir)
            needed = max(needed, folder_size(last) if last else 0)
        raise DiskFullError(_disk_full_text(run_dir, what, needed)) from None


def _low_on_space(run_dir: Path, trainer: Any, with_optimizer: bool) -> bool:
    """True when the free space is below what the save needs (torch hides ENOSPC in text)."""
    try:
        return shutil.disk_usage(run_dir).free < save_size_estimate(trainer, with_optimizer)
    except OSError:
        return False


def refused_content(error: BaseException) -> str:
    """What torch's weights_only loader refused ("the global 'posix.system'"), for a message.

    torch's own text advises re-running with weights_only=False, i.e. letting the file run
    code: it is never passed on.
    """
    from workbench.core.checkpoint.pickle_weights import _unsafe_global

    return _unsafe_global(str(error)) or "content torch's safe loader refuses"


def setup_failure_message(error: BaseException) -> str:
    """The user message for an exception that ended a run before training started."""
    if isinstance(error, KeyboardInterrupt):
        return "interrupted before training started"
    if isinstance(error, WorkbenchError):
        return str(error)
    from workbench.core.training.distributed import connection_failure_message

    lost = connection_failure_message(error)
    if lost is not None:
        return lost  # e.g. the process group could not form across machines
    return (f"unexpected {type(error).__name__}: {(str(error).splitlines() or [''])[0][:300]}"
            f" (run again with --debug for details)")


def failure_message(error: BaseException, step: int, checkpoint: Path | None,
                    run_dir: Path) -> tuple[str, str]:
    """(user message, details) for an exception that ended a run; never a traceback in the
    message: details (the traceback of an unexpected error) go to error.log and --debug."""
    if isinstance(error, WorkbenchError):
        return str(error), ""
    if isinstance(error, pickle.UnpicklingError):
        where = checkpoint or run_dir
        return (f"Cannot resume from {where}: one of its files holds {refused_content(error)}, "
                f"not plain tensor data, so it was not loaded (it may be damaged or not written "
                f"by this app). Delete that checkpoint folder to resume from an earlier one, or "
                f"start over (workbench train {run_dir / SPEC_NAME} --restart)."), ""
    from workbench.core.training.distributed import connection_failure_message

    lost = connection_failure_message(error)
    if lost is not None:
        return f"Training stopped at step {step}: {lost}", traceback.format_exc()
    first = (str(error).strip().splitlines() or [""])[0][:300]
    return (f"Training failed at step {step}: {type(error).__name__}: {first}. The traceback "
            f"is in {run_dir / ERROR_LOG_NAME}."), traceback.format_exc()
