"""The local Hugging Face hub cache: which models are there, and where their snapshots live."""

from __future__ import annotations

import os
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path


@dataclass(frozen=True)
class CachedModel:
    """One model repository in the cache."""

    repo_id: str
    revisions: tuple[str, ...]  # commit hashes, newest snapshot first
    refs: tuple[str, ...]  # branch/tag names such as "main"
    size_on_disk: int
    last_accessed: float  # POSIX timestamp
    snapshot_path: str  # the newest snapshot folder: open this

    def to_json(self) -> dict:
        d = asdict(self)
        d["revisions"], d["refs"] = list(self.revisions), list(self.refs)
        return d


def hub_cache_dir() -> Path:
    """The cache folder, honouring HF_HUB_CACHE and HF_HOME at call time (not import time)."""
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"]).expanduser()
    home = os.environ.get("HF_HOME") or os.path.join(
        os.environ.get("XDG_CACHE_HOME", os.path.expanduser("~/.cache")), "huggingface")
    return Path(home).expanduser() / "hub"


# The start page scans the cache on every launch: a cache of many repos (or one with thousands of
# files) must never hold that worker, or the window's close, for long.
SCAN_SECONDS = 3.0
SCAN_ENTRIES = 50_000  # directory entries looked at, in all


@dataclass(frozen=True)
class CacheScan:
    """What a bounded scan found; `complete` is False when it stopped early (`reason` says why:
    the time or entry limit, or a cancel), and then more models may be in the cache."""

    folder: str
    models: tuple[CachedModel, ...]
    complete: bool = True
    reason: str = ""
    entries: int = 0


class _Stop(Exception):
    """The scan reached a limit or was cancelled (internal)."""


def scan_cached_models(cache_dir: Path | None = None, *, max_entries: int | None = SCAN_ENTRIES,
                       max_seconds: float | None = SCAN_SECONDS,
                       cancel: threading.Event | None = None) -> CacheScan:
    """Models in the cache, most recently used first, looking at most `max_entries` directory
    entries for at most `max_seconds` (None: no limit); stops soon after `cancel` is set.

    huggingface_hub's scan_cache_dir has no limit and no cancel, and stats and keeps an object
    for every file of every revision; this walks the same layout (models--org--name/refs,
    snapshots/<commit>, blobs) keeping one small record per repository, newest folders first.
    """
    folder = Path(cache_dir or hub_cache_dir()).expanduser()
    try:
        folder = folder.resolve()
        repos = [e for e in os.scandir(folder) if e.name.startswith("models--") and e.is_dir()]
    except OSError:  # absent or unreadable: simply empty, as scan_cache_dir's CacheNotFound
        return CacheScan(str(folder), ())
    start = time.monotonic()
    count = [len(repos)]

    def tick(n: int = 1) -> None:
        count[0] += n
        if cancel is not None and cancel.is_set():
            raise _Stop("cancelled")
        if max_entries is not None and count[0] > max_entries:
            raise _Stop(f"stopped after {max_entries:,} entries")
        if max_seconds is not None and time.monotonic() - start > max_seconds:
            raise _Stop(f"stopped after {max_seconds:g} s")

    def mtime(entry: os.DirEntry) -> float:
        try:
            return entry.stat(follow_symlinks=False).st_mtime
        except OSError:
            return 0.0

    repos.sort(key=mtime, reverse=True)  # cut short, the list still has the newest
    models: list[CachedModel] = []
    reason = ""
    try:
        for repo in repos:
            model = _scan_repo(Path(repo.path), repo.name, tick, models)
            if model is not None:
                models.append(model)
    except _Stop as e:
        reason = str(e)
    models.sort(key=lambda m: m.last_accessed, reverse=True)
    return CacheScan(str(folder), tuple(models), not reason, reason, count[0])


def _scan_repo(path: Path, name: str, tick, found: list) -> CachedModel | None:
    """One models--org--name folder (None without snapshots). A limit reached in its blobs
    still gives the repository, with the size counted so far, before the scan stops."""
    repo_id = name[len("models--"):].replace("--", "/")
    refs_of: dict[str, list[str]] = {}
    for root, _dirs, files in os.walk(path / "refs"):
        for ref in files:
            tick()
            try:
                commit = (Path(root) / ref).read_text(encoding="utf-8").strip()
            except (OSError, UnicodeDecodeError):
                continue
            refs_of.setdefault(commit, []).append(
                os.path.relpath(os.path.join(root, ref), path / "refs").replace(os.sep, "/"))
    revisions: list[tuple[float, str]] = []
    try:
        snapshots = list(os.scandir(path / "snapshots"))
    except OSError:
        return None
    for snap in snapshots:
        tick()
        if not snap.is_dir():
            continue
        # The revision's time: its newest top-level entry (a link made when a file arrived);
        # huggingface_hub reads every blob's mtime for this, which a bounded scan cannot.
        newest = 0.0
        try:
            for entry in os.scandir(snap.path):
                tick()
                newest = max(newest, entry.stat(follow_symlinks=False).st_mtime)
        except OSError:
            pass
        revisions.append((newest, snap.name))
    if not revisions:
        return None
    revisions.sort(reverse=True)
    size, accessed = 0, 0.0

    def model() -> CachedModel:
        commits = tuple(c for _t, c in revisions)
        refs = tuple(sorted({r for c in commits for r in refs_of.get(c, ())}))
        return CachedModel(repo_id, commits, refs, size, accessed or revisions[0][0],
                           str(path / "snapshots" / commits[0]))

    try:
        for blob in os.scandir(path / "blobs"):
            tick()
            try:
                st = blob.stat(follow_symlinks=False)
            except OSError:
                continue
            size += st.st_size
            accessed = max(accessed, st.st_atime)
    except OSError:
        pass
    except _Stop:
        found.append(model())
        raise
    return model()


def list_cached_models(cache_dir: Path | None = None) -> list[CachedModel]:
    """Every model in the cache (no limits), most recently used first; absent cache: empty."""
    return list(scan_cached_models(cache_dir, max_entries=None, max_seconds=None).models)


_GENERIC_NAMES = ("model", "snapshots", "checkpoint", "final", "merged")


def display_name(path: str | Path) -> str:
    """How to name a checkpoint for people: the repo id for an HF cache snapshot
    (`models--org--name/snapshots/<hash>` -> "org/name"), else the folder or file name, with its
    parent for generic names ("model", "final", a commit hash)."""
    parts = Path(path).parts
    for i, part in enumerate(parts[:-2]):
        if part.startswith("models--") and parts[i + 1] == "snapshots":
            repo_id = part[len("models--"):].replace("--", "/")
            rest = "/".join(parts[i + 3:])
            return f"{repo_id}/{rest}" if rest else repo_id
    p = Path(path)
    generic = p.name in _GENERIC_NAMES or (
        len(p.name) == 40 and all(c in "0123456789abcdef" for c in p.name))
    return f"{p.parent.name}/{p.name}" if generic and p.parent.name else p.name or str(p)
