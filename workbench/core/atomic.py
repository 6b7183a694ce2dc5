"""Crash-safe writes of single files and whole folders: stage a sibling, fsync, rename, fsync dir.

A reader (or a crash) sees either the old file/folder or the complete new one, never half of it.
What is written gets the ordinary permissions of the user's umask (0644 / 0755 under umask 022),
whatever mode the temporary file or the library that filled the folder chose.
"""

from __future__ import annotations

import errno
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from workbench.core.errors import NotWritableError, path_problem


def _read_umask() -> int:
    """The process umask, read once: from /proc (changes nothing), else by a set-and-restore."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:  # Linux >= 4.7
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    # Elsewhere the only way to read the umask is to set it. This runs once, at import (under the
    # import lock, before this module can write anything); writes never touch the umask again.
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


UMASK = _read_umask()
FILE_MODE = 0o666 & ~UMASK
DIR_MODE = 0o777 & ~UMASK


def fsync_dir(path: Path) -> None:
    """Flush a directory entry (a rename or a new file) to disk; a no-op where unsupported."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return  # Windows cannot open directories; NTFS renames are journaled anyway
    try:
        os.fsync(fd)
    except OSError:
        pass  # some filesystems refuse fsync on directories; the rename is still atomic
    finally:
        os.close(fd)


def _ordinary_mode(path: Path, is_dir: bool) -> int:
    """The umask's mode for a new file or folder; a file that was executable stays so."""
    if is_dir:
        return DIR_MODE
    return (0o777 if path.stat().st_mode & 0o111 else 0o666) & ~UMASK


@contextmanager
def creating_in(folder: Path) -> Iterator[None]:
    """Say which folder refused a new file or folder (the OSError names a temporary name the
    user never chose); a full disk stays an OSError for the callers that measure it."""
    try:
        yield
    except OSError as e:
        if e.errno in (errno.ENOSPC, errno.EDQUOT):
            raise
        reason = path_problem(e) or e.strerror or str(e)
        if e.errno == errno.ENOENT and folder.is_dir():  # e.g. /proc, a pseudo file system
            reason = "it does not accept new files"
        raise NotWritableError(f"Cannot write into {folder}: {reason}. Choose a folder you may "
                               f"write to.") from None


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path next to `path` to write by any means (np.save, QImage.save...).

    On success the file is fsynced, given ordinary permissions and renamed over `path`; on any
    exception it is deleted and `path` is untouched.
    """
    target = Path(path).expanduser()
    with creating_in(target.parent):
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        with tmp.open("rb+") as f:
            os.fsync(f.fileno())
        os.chmod(tmp, _ordinary_mode(tmp, False))  # mkstemp makes 0600; these are user files
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_dir(target.parent)


def atomic_write_bytes(path: str | Path, data: bytes) -> Path:
    """Write `data` to `path` atomically; returns the path."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return Path(path).expanduser()


def atomic_write_text(path: str | Path, text: str) -> Path:
    """Write UTF-8 `text` to `path` atomically; returns the path."""
    return atomic_write_bytes(path, text.encode("utf-8"))


# -- whole folders -------------------------------------------------------------------------------
def staging_folder(parent: str | Path, prefix: str) -> Path:
    """A fresh, empty temp folder in `parent` (same file system, so the final rename is atomic)."""
    root = Path(parent)
    with creating_in(root):
        root.mkdir(parents=True, exist_ok=True)
        staged = Path(tempfile.mkdtemp(prefix=prefix, suffix=".partial", dir=root))
    os.chmod(staged, DIR_MODE)  # mkdtemp makes 0700
    return staged


def settle_tree(folder: Path) -> None:
    """fsync every file and folder under `folder` and give each the umask's permissions."""
    for path in sorted(folder.rglob("*"), reverse=True):  # children before their folder
        if path.is_symlink():
            continue
        if path.is_dir():
            os.chmod(path, DIR_MODE)
            fsync_dir(path)
        elif path.is_file():
            if path.stat().st_nlink == 1:  # a hard link shares its source's mode: not ours
                os.chmod(path, _ordinary_mode(path, False))
            with path.open("rb") as f:
                os.fsync(f.fileno())
    os.chmod(folder, DIR_MODE)
    fsync_dir(folder)


def commit_folder(staged: Path, target: str | Path, *, replace: bool = False,
                  aside_prefix: str | None = None) -> Path:
    """Settle `staged` (fsync, permissions) and rename it to `target`.

    An existing empty `target` is replaced; a non-empty one only with `replace`, else
    FileExistsError. A replaced `target` is first renamed into a folder named `aside_prefix`...
    (so a cleaner that knows the prefix finds it after a crash), then deleted.
    """
    target = Path(target)
    settle_tree(staged)
    if target.is_dir() and not any(target.iterdir()):
        target.rmdir()  # Windows cannot rename onto an existing folder, even an empty one
    if target.exists():
        if not replace:
            raise FileExistsError(f"{target} already exists and is not empty")
        old = staging_folder(target.parent, aside_prefix or f".old-{target.name}-")
        os.replace(target, old / target.name)
        os.replace(staged, target)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(staged, target)
    fsync_dir(target.parent)
    return target


@contextmanager
def atomic_folder(target: str | Path, *, replace: bool = False) -> Iterator[Path]:
    """Yield a temp folder next to `target`; it becomes `target` only if the block succeeds.

    On any exception the temp folder is deleted and `target` is untouched.
    """
    target = Path(target).expanduser().resolve()
    staged = staging_folder(target.parent, f".{target.name}.")
    try:
        yield staged
        commit_folder(staged, target, replace=replace)
    except BaseException:
        shutil.rmtree(staged, ignore_errors=True)
        raise
