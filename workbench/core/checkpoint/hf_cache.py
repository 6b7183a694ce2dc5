"""The local Hugging Face hub cache: which models are there, and where their snapshots live."""

from __future__ import annotations

import os
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


def list_cached_models(cache_dir: Path | None = None) -> list[CachedModel]:
    """Models in the cache, most recently used first; an absent cache is simply empty."""
    from huggingface_hub import scan_cache_dir
    from huggingface_hub.errors import CacheNotFound

    folder = cache_dir or hub_cache_dir()
    try:
        info = scan_cache_dir(folder)
    except CacheNotFound:
        return []
    models = []
    for repo in info.repos:
        if repo.repo_type != "model" or not repo.revisions:
            continue
        revs = sorted(repo.revisions, key=lambda r: r.last_modified, reverse=True)
        refs = sorted({ref for r in revs for ref in r.refs})
        models.append(CachedModel(
            repo.repo_id, tuple(r.commit_hash for r in revs), tuple(refs), repo.size_on_disk,
            repo.last_accessed, str(revs[0].snapshot_path)))
    return sorted(models, key=lambda m: m.last_accessed, reverse=True)


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
