"""Read a pair of stored tensors chunk by chunk into float32 buffers reused for the whole diff.

Why not a fresh float32 tensor per chunk (`tensor_stats`' reader): glibc raises its mmap
threshold to the size of the first large block freed (up to 32 MB), after which ~32 MB chunk
tensors come from the malloc heap, whose freed, fragmented space is kept. Diffing two 6.7B
(Llama-2-7B shaped) files that way held 550-700 MB of anonymous memory above the imports; with
these buffers the diff's own anonymous memory is the buffers (about 4 x 32 MB) plus one stored
slice at a time, whatever the model's size (tests/bench/bench_deploy.py --huge measures it).
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from workbench.core.checkpoint.tensor_stats import CHUNK_ELEMENTS
from workbench.core.errors import CancelledError, CorruptCheckpointError


class ChunkBuffers:
    """Four float32 work buffers (a, b, a - b, scratch), grown only for a row wider than them."""

    def __init__(self, elements: int = CHUNK_ELEMENTS) -> None:
        import torch

        self._torch = torch
        self.a, self.b, self.d, self.s = (torch.empty(elements) for _ in range(4))

    def views(self, n: int) -> tuple[Any, Any, Any, Any]:
        """The first `n` elements of each buffer (all four grown to `n` if smaller)."""
        if n > self.a.numel():
            self.a, self.b, self.d, self.s = (self._torch.empty(n) for _ in range(4))
        return self.a[:n], self.b[:n], self.d[:n], self.s[:n]


def chunk_pairs(path_a: Path, name_a: str, path_b: Path, name_b: str, buffers: ChunkBuffers,
                cancel: threading.Event | None = None) -> Iterator[tuple[Any, Any, Any, Any]]:
    """(a, b, d, s) float32 views per chunk of rows: a and b hold the chunk of each tensor
    (same shape assumed), d and s are free work space of the same length."""
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(path_a), framework="pt") as fa, \
                safe_open(str(path_b), framework="pt") as fb:
            view_a, view_b = fa.get_slice(name_a), fb.get_slice(name_b)
            shape = view_a.get_shape()
            if len(shape) == 0:
                a, b, d, s = buffers.views(1)
                a.copy_(fa.get_tensor(name_a).reshape(-1))
                b.copy_(fb.get_tensor(name_b).reshape(-1))
                yield a, b, d, s
                return
            row = math.prod(shape[1:]) or 1
            step = max(1, CHUNK_ELEMENTS // row)
            for start in range(0, shape[0], step):
                if cancel is not None and cancel.is_set():
                    raise CancelledError("The checkpoint diff was cancelled.")
                raw = view_a[start:start + step]  # the stored dtype: one slice in memory
                a, b, d, s = buffers.views(raw.numel())
                a.copy_(raw.reshape(-1))  # converts to float32 in place
                del raw
                b.copy_(view_b[start:start + step].reshape(-1))
                yield a, b, d, s
    except SafetensorError as e:
        raise CorruptCheckpointError(f"{Path(path_a).name} / {Path(path_b).name}: '{name_a}' "
                                     f"could not be read ({e}).") from None
