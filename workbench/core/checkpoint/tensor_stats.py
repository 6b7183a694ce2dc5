"""Statistics of one stored tensor, read alone (safetensors slices or a memory-mapped .bin)."""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from workbench.core.checkpoint.pickle_weights import load_pickle_state_dict
from workbench.core.checkpoint.tensors import TensorInfo
from workbench.core.errors import CancelledError, CorruptCheckpointError, WorkbenchError

CHUNK_ELEMENTS = 8_000_000  # ~32 MB of float32 per step, whatever the tensor's size
KEEP_ELEMENTS = 32_000_000  # up to this size the histogram pass reuses the first pass's chunks


@dataclass(frozen=True)
class TensorStats:
    """Summary of a tensor's values; NaN/inf are counted, not mixed into the moments."""

    name: str
    dtype: str
    shape: tuple[int, ...]
    count: int
    mean: float
    std: float
    min: float
    max: float
    zeros: float  # share of exact zeros, 0..1
    nonfinite: int
    edges: np.ndarray  # (bins + 1,) histogram bin edges
    counts: np.ndarray  # (bins,) values per bin

    def to_json(self) -> dict:
        return {"name": self.name, "dtype": self.dtype, "shape": list(self.shape),
                "count": self.count, "mean": self.mean, "std": self.std, "min": self.min,
                "max": self.max, "zeros": self.zeros, "nonfinite": self.nonfinite,
                "edges": self.edges.tolist(), "counts": self.counts.tolist()}


def find_stored(tensors: tuple[TensorInfo, ...] | list[TensorInfo], name: str
                ) -> TensorInfo | None:
    """The stored tensor for a model parameter name, allowing a missing or extra prefix."""
    exact = next((t for t in tensors if t.name == name), None)
    if exact is not None:
        return exact
    near = [t for t in tensors if t.name.endswith("." + name) or name.endswith("." + t.name)]
    return near[0] if len(near) == 1 else None


def tensor_stats(root: str | Path, tensor: TensorInfo, bins: int = 64,
                 cancel: threading.Event | None = None) -> TensorStats:
    """Read `tensor` from its file under `root` chunk by chunk and summarise its values."""
    path = Path(root) / tensor.shard
    if not path.is_file():
        raise WorkbenchError(f"{tensor.shard} is not in {root}; the statistics of "
                             f"'{tensor.name}' need the weights file.")
    chunks = _safetensors_chunks if path.suffix == ".safetensors" else _pickle_chunks
    count = finite = zeros = 0
    total = total_sq = 0.0
    lo, hi = math.inf, -math.inf
    kept: list | None = [] if tensor.numel <= KEEP_ELEMENTS else None
    for chunk in chunks(path, tensor.name, cancel):  # pass 1: moments and range
        if kept is not None:
            kept.append(chunk)
        count += chunk.numel()
        ok = chunk[chunk.isfinite()]
        finite += ok.numel()
        zeros += int((chunk == 0).sum())  # a sync point per chunk; fine on CPU
        if ok.numel():
            total += float(ok.sum())
            total_sq += float((ok * ok).sum())
            lo, hi = min(lo, float(ok.min())), max(hi, float(ok.max()))
    mean = total / finite if finite else math.nan
    var = max(total_sq / finite - mean * mean, 0.0) if finite else math.nan
    counts = np.zeros(bins, dtype=np.int64)
    if finite:
        top = hi if hi > lo else lo + 1.0
        again = kept if kept is not None else chunks(path, tensor.name, cancel)
        for chunk in again:  # pass 2: histogram over the range
            ok = chunk[chunk.isfinite()]
            counts += _histogram(ok, bins, lo, top)
        edges = np.linspace(lo, top, bins + 1)
    else:
        edges = np.linspace(0.0, 1.0, bins + 1)
    return TensorStats(tensor.name, tensor.dtype, tensor.shape, count, mean, math.sqrt(var),
                       lo if finite else math.nan, hi if finite else math.nan,
                       zeros / count if count else 0.0, count - finite, edges, counts)


def _histogram(values, bins: int, lo: float, hi: float) -> np.ndarray:
    import torch

    if not values.numel():
        return np.zeros(bins, dtype=np.int64)
    return torch.histc(values, bins=bins, min=lo, max=hi).to(torch.int64).numpy()


def _check(cancel: threading.Event | None) -> None:
    if cancel is not None and cancel.is_set():
        raise CancelledError("Computing tensor statistics was cancelled.")


def _safetensors_chunks(path: Path, name: str, cancel):
    """float32 chunks of one tensor via get_slice, so only a slice is ever in memory."""
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(path), framework="pt") as f:
            view = f.get_slice(name)
            shape = view.get_shape()
            if len(shape) == 0:
                yield f.get_tensor(name).float().reshape(-1)
                return
            row = math.prod(shape[1:]) or 1
            step = max(1, CHUNK_ELEMENTS // row)
            for start in range(0, shape[0], step):
                _check(cancel)
                yield view[start:start + step].float().reshape(-1)
    except SafetensorError as e:
        raise CorruptCheckpointError(f"{path.name}: '{name}' could not be read ({e}).") from None


def _pickle_chunks(path: Path, name: str, cancel):
    """float32 chunks of one tensor of a .bin, memory-mapped with the weights_only unpickler."""
    value = load_pickle_state_dict(path).get(name)
    if value is None:
        raise WorkbenchError(f"{path.name} has no tensor named '{name}'.")
    flat = value.reshape(-1)
    for start in range(0, flat.numel(), CHUNK_ELEMENTS):
        _check(cancel)
        yield flat[start:start + CHUNK_ELEMENTS].float()
