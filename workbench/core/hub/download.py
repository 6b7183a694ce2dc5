"""Download a repository snapshot into the standard Hugging Face cache, with progress and cancel.

Files are fetched one at a time (so each has its own progress), each by huggingface_hub: its
`http_get` into the cache blob (resume.py) and `hf_hub_download`, which links the blob into the
snapshot and fetches Xet-stored files itself (and finally records the branch or tag in refs/).

Resume: huggingface_hub (2.x) resumes a connection that drops mid-file with a Range request (up
to 5 tries, within one call). Across attempts (a cancel, a crash) it keeps nothing, so plain
HTTP files go through `resume.fetch_resumable`, which keeps the partial file and continues it.
"""

from __future__ import annotations

import shutil
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from workbench.core.checkpoint.hf_cache import hub_cache_dir
from workbench.core.errors import CancelledError, WorkbenchError
from workbench.core.hub.connection import REQUEST_TIMEOUT, hub_endpoint, hub_errors, online
from workbench.core.hub.files import RemoteFile, RemoteRepo, list_remote_files, select_files
from workbench.core.hub.resume import fetch_resumable

EMIT_INTERVAL_S = 0.1  # progress events per file at most every 100 ms (plus start and end)
CHUNK_SIZE = 1 << 20  # bytes per read: the granularity of progress, cancel and resume
DISK_MARGIN = 1 << 30  # keep 1 GiB free beyond the download


@dataclass(frozen=True)
class DownloadProgress:
    """Where a download stands: the current file and the whole selection."""

    file: str
    file_done: int
    file_total: int
    done: int  # bytes of the selection done (finished files + the current one)
    total: int
    files_done: int
    files_total: int

    @property
    def fraction(self) -> float:
        return self.done / self.total if self.total else 1.0


@dataclass(frozen=True)
class DownloadResult:
    """A finished download: the snapshot folder to open, and what was fetched."""

    repo_id: str
    revision: str
    commit: str
    snapshot_path: str
    files: tuple[str, ...]
    total_size: int
    bytes_transferred: int  # received over the network by this call (cached files cost 0)

    def to_json(self) -> dict:
        return {"repo_id": self.repo_id, "revision": self.revision, "commit": self.commit,
                "snapshot_path": self.snapshot_path, "files": list(self.files),
                "total_size": self.total_size, "bytes_transferred": self.bytes_transferred}


Emit = Callable[[DownloadProgress], None]


class _Progress:
    """Shared state of one download; `bar_class(file)` makes the tqdm stand-in for one file."""

    def __init__(self, files: list[RemoteFile], emit: Emit | None, stop: threading.Event | None):
        self.files, self.emit, self.stop = files, emit, stop
        self.total = sum(f.size for f in files)
        self.finished_bytes = 0
        self.files_done = 0
        self.transferred = 0
        self._last_emit = 0.0

    def check_stop(self) -> None:
        if self.stop is not None and self.stop.is_set():
            raise CancelledError("Download cancelled. Finished files stay in the cache and the "
                                 "next download of this repository continues from there.")

    def report(self, file: RemoteFile, file_done: int, force: bool = False) -> None:
        """Emit (at most every EMIT_INTERVAL_S unless forced) where `file` and the whole stand."""
        now = time.monotonic()
        if self.emit is None or (not force and now - self._last_emit < EMIT_INTERVAL_S):
            return
        self._last_emit = now
        self.emit(DownloadProgress(file.path, file_done, file.size,
                                   self.finished_bytes + file_done, self.total,
                                   self.files_done, len(self.files)))

    def file_finished(self, file: RemoteFile) -> None:
        self.finished_bytes += file.size
        self.files_done += 1
        if self.emit is not None:
            self.emit(DownloadProgress(file.path, file.size, file.size, self.finished_bytes,
                                       self.total, self.files_done, len(self.files)))

    def bar_class(self, file: RemoteFile) -> type:
        progress = self

        class _FileBar(QuietBar):
            """What huggingface_hub calls as `tqdm_class(total=..., initial=...)` for one file."""

            def update(self, n: int | float | None = 1) -> None:
                # Raising here is how a cancel reaches huggingface_hub's download loop.
                progress.check_stop()
                self.n += int(n or 0)
                progress.transferred += int(n or 0)
                progress.report(file, min(self.n, file.size))

            def update_transfer(self, n: int | float | None = 1) -> None:
                # Network bytes (Xet downloads report them apart from bytes written, and pick
                # one aggregated bar when this method exists): only a chance to cancel.
                progress.check_stop()

        return _FileBar


class QuietBar:
    """A tqdm stand-in that shows nothing: the workbench reports progress its own way."""

    format_dict: dict = {}  # noqa: RUF012  (read-only; tqdm's rate lives here)

    def __init__(self, *_args, total: int | None = None, initial: int = 0, **_kwargs):
        self.n, self.total = initial, total

    def update(self, n: int | float | None = 1) -> None:
        self.n += int(n or 0)

    def __enter__(self) -> QuietBar:
        return self

    def __exit__(self, *_exc) -> None:
        return None

    def close(self) -> None:
        return None

    def refresh(self, *_a, **_k) -> None:
        return None

    def set_postfix_str(self, *_a, **_k) -> None:
        return None

    def set_transfer_postfix_str(self, *_a, **_k) -> None:
        return None

    def set_description(self, *_a, **_k) -> None:
        return None

    def set_description_str(self, *_a, **_k) -> None:
        return None


def download_snapshot(repo_id: str, revision: str | None = None,
                      patterns: list[str] | None = None, *, emit: Emit | None = None,
                      stop: threading.Event | None = None, repo: RemoteRepo | None = None,
                      cache_dir: Path | None = None) -> DownloadResult:
    """Download the files of `repo_id` matching `patterns` (None: all) into the HF cache.

    `repo` may be a listing already made (by a preview) to save a request; `stop` cancels
    between and inside files (CancelledError).
    """
    from huggingface_hub import constants, hf_hub_download

    revision = revision or "main"
    cache = str(cache_dir or hub_cache_dir())
    if repo is None or repo.repo_id != repo_id or repo.revision != revision:
        repo = list_remote_files(repo_id, revision)
    chosen = select_files(repo, patterns)
    _check_disk_space(repo, chosen, cache)
    state = _Progress(chosen, emit, stop)
    # huggingface_hub reads (and writes, and so resumes and sees a cancel) in chunks of
    # DOWNLOAD_CHUNK_SIZE, 10 MiB by default: a cancel on a 1 MB/s line would wait 10 s.
    constants.DOWNLOAD_CHUNK_SIZE = min(constants.DOWNLOAD_CHUNK_SIZE, CHUNK_SIZE)
    with online(), hub_errors(repo_id, revision):
        for file in chosen:
            state.check_stop()
            state.report(file, 0, force=True)
            # The resolved commit, not the branch: every file comes from the same commit even
            # if the branch moves during a long download.
            bar = state.bar_class(file)
            fetch_resumable(repo_id, file.path, repo.commit, cache, bar)
            # Links the blob into the snapshot (and fetches Xet-stored files itself).
            hf_hub_download(repo_id, file.path, revision=repo.commit, cache_dir=cache,
                            endpoint=hub_endpoint(), etag_timeout=REQUEST_TIMEOUT,
                            tqdm_class=bar)
            state.file_finished(file)
        state.check_stop()
        # Asking for one file by the branch or tag (its pointer is there: nothing downloads)
        # records refs/<revision>, which loaders such as from_pretrained(repo_id) look up.
        # (snapshot_download would too, but its listing takes no timeout.)
        pointer = hf_hub_download(repo_id, chosen[0].path, revision=revision, cache_dir=cache,
                                  endpoint=hub_endpoint(), etag_timeout=REQUEST_TIMEOUT,
                                  tqdm_class=QuietBar)
    snapshot = Path(pointer).parents[len(PurePosixPath(chosen[0].path).parts) - 1]
    if snapshot.name != repo.commit:
        raise WorkbenchError(
            f"'{revision}' of {repo_id} moved to another commit during the download; download "
            f"again to get the new one (finished files are kept).")
    return DownloadResult(repo_id, revision, repo.commit, str(snapshot),
                          tuple(f.path for f in chosen), state.total, state.transferred)


def _check_disk_space(repo: RemoteRepo, files: list[RemoteFile], cache: str) -> None:
    """Refuse up front a download that cannot fit, rather than fail half-way through."""
    from huggingface_hub import try_to_load_from_cache

    needed = sum(f.size for f in files if not isinstance(
        try_to_load_from_cache(repo.repo_id, f.path, cache_dir=cache, revision=repo.commit), str))
    folder = Path(cache)
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    free = shutil.disk_usage(folder).free
    if needed + DISK_MARGIN > free:
        from workbench.core.units import human_bytes

        raise WorkbenchError(
            f"{repo.repo_id} needs {human_bytes(needed)} but only {human_bytes(free)} is free in "
            f"{cache}. Free some space, choose fewer files, or set HF_HUB_CACHE to a larger "
            f"disk.")
