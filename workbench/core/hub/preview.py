"""Preview a Hub repository from headers only: files, sizes, parameters and dtypes, no weights.

Each remote safetensors header is read with huggingface_hub's `parse_safetensors_file_metadata`
(a Range request for the first 100 KB, and a second one only if the header is longer), so a 70B
model's 30 shards cost 30 small requests, not 140 GB.
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from workbench.core.checkpoint.safetensors_header import tensors_from_header
from workbench.core.checkpoint.tensors import TensorInfo
from workbench.core.errors import CancelledError, CorruptCheckpointError, WorkbenchError
from workbench.core.hub.connection import REQUEST_TIMEOUT, hub_endpoint, hub_errors, online
from workbench.core.hub.files import RemoteRepo, list_remote_files
from workbench.core.model.memory import MemoryEstimate, estimate_memory

MAX_SHARDS = 2000  # a 405B model has 191 shards; more is not a checkpoint we can preview
PARALLEL_REQUESTS = 8  # huggingface_hub's own default for parallel header reads
MAX_CONFIG_BYTES = 1 << 20  # a config.json is a few KB; anything far bigger is not read


@dataclass(frozen=True)
class ShardSummary:
    """One remote safetensors file, from its header."""

    name: str
    size: int
    tensors: int
    parameters: int
    dtypes: dict[str, int]  # dtype -> parameters


@dataclass(frozen=True)
class RepoPreview:
    """What a download would bring, read without downloading any weights."""

    repo: RemoteRepo
    shards: tuple[ShardSummary, ...]
    logged_in: bool
    architecture: str | None = None  # config.json's architectures[0]
    model_type: str | None = None

    @property
    def parameters(self) -> int:
        return sum(s.parameters for s in self.shards)

    @property
    def dtypes(self) -> dict[str, int]:
        total: Counter[str] = Counter()
        for s in self.shards:
            total.update(s.dtypes)
        return dict(total.most_common())

    @property
    def safetensors_size(self) -> int:
        return sum(s.size for s in self.shards)

    @property
    def memory(self) -> MemoryEstimate | None:
        """Memory the weights need at each precision (None without safetensors to count)."""
        return estimate_memory(self.parameters, self.safetensors_size) if self.shards else None

    def to_json(self) -> dict:
        return {**self.repo.to_json(), "logged_in": self.logged_in,
                "architecture": self.architecture, "model_type": self.model_type,
                "parameters": self.parameters, "dtypes": self.dtypes,
                "tensors": sum(s.tensors for s in self.shards),
                "safetensors_size": self.safetensors_size,
                "memory": self.memory.to_json() if self.memory else None,
                "shards": [vars(s) for s in self.shards]}


Emit = Callable[[str], None]


def preview_repo(repo_id: str, revision: str | None = None, *, emit: Emit | None = None,
                 stop: threading.Event | None = None) -> RepoPreview:
    """List `repo_id`'s files, read config.json and the header of each top-level safetensors
    file (nothing is written to the cache)."""
    from workbench.core.hub.connection import logged_in
    if emit:
        emit(f"Listing {repo_id}")
    repo = list_remote_files(repo_id, revision)
    # Top-level files make the checkpoint; copies in subfolders (onnx/, original/) are listed
    # with the files but not counted as the model's parameters.
    shards = [f for f in repo.files if f.path.endswith(".safetensors") and "/" not in f.path]
    if len(shards) > MAX_SHARDS:
        raise WorkbenchError(f"{repo_id} has {len(shards):,} safetensors files (more than "
                             f"{MAX_SHARDS:,}): too many to preview; download a subset.")
    done = 0
    lock = threading.Lock()

    def read(name: str, size: int) -> ShardSummary:
        nonlocal done
        if stop is not None and stop.is_set():
            raise CancelledError("Preview cancelled.")
        summary = _read_shard(repo, name, size)
        with lock:
            done += 1
            if emit:
                emit(f"Read {done}/{len(shards)} safetensors headers")
        return summary

    with online(), hub_errors(repo_id, repo.revision), ThreadPoolExecutor(PARALLEL_REQUESTS) as ex:
        futures = [ex.submit(read, f.path, f.size) for f in shards]
        try:
            summaries = tuple(fut.result() for fut in futures)
        except BaseException:
            for fut in futures:
                fut.cancel()
            raise
        config = _read_config(repo)
    architectures = config.get("architectures")
    architecture = (str(architectures[0]) if isinstance(architectures, list) and architectures
                    else None)
    model_type = str(config["model_type"]) if config.get("model_type") else None
    return RepoPreview(repo, summaries, logged_in(), architecture, model_type)


def _read_config(repo: RemoteRepo) -> dict:
    """config.json's content, fetched into memory (a preview leaves nothing in the cache);
    {} when there is none or it is not a JSON object (the download's inspection will say)."""
    from huggingface_hub import get_session, hf_hub_url
    from huggingface_hub.utils import build_hf_headers, hf_raise_for_status

    entry = next((f for f in repo.files if f.path == "config.json"), None)
    if entry is None or entry.size > MAX_CONFIG_BYTES:
        return {}
    url = hf_hub_url(repo.repo_id, "config.json", revision=repo.commit, endpoint=hub_endpoint())
    response = get_session().get(url, headers=build_hf_headers(), timeout=REQUEST_TIMEOUT)
    hf_raise_for_status(response)
    try:
        config = json.loads(response.content[:MAX_CONFIG_BYTES])
    except ValueError:
        return {}
    return config if isinstance(config, dict) else {}


def _read_shard(repo: RemoteRepo, name: str, size: int) -> ShardSummary:
    from huggingface_hub import HfApi

    api = HfApi(endpoint=hub_endpoint())
    fix = "The file on the Hub cannot be read as it is; report it to the repository's authors."
    try:
        meta = api.parse_safetensors_file_metadata(repo.repo_id, name, revision=repo.commit,
                                                   timeout=REQUEST_TIMEOUT)
    except (AttributeError, TypeError, ValueError, KeyError, IndexError) as e:
        # huggingface_hub's parser wraps only some malformed headers in SafetensorsParsingError;
        # a header that is JSON but not an object of entries escapes as these (found by fuzzing).
        raise CorruptCheckpointError(
            f"{name}: its safetensors header is malformed ({type(e).__name__}: {e}). {fix}"
        ) from None
    # Back to the on-disk header form so the workbench's own validation (dtypes, offsets that
    # match shapes, no overlaps or gaps) applies to remote files exactly as to local ones.
    # (huggingface_hub keeps the values as they came, odd ones included: the validation judges.)
    header: dict = {k: {"dtype": t.dtype, "shape": _as_list(t.shape),
                        "data_offsets": _as_list(t.data_offsets)}
                    for k, t in meta.tensors.items()}
    header["__metadata__"] = meta.metadata
    tensors, _ = tensors_from_header(name, name, header, None)
    data_end = max((t.data_offsets[1] for t in tensors if t.data_offsets), default=0)
    if size and data_end > size - 8:
        raise CorruptCheckpointError(
            f"{name}: its header describes {data_end:,} bytes of tensors but the file on the Hub "
            f"has only {size:,} bytes. {fix}")
    return ShardSummary(name, size, len(tensors), sum(t.numel for t in tensors),
                        _by_dtype(tensors))


def _by_dtype(tensors: list[TensorInfo]) -> dict[str, int]:
    counts: Counter[str] = Counter()
    for t in tensors:
        counts[t.dtype] += t.numel
    return dict(counts)


def _as_list(value: object) -> object:
    return list(value) if isinstance(value, tuple) else value
