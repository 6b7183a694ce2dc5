"""The bounded HF cache scan: the same models as huggingface_hub's own scan, and limits in time,
entries and cancel that stop it early, saying so (a real cache layout with thousands of files)."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest

from tests.conftest import make_fake_hub_cache


def make_big_hub_cache(root: Path, repos: int = 30, files: int = 100) -> list[str]:
    """`repos` model repositories of `files` blobs each (real blobs, refs and snapshot links),
    each folder older than the next; returns the repo ids, newest first."""
    ids = []
    for r in range(repos):
        repo_id = f"org/model-{r:03d}"
        repo = root / f"models--{repo_id.replace('/', '--')}"
        commit = f"{r:040x}"
        (repo / "refs").mkdir(parents=True)
        (repo / "refs" / "main").write_text(commit)
        snap = repo / "snapshots" / commit
        snap.mkdir(parents=True)
        (repo / "blobs").mkdir()
        for f in range(files):
            blob = repo / "blobs" / f"{r:04d}{f:036x}"
            blob.write_bytes(b"x" * (f + 1))
            os.symlink(os.path.relpath(blob, snap), snap / f"file-{f}.bin")
        stamp = time.time() - 1000 + r  # later repos are newer
        for path in (snap, repo / "blobs", repo):
            os.utime(path, (stamp, stamp))
        ids.append(repo_id)
    return ids[::-1]


def test_scan_lists_what_huggingface_hub_lists(tiny_models, tmp_path):
    from huggingface_hub import scan_cache_dir

    from workbench.core.checkpoint.hf_cache import list_cached_models, scan_cached_models

    hub = tmp_path / "hub"
    make_fake_hub_cache(hub, tiny_models["bert"], "acme/tiny-bert")
    make_fake_hub_cache(hub, tiny_models["gpt2"], "acme/tiny-gpt2")
    make_big_hub_cache(hub, repos=3, files=20)
    (hub / "datasets--acme--data").mkdir()  # not a model: not listed, by either
    scan = scan_cached_models(hub)
    assert scan.complete and scan.reason == ""
    reference = {r.repo_id: r for r in scan_cache_dir(hub).repos if r.repo_type == "model"}
    ours = {m.repo_id: m for m in scan.models}
    assert set(ours) == set(reference) and len(ours) == 5
    for repo_id, ref in reference.items():
        (revision,) = ref.revisions
        assert ours[repo_id].revisions == (revision.commit_hash,)
        assert ours[repo_id].refs == tuple(sorted(revision.refs)) == ("main",)
        assert ours[repo_id].size_on_disk == ref.size_on_disk
        assert ours[repo_id].snapshot_path == str(revision.snapshot_path)
    assert [m.repo_id for m in list_cached_models(hub)] == [m.repo_id for m in scan.models]


def test_an_entry_limit_stops_the_scan_with_the_newest_repos_and_says_so(tmp_path):
    from workbench.core.checkpoint.hf_cache import scan_cached_models

    ids = make_big_hub_cache(tmp_path, repos=30, files=100)  # 3,000 blobs, 3,000 links
    full = scan_cached_models(tmp_path, max_entries=None, max_seconds=None)
    assert full.complete and len(full.models) == 30 and full.entries > 6000
    cut = scan_cached_models(tmp_path, max_entries=1000)
    assert not cut.complete and "1,000 entries" in cut.reason
    assert cut.entries <= 1001
    found = [m.repo_id for m in cut.models]
    assert 1 <= len(found) < 30
    assert set(found) == set(ids[:len(found)])  # the most recently changed folders first
    sizes = {m.repo_id: m.size_on_disk for m in full.models}
    # every repo but the one the limit fell in has its whole size
    assert sum(m.size_on_disk == sizes[m.repo_id] for m in cut.models) >= len(found) - 1


def test_time_limit_and_cancel_stop_the_scan(tmp_path):
    from workbench.core.checkpoint.hf_cache import scan_cached_models

    make_big_hub_cache(tmp_path, repos=10, files=100)
    timed = scan_cached_models(tmp_path, max_seconds=1e-9)
    assert not timed.complete and "s" in timed.reason.split("after ")[1]
    assert len(timed.models) <= 1
    cancel = threading.Event()
    cancel.set()
    cancelled = scan_cached_models(tmp_path, cancel=cancel)
    assert not cancelled.complete and cancelled.reason == "cancelled"
    assert cancelled.models == ()


@pytest.mark.parametrize("kind", ["missing", "file"])
def test_absent_or_unreadable_cache_is_empty(tmp_path, kind):
    from workbench.core.checkpoint.hf_cache import list_cached_models, scan_cached_models

    folder = tmp_path / "cache"
    if kind == "file":
        folder.write_text("not a folder")
    scan = scan_cached_models(folder)
    assert scan.models == () and scan.complete
    assert list_cached_models(folder) == []
