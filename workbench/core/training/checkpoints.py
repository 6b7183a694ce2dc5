"""Crash-safe checkpoints: staged in a temp folder, fsynced, renamed, completion marker last."""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

from workbench.core import jsonio
from workbench.core.atomic import atomic_write_text, commit_folder, staging_folder
from workbench.core.errors import WorkbenchError
from workbench.core.jsonio import RECORD_LIMITS
from workbench.core.training.runs import CHECKPOINTS_NAME

MARKER_NAME = "workbench_checkpoint.json"
STAGING_PREFIX = ".tmp-checkpoint-"
_CHECKPOINT_RE = re.compile(r"^checkpoint-(\d+)$")
MARKER_APP = "transformer-workbench"


def _file_sizes(folder: Path) -> dict[str, int]:
    """{relative path: size} of every file under `folder`, for the marker."""
    return {path.relative_to(folder).as_posix(): path.stat().st_size
            for path in sorted(folder.rglob("*")) if path.is_file()}


def staging_dir(run_dir: Path) -> Path:
    """A fresh temp folder inside the run's checkpoints/ (same file system, so rename is atomic)."""
    return staging_folder(Path(run_dir) / CHECKPOINTS_NAME, STAGING_PREFIX)


def shared_staging_dir(run_dir: Path, step: int) -> Path:
    """The staging folder all ranks of a multi-process run write checkpoint `step` into."""
    staged = Path(run_dir) / CHECKPOINTS_NAME / f"{STAGING_PREFIX}step-{step}"
    staged.mkdir(parents=True, exist_ok=True)
    return staged


def commit_checkpoint(staged: Path, run_dir: Path, step: int) -> Path:
    """Move a fully written checkpoint from `staged` to checkpoints/checkpoint-<step>, then mark it.

    Order matters for crash safety: files fsynced -> folder renamed -> marker written last
    (atomically). A crash at any point leaves either no checkpoint-<step> or one with no
    marker, and neither is offered for resume.
    """
    final = Path(run_dir) / CHECKPOINTS_NAME / f"checkpoint-{step}"
    # Saving the same step twice (e.g. "save now" at an epoch end): the newer one wins; the old
    # one is set aside under the staging prefix, so clean_staging removes it after a crash.
    commit_folder(staged, final, replace=True, aside_prefix=f"{STAGING_PREFIX}old-{step}-")
    marker = {"app": MARKER_APP, "step": int(step), "files": _file_sizes(final)}
    atomic_write_text(final / MARKER_NAME, json.dumps(marker, indent=1))
    return final


def prune_checkpoints(run_dir: str | Path, keep: int) -> list[Path]:
    """Delete all but the newest `keep` complete checkpoints (0 = keep all); return those gone.

    Each is renamed to a staging name first, so a crash mid-delete leaves nothing that looks
    like a checkpoint (clean_staging removes the rest later).
    """
    if keep <= 0:
        return []
    removed = []
    for old in list_checkpoints(run_dir)[:-keep]:
        doomed = old.with_name(f"{STAGING_PREFIX}pruned-{old.name}")
        os.replace(old, doomed)
        shutil.rmtree(doomed, ignore_errors=True)
        removed.append(old)
    return removed


def is_complete(checkpoint: str | Path) -> bool:
    """True when the folder has our marker and every file it lists with the listed size."""
    folder = Path(checkpoint)
    match = _CHECKPOINT_RE.match(folder.name)
    if not match:
        return False
    try:
        marker = jsonio.load_file(folder / MARKER_NAME, limits=RECORD_LIMITS,
                                  what="checkpoint marker")
    except WorkbenchError:
        return False
    if not isinstance(marker, dict) or marker.get("app") != MARKER_APP \
            or marker.get("step") != int(match.group(1)):
        return False
    files = marker.get("files")
    if not isinstance(files, dict) or "trainer_state.json" not in files:
        return False
    for rel, size in files.items():
        path = folder / rel
        if ".." in Path(rel).parts or not path.is_file() or path.stat().st_size != size:
            return False
    return True


def list_checkpoints(run_dir: str | Path) -> list[Path]:
    """Complete checkpoints of a run, oldest step first (incomplete ones are never listed)."""
    root = Path(run_dir) / CHECKPOINTS_NAME
    if not root.is_dir():
        return []
    found = []
    for child in root.iterdir():
        match = _CHECKPOINT_RE.match(child.name)
        if match and child.is_dir() and is_complete(child):
            found.append((int(match.group(1)), child))
    return [path for _, path in sorted(found)]


def latest_checkpoint(run_dir: str | Path) -> Path | None:
    """The complete checkpoint with the highest step, or None."""
    checkpoints = list_checkpoints(run_dir)
    return checkpoints[-1] if checkpoints else None


# Leftovers of interrupted saves in the run folder itself: final/ and merged/ are staged as
# .tmp-<name>-*, and an older one is moved to .old-<name>-* while it is replaced.
RUN_STAGING_PREFIXES = (".tmp-", ".old-")


def clean_staging(run_dir: str | Path) -> int:
    """Delete leftovers of interrupted saves (temp folders, unmarked checkpoints); return count.

    Called when a run is opened to resume or start over, never while it may be training.
    """
    run = Path(run_dir)
    removed = 0
    if run.is_dir():
        for child in run.iterdir():
            if child.name.startswith(RUN_STAGING_PREFIXES) and child.is_dir():
                shutil.rmtree(child, ignore_errors=True)
                removed += 1
    root = run / CHECKPOINTS_NAME
    if not root.is_dir():
        return removed
    for child in root.iterdir():
        stale = child.name.startswith(STAGING_PREFIX) or (
            _CHECKPOINT_RE.match(child.name) and not is_complete(child))
        if stale and child.is_dir():
            shutil.rmtree(child, ignore_errors=True)
            removed += 1
    return removed


def resolve_resume(resume_from: str | Path) -> tuple[Path, Path]:
    """(run folder, checkpoint) for a run folder or a checkpoint folder the app wrote.

    Trainer's resume files are pickles (optimizer.pt, rng_state.pth...), so only checkpoints
    carrying our completion marker are accepted.
    """
    path = Path(resume_from).expanduser().resolve()
    if _CHECKPOINT_RE.match(path.name) and path.parent.name == CHECKPOINTS_NAME:
        if not is_complete(path):
            raise WorkbenchError(
                f"{path} is not a complete checkpoint written by this app (no valid "
                f"{MARKER_NAME}); it may be half-written. Resume from its run folder to use "
                f"the newest complete checkpoint.")
        return path.parent.parent, path
    if not path.is_dir():
        raise WorkbenchError(f"Cannot resume: {path} does not exist.")
    checkpoint = latest_checkpoint(path)
    if checkpoint is None:
        raise WorkbenchError(
            f"Cannot resume: {path} has no complete checkpoint (checkpoints/checkpoint-N with "
            f"{MARKER_NAME}); the run stopped before its first one. Start over in the same "
            f"folder (workbench train {path / 'spec.json'} --restart, or 'Start over' in the "
            f"Fine-tune tab), or start a new run in an empty output folder.")
    return path, checkpoint


def folder_size(folder: str | Path) -> int:
    """Bytes in the files under `folder` (0 when it does not exist)."""
    root = Path(folder)
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file()) if root.is_dir() else 0


def can_start_over(run_dir: str | Path) -> bool:
    """True when a folder holds a run that stopped before its first complete checkpoint.

    Such a run cannot be resumed; starting over (run_training(..., restart=True)) is the way on,
    so the Fine-tune view offers it where the failure is shown.
    """
    from workbench.core.training.runs import holds_run

    return holds_run(run_dir) and latest_checkpoint(run_dir) is None
