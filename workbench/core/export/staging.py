"""Write an export into a hidden staging folder and rename it into place only when complete.

An export that is interrupted, cancelled or crashes leaves at most a hidden `.NAME.partial-*`
folder, never a folder at the requested path that looks complete.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from workbench.core.atomic import creating_in, fsync_dir
from workbench.core.errors import WorkbenchError

FAILED_SUFFIX = ".failed"


def check_target(out: str | Path) -> Path:
    """The export folder, refused if it exists and holds anything (nothing is overwritten)."""
    target = Path(out).expanduser().resolve()
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise WorkbenchError(f"{target} already exists and is not empty; exports never "
                             f"overwrite. Choose a new folder or empty this one.")
    return target


def new_stage(target: Path) -> Path:
    """A fresh hidden folder beside `target` (same filesystem, so the final rename is atomic)."""
    with creating_in(target.parent):
        target.parent.mkdir(parents=True, exist_ok=True)
        return Path(tempfile.mkdtemp(prefix=f".{target.name}.partial-", dir=target.parent))


def _fsync_tree(folder: Path) -> None:
    for path in folder.rglob("*"):
        if path.is_file():
            with path.open("rb") as f:
                os.fsync(f.fileno())
    fsync_dir(folder)


def publish(stage: Path, target: Path, passed: bool) -> Path:
    """Move a finished stage to `target` (or to `target.failed` when its checks failed)."""
    _fsync_tree(stage)
    final = target if passed else target.with_name(target.name + FAILED_SUFFIX)
    if final.exists():
        if final.is_dir() and not any(final.iterdir()):
            final.rmdir()  # an empty folder the user made for the export
        elif not passed:
            shutil.rmtree(final)  # an older failed attempt: replaced by this one
        else:
            raise WorkbenchError(f"{final} appeared while exporting; the export is left in "
                                 f"{stage}.")
    os.replace(stage, final)
    fsync_dir(final.parent)
    return final


def discard(stage: Path) -> None:
    """Remove a stage after an error or cancel."""
    shutil.rmtree(stage, ignore_errors=True)
