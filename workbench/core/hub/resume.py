"""Resume a plain-HTTP file download across attempts (a cancel, a crash, a lost network).

Why this exists: huggingface_hub 2.x resumes a dropped connection only within one call; since
huggingface_hub#4228 every attempt writes a uniquely named temporary file and deletes it when it
fails, so a cancelled 5 GB shard starts again from byte 0. Here the partial file keeps a stable
name, `blobs/<etag>.workbench.incomplete` (content-addressed: the same ETag is the same bytes;
`scan_cache_dir` lists it as an incomplete download), and huggingface_hub's own `http_get`
continues it with a Range request. When it is complete it is renamed to `blobs/<etag>`, the
cache's documented blob layout, and `hf_hub_download` then only links it into the snapshot.

Files stored with Xet (most large files on huggingface.co) are left to huggingface_hub, which
fetches them through hf_xet by content-defined chunks.
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import urlsplit

from workbench.core.hub.connection import REQUEST_TIMEOUT, hub_endpoint

PARTIAL_SUFFIX = ".workbench.incomplete"


def fetch_resumable(repo_id: str, filename: str, commit: str, cache_dir: str,
                    bar_class: type) -> bool:
    """Download `filename` into its cache blob, continuing an earlier partial; False: not done
    here (already cached, or stored with Xet), so `hf_hub_download` should take it."""
    from huggingface_hub import get_hf_file_metadata, hf_hub_url
    from huggingface_hub.file_download import http_get, repo_folder_name
    from huggingface_hub.utils import WeakFileLock, build_hf_headers

    url = hf_hub_url(repo_id, filename, revision=commit, endpoint=hub_endpoint())
    meta = get_hf_file_metadata(url, timeout=REQUEST_TIMEOUT)
    if meta.xet_file_data is not None or not meta.etag or meta.size is None:
        return False
    repo_folder = Path(cache_dir) / repo_folder_name(repo_id=repo_id, repo_type="model")
    blob = repo_folder / "blobs" / meta.etag
    if blob.exists():
        return False
    blob.parent.mkdir(parents=True, exist_ok=True)
    partial = blob.with_name(blob.name + PARTIAL_SUFFIX)
    # huggingface_hub's own lock for this blob: no other download (ours or its) writes it now.
    lock = Path(cache_dir) / ".locks" / repo_folder.name / f"{meta.etag}.lock"
    lock.parent.mkdir(parents=True, exist_ok=True)
    with WeakFileLock(str(lock)):
        if blob.exists():
            return False
        have = partial.stat().st_size if partial.exists() else 0
        if have > meta.size:  # cannot be this file's prefix
            partial.unlink()
            have = 0
        headers = build_hf_headers()
        location = meta.location or url
        if urlsplit(location).netloc != urlsplit(url).netloc:
            headers.pop("authorization", None)  # a signed CDN URL: the token stays with the Hub
        with partial.open("ab") as f:
            http_get(location, f, resume_size=have, headers=headers, expected_size=meta.size,
                     tqdm_class=bar_class)
        os.replace(partial, blob)
    return True
