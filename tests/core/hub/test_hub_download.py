"""Downloads through the real huggingface_hub client from a local Hub on 127.0.0.1."""

from __future__ import annotations

import itertools
import threading
from pathlib import Path

import pytest

from tests.fixtures.hub_server import PARAMETERS, TOKEN, Repo, tiny_sharded_bert
from workbench.core.errors import (
    CancelledError,
    HubAccessError,
    HubConnectionError,
    HubNotFoundError,
    WorkbenchError,
)
from workbench.core.hub.download import DownloadProgress, download_snapshot
from workbench.core.hub.files import list_remote_files, selection_patterns

REPO = "tiny/bert"  # served by the `served` fixture (conftest.py)


def _blobs(cache: Path) -> list[Path]:
    return sorted((cache / "models--tiny--bert" / "blobs").glob("*"))


def test_full_download_inspects_like_the_source(served, tmp_path):
    from workbench.core.checkpoint.hf_cache import list_cached_models
    from workbench.core.checkpoint.inspection import inspect_checkpoint

    events: list[DownloadProgress] = []
    result = download_snapshot(REPO, emit=events.append)

    source = tiny_sharded_bert()
    snapshot = Path(result.snapshot_path)
    assert snapshot.parent.name == "snapshots" and snapshot.name == served.repos[REPO].commit
    for name, data in served.repos[REPO].files.items():
        assert (snapshot / name).read_bytes() == data
    assert result.bytes_transferred == result.total_size == sum(
        len(d) for d in served.repos[REPO].files.values())
    info = inspect_checkpoint(str(snapshot))
    assert info.num_parameters == PARAMETERS
    assert info.architecture == "BertModel"
    assert set(info.shards) == {p.name for p in source.glob("*.safetensors")}
    # Progress: per file and overall, ending at 100 % of every file.
    assert events[-1].done == events[-1].total == result.total_size
    assert events[-1].files_done == events[-1].files_total == len(result.files)
    finished = {e.file for e in events if e.file_done == e.file_total}
    assert finished == set(result.files)
    assert all(a.done <= b.done for a, b in itertools.pairwise(events))
    # The ref is written, so the cache list shows the repo with "main".
    cached = {m.repo_id: m for m in list_cached_models(tmp_path / "hf-cache")}
    assert cached["tiny/bert"].refs == ("main",)
    assert cached["tiny/bert"].snapshot_path == str(snapshot)
    # A second download transfers nothing: every file is cached.
    again = download_snapshot(REPO)
    assert again.snapshot_path == result.snapshot_path and again.bytes_transferred == 0
    # The cache is huggingface_hub's own: its snapshot_download finds everything in place, and
    # transformers loads the model offline by its repo id (through refs/main).
    from huggingface_hub import constants, snapshot_download
    from transformers import AutoModel

    from workbench.core.hub.connection import online

    before = len(served.requests)
    with online():  # online: it lists the tree and checks each file against the cache
        assert snapshot_download(REPO, cache_dir=tmp_path / "hf-cache", endpoint=served.url,
                                 ) == result.snapshot_path
    asked = [r.path for r in served.requests[before:]]
    assert any("/tree/" in p for p in asked) and not [p for p in asked if "/resolve/" in p]
    assert constants.HF_HUB_OFFLINE  # restored: the workbench stays offline outside downloads
    model = AutoModel.from_pretrained(REPO, cache_dir=tmp_path / "hf-cache")
    assert sum(p.numel() for p in model.parameters()) == PARAMETERS


def test_selection_safetensors_only_and_include(served):
    repo = list_remote_files(REPO)
    result = download_snapshot(REPO, patterns=selection_patterns("safetensors"), repo=repo)
    assert "README.md" not in result.files and "onnx/model.onnx" not in result.files
    assert {"config.json", "model.safetensors.index.json"} <= set(result.files)
    only = download_snapshot(REPO, patterns=selection_patterns("include", include=["*.md"]))
    assert only.files == ("README.md",)
    with pytest.raises(WorkbenchError, match=r"no file matching \*\.gguf"):
        download_snapshot(REPO, patterns=["*.gguf"])
    with pytest.raises(WorkbenchError, match=r"Choose which \.gguf"):
        selection_patterns("gguf")


def test_one_gguf_file_of_several(served):
    served.repos["q/gguf"] = Repo({"m-Q4_K_M.gguf": b"GGUF" + b"\0" * 400,
                                   "m-Q8_0.gguf": b"GGUF" + b"\1" * 800, "README.md": b"#"})
    repo = list_remote_files("q/gguf")
    assert repo.gguf_files() == ["m-Q4_K_M.gguf", "m-Q8_0.gguf"]
    result = download_snapshot("q/gguf", patterns=selection_patterns("gguf", "m-Q8_0.gguf"))
    assert result.files == ("m-Q8_0.gguf",) and result.total_size == 804
    assert [r.path.rsplit("/", 1)[-1] for r in served.requests
            if r.method == "GET" and "/resolve/" in r.path] == ["m-Q8_0.gguf"]


def test_dropped_connection_mid_file_resumes_with_a_range_request(served, monkeypatch):
    from huggingface_hub import constants

    # huggingface_hub writes (and so can resume from) whole 10 MiB chunks; smaller chunks let a
    # 300 KB shard show the same Range resume a multi-GB shard gets.
    chunk = 16 * 1024
    monkeypatch.setattr(constants, "DOWNLOAD_CHUNK_SIZE", chunk)
    shard = "model-00001-of-00003.safetensors"
    size = len(served.repos[REPO].files[shard])
    cut = size // 3
    served.drop_after[shard] = cut
    result = download_snapshot(REPO, patterns=[shard])

    data = (Path(result.snapshot_path) / shard).read_bytes()
    assert data == served.repos[REPO].files[shard]
    gets = served.file_gets(shard)
    assert len(gets) == 2
    assert gets[0].range is None and gets[0].body_bytes == cut
    kept = cut // chunk * chunk  # the whole chunks received before the drop
    assert gets[1].range == f"bytes={kept}-"  # resumed, not restarted
    assert gets[1].body_bytes == size - kept


def test_a_stalled_transfer_times_out_and_resumes(served, monkeypatch):
    from huggingface_hub import constants

    chunk = 16 * 1024
    monkeypatch.setattr(constants, "DOWNLOAD_CHUNK_SIZE", chunk)
    monkeypatch.setattr(constants, "HF_HUB_DOWNLOAD_TIMEOUT", 0.5)  # 10 s by default
    shard = "model-00002-of-00003.safetensors"
    data = served.repos[REPO].files[shard]
    release = threading.Event()
    served.stall[shard] = release  # half the shard, then silence (the Range retry is served)
    try:
        result = download_snapshot(REPO, patterns=[shard])
    finally:
        release.set()
    assert (Path(result.snapshot_path) / shard).read_bytes() == data
    first, second = served.file_gets(shard)
    assert first.range is None
    assert second.range == f"bytes={len(data) // 2 // chunk * chunk}-"


def test_cancel_stops_between_files_and_leaves_no_partial_file(served, tmp_path):
    stop = threading.Event()

    def emit(event: DownloadProgress) -> None:
        if event.files_done == 1:
            stop.set()

    with pytest.raises(CancelledError, match="cancelled"):
        download_snapshot(REPO, emit=emit, stop=stop)
    fetched = [r for r in served.requests if r.method == "GET" and "/resolve/" in r.path]
    assert len(fetched) == 1  # nothing after the cancel
    assert [b.name.endswith(".incomplete") for b in _blobs(tmp_path / "hf-cache")] == [False]
    result = download_snapshot(REPO)  # the next attempt completes it
    assert len(result.files) == len(served.repos[REPO].files)


def test_cancel_inside_a_file_keeps_the_partial_and_the_next_attempt_resumes_it(
        served, monkeypatch, tmp_path):
    import time

    from huggingface_hub import constants

    chunk = 16 * 1024  # see the dropped-connection test: whole chunks are what is kept
    monkeypatch.setattr(constants, "DOWNLOAD_CHUNK_SIZE", chunk)
    shard = "model-00001-of-00003.safetensors"
    data = served.repos[REPO].files[shard]
    release = threading.Event()
    served.stall[shard] = release  # the server sends half the shard, then waits
    stop = threading.Event()
    errors: list[Exception] = []

    def run() -> None:
        try:
            download_snapshot(REPO, patterns=[shard], stop=stop)
        except Exception as e:
            errors.append(e)

    worker = threading.Thread(target=run)
    worker.start()
    kept = len(data) // 2 // chunk * chunk
    partials = tmp_path / "hf-cache" / "models--tiny--bert" / "blobs"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and sum(
            p.stat().st_size for p in partials.glob("*.workbench.incomplete")) < kept:
        time.sleep(0.02)
    stop.set()
    release.set()
    worker.join(30)
    assert not worker.is_alive() and isinstance(errors[0], CancelledError)
    [partial] = partials.glob("*.workbench.incomplete")
    assert partial.read_bytes() == data[:kept]  # what arrived before the cancel is kept
    from huggingface_hub import scan_cache_dir

    assert [f.file_path for f in scan_cache_dir(tmp_path / "hf-cache").incomplete_files] == [
        partial]  # huggingface_hub's own cache tools see it as an incomplete download

    del served.stall[shard]
    result = download_snapshot(REPO, patterns=[shard])
    assert (Path(result.snapshot_path) / shard).read_bytes() == data
    assert served.file_gets(shard)[-1].range == f"bytes={kept}-"  # continued, not restarted
    assert result.bytes_transferred == len(data) - kept
    assert not list(partials.glob("*.incomplete"))


def test_gated_repo_says_to_accept_and_log_in(served, monkeypatch):
    served.repos["meta/gated"] = Repo({"config.json": b"{}"}, gated=True)
    with pytest.raises(HubAccessError, match=r"gated.*hf auth login"):
        download_snapshot("meta/gated")
    monkeypatch.setenv("HF_TOKEN", "hf_not_granted")  # logged in, but without access: 403
    with pytest.raises(HubAccessError, match="token was sent but has not been granted"):
        download_snapshot("meta/gated")
    monkeypatch.setenv("HF_TOKEN", TOKEN)  # huggingface_hub's own token lookup finds it
    result = download_snapshot("meta/gated")
    assert result.files == ("config.json",)
    assert all(r.authorized for r in served.requests[-3:])


def test_private_repo_without_token_reads_as_not_found_with_login_advice(served, monkeypatch):
    served.repos["me/private"] = Repo({"config.json": b"{}"}, private=True)
    with pytest.raises(HubNotFoundError, match=r"me/private was not found.*private.*Log in"):
        download_snapshot("me/private")
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    assert download_snapshot("me/private").files == ("config.json",)


def test_missing_repo_and_revision_are_clear(served):
    with pytest.raises(HubNotFoundError, match="nobody/nothing was not found"):
        download_snapshot("nobody/nothing")
    with pytest.raises(HubNotFoundError, match="no revision 'v9'"):
        download_snapshot(REPO, revision="v9")
    with pytest.raises(HubNotFoundError, match="not a valid repository name"):
        download_snapshot("two words/x")


def test_no_server_listening_is_a_connection_error(monkeypatch, tmp_path):
    import socket

    from tests.fixtures.hub_server import use_endpoint

    with socket.socket() as s:  # a free port that nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    use_endpoint(monkeypatch, f"http://127.0.0.1:{port}", tmp_path / "cache")
    with pytest.raises(HubConnectionError, match=f"Cannot reach http://127.0.0.1:{port}"):
        download_snapshot(REPO)


def test_users_offline_mode_is_obeyed_and_the_workbench_default_lifted(served, monkeypatch):
    from huggingface_hub import constants

    from workbench.core.hub.connection import OFFLINE_DEFAULT_MARKER

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    assert download_snapshot(REPO, patterns=["README.md"]).files == ("README.md",)
    assert constants.HF_HUB_OFFLINE is True  # restored after the call
    monkeypatch.delenv(OFFLINE_DEFAULT_MARKER)  # now HF_HUB_OFFLINE is the user's choice
    with pytest.raises(HubConnectionError, match="Offline mode is on"):
        download_snapshot(REPO, patterns=["README.md"])


def test_progress_bar_speaks_huggingface_hubs_xet_reporter():
    """Xet downloads (most large files on huggingface.co) report through the same bar class."""
    from types import SimpleNamespace

    from huggingface_hub.utils._xet_progress_reporting import XetDownloadProgressReporter

    from workbench.core.hub.download import _Progress
    from workbench.core.hub.files import RemoteFile

    file = RemoteFile("model.safetensors", 1000)
    events: list[DownloadProgress] = []
    stop = threading.Event()
    state = _Progress([file], events.append, stop)
    reporter = XetDownloadProgressReporter(reconstruction_desc=file.path, total=1000,
                                           log_level=0, tqdm_class=state.bar_class(file))
    assert reporter.transfer_bar is reporter.reconstruction_bar  # one aggregated bar per file

    def report(done: int) -> SimpleNamespace:
        return SimpleNamespace(total_bytes_completed=done, total_transfer_bytes_completed=done,
                               total_bytes_completion_rate=1.0,
                               total_transfer_bytes_completion_rate=1.0, total_bytes=1000)

    reporter.update_progress(report(400))
    assert events[-1].file_done == 400 and events[-1].done == 400  # written bytes, once
    stop.set()
    with pytest.raises(CancelledError):
        reporter.update_progress(report(800))


def test_a_download_that_cannot_fit_is_refused_before_it_starts(served, monkeypatch):
    import shutil
    from collections import namedtuple

    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda _path: usage(10**9, 10**9 - 5000, 5000))
    with pytest.raises(WorkbenchError, match=r"tiny/bert needs .* but only 4\.9 KiB is free"):
        download_snapshot(REPO)
    assert not [r for r in served.requests if "/resolve/" in r.path]
