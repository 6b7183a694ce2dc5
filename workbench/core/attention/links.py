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


MEAN = -1  # the "head" that stands for the mean over a layer's heads
TOP_K = 8  # links kept per head and query token


@dataclass(frozen=True)
class LinkTable:
    """One layer's strongest links, computed once (in a worker) and sliced while drawing.

    For every head, and for the mean over heads (head `MEAN`), each query token's `top_k`
    strongest keys at or above `min_weight`, sorted by head then query then weight
    (descending). `offsets[h, q]` is where head h's query q starts (h = n_heads is the mean),
    so the links of the rows in view are a slice, not a search.
    """

    n_heads: int
    n_queries: int
    n_keys: int
    head: np.ndarray  # (N,) int16; MEAN for the mean
    query: np.ndarray  # (N,) int32
    key: np.ndarray  # (N,) int32
    weight: np.ndarray  # (N,) float32
    offsets: np.ndarray  # (n_heads + 1, n_queries + 1) int64

    def links(self, heads, queries: range | Sequence[int] | None = None,
              key: int | None = None, limit: int | None = None) -> Links:
        """The links of `heads` (ints, MEAN for the mean) from `queries` (default: all), or
        into one `key`; at most `limit`, the strongest kept."""
        rows = [self._row(h) for h in sorted(set(heads)) if self._row(h) is not None]
        if queries is None:
            queries = range(self.n_queries)
        if isinstance(queries, range) and queries.step == 1:
            lo, hi = max(queries.start, 0), min(queries.stop, self.n_queries)
            parts = [np.arange(self.offsets[r, lo], self.offsets[r, hi]) for r in rows
                     if hi > lo]
        else:
            parts = [np.arange(self.offsets[r, q], self.offsets[r, q + 1]) for r in rows
                     for q in queries if 0 <= q < self.n_queries]
        pick = np.concatenate(parts) if parts else np.zeros(0, dtype=np.intp)
        if key is not None:
            pick = pick[self.key[pick] == key]
        if limit is not None and pick.size > limit:
            pick = pick[np.argpartition(-self.weight[pick], limit - 1)[:limit]]
            pick.sort()
        return Links(self.head[pick].astype(np.intp), self.query[pick].astype(np.intp),
                     self.key[pick].astype(np.intp), self.weight[pick])

    def _row(self, head: int) -> int | None:
        if head == MEAN:
            return self.n_heads
        return head if 0 <= head < self.n_heads else None


def link_table(matrices: np.ndarray, top_k: int = TOP_K,
               min_weight: float = MIN_WEIGHT) -> LinkTable:
    """The LinkTable of one layer, (heads, T_query, T_key).

    A threshold first, then a sort of the few survivors: at 2,048 tokens a row holds at most
    1 / min_weight = 50 weights above the floor, so this is ~10x faster than an argpartition
    of every row. One head at a time, so no single numpy call holds the GIL for long.
    """
    n_heads, n_q, n_k = matrices.shape
    mean = matrices.mean(axis=0, dtype=np.float32)  # (Tq, Tk)
    heads, queries, keys, weights = [], [], [], []
    for h in range(n_heads + 1):
        m = mean if h == n_heads else matrices[h]
        q, k = np.nonzero(m >= min_weight)
        w = m[q, k]
        order = np.lexsort((-w, q))  # by query, then strongest first
        q, k, w = q[order], k[order], w[order]
        first = np.searchsorted(q, q, side="left")  # where each query's run starts
        keep = np.arange(q.size) - first < top_k
        heads.append(np.full(int(keep.sum()), MEAN if h == n_heads else h, dtype=np.int16))
        queries.append(q[keep].astype(np.int32))
        keys.append(k[keep].astype(np.int32))
        weights.append(w[keep].astype(np.float32))
    counts = np.zeros((n_heads + 1, n_q), dtype=np.int64)
    for h, q in enumerate(queries):
        counts[h] = np.bincount(q, minlength=n_q)
    offsets = np.zeros((n_heads + 1, n_q + 1), dtype=np.int64)
    offsets[:, 1:] = np.cumsum(counts, axis=1)
    offsets += np.r_[0, np.cumsum(counts.sum(axis=1))[:-1]][:, None]
    return LinkTable(n_heads, n_q, n_k, np.concatenate(heads), np.concatenate(queries),
                     np.concatenate(keys), np.concatenate(weights), offsets)


def attach_link_tables(maps, wanted: dict[str, int] | None = None) -> None:
    """Worker side: store LinkTables in `maps.extra["links"][(kind, layer)]`, for the layer of
    each kind in `wanted` (default: the last captured one) when it was captured."""
    tables = maps.extra.setdefault("links", {})
    for kind in maps.kinds:
        layers = maps.layers[kind]
        layer = (wanted or {}).get(kind)
        layer = layer if layer in layers else layers[-1]
        if (kind, layer) not in tables:
            tables[(kind, layer)] = (maps.maps[kind], link_table(
                maps.maps[kind][layers.index(layer)]))


def cached_link_table(maps, kind: str, layer: int) -> LinkTable | None:
    """The table a worker attached for exactly these maps, else None."""
    stored = maps.extra.get("links", {}).get((kind, layer))
    return stored[1] if stored is not None and stored[0] is maps.maps.get(kind) else None
