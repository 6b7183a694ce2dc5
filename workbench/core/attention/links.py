"""The strongest query -> key links of some heads, for a BertViz-style line view."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

# Links weaker than this are not drawn: at 2,048 tokens a uniform row is 0.0005 everywhere.
MIN_WEIGHT = 0.02


@dataclass(frozen=True)
class Links:
    """Parallel arrays: head, query index, key index and weight of each link to draw."""

    head: np.ndarray
    query: np.ndarray
    key: np.ndarray
    weight: np.ndarray

    def __len__(self) -> int:
        return int(self.weight.size)


def strongest_links(matrices: np.ndarray, heads: Sequence[int], queries: Sequence[int] | None,
                    keys: Sequence[int] | None = None, top_k: int = 8,
                    min_weight: float = MIN_WEIGHT) -> Links:
    """Links of `heads` from `queries` (or into `keys`): per head and token the `top_k`
    strongest at or above `min_weight`. `matrices` is one layer, (heads, T_query, T_key)."""
    heads = np.asarray(sorted(set(heads)), dtype=np.intp)
    empty = np.zeros(0, dtype=np.intp)
    if heads.size == 0:
        return Links(empty, empty, empty, np.zeros(0, dtype=np.float32))
    if keys is not None:  # into these keys: transpose so the same code ranks the queries
        flipped = strongest_links(np.swapaxes(matrices, 1, 2), heads, keys, None, top_k,
                                  min_weight)
        return Links(flipped.head, flipped.key, flipped.query, flipped.weight)
    rows = np.asarray(queries, dtype=np.intp)
    block = matrices[heads[:, None], rows[None, :], :]  # (H, R, T_key): no copy of whole heads
    k = min(top_k, block.shape[-1])
    top = np.argpartition(-block, k - 1, axis=-1)[..., :k]  # (H, R, k), unordered
    weight = np.take_along_axis(block, top, axis=-1)
    keep = weight >= min_weight
    h_idx, r_idx, _ = np.nonzero(keep)
    return Links(heads[h_idx], rows[r_idx], top[keep].astype(np.intp),
                 weight[keep].astype(np.float32))
