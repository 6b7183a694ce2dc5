"""Overviews of a whole attention stack: the all-heads thumbnail mosaic, per-head entropy and
sink heads. Computed in the worker that ran the model, so the GUI thread only draws them."""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from workbench.core.attention.aggregate import (
    SinkHead,
    head_entropy,
    sink_heads,
    summarize_sinks,
)
from workbench.core.attention.export import MASKED_RGB, colormap_lut

THUMB = 64  # thumbnail side in pixels
GAP = 4
GAP_RGB = (255, 255, 255)


def thumbnails(maps: np.ndarray, side: int = THUMB
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(L, H, Tq, Tk) -> (L, H, side, side) float32 thumbnails, plus (side, side) bool masks of
    pixels wholly in the future of a causal map and of pixels outside a small map.

    Larger maps are reduced by block max (keeps thin diagonals visible), smaller ones enlarged
    by repetition; all tiles at once, no Python loop over heads.
    """
    n_l, n_h, rows, cols = maps.shape
    fy, fx = max(1, math.ceil(rows / side)), max(1, math.ceil(cols / side))
    data = maps
    if fy > 1 or fx > 1:
        pr, pc = math.ceil(rows / fy) * fy, math.ceil(cols / fx) * fx
        if (pr, pc) != (rows, cols):
            data = np.zeros((n_l, n_h, pr, pc), dtype=np.float32)
            data[..., :rows, :cols] = maps
        # Strided slices + elementwise max: a multi-axis reduce over tiny blocks is ~10x slower.
        data = functools.reduce(np.maximum, (data[..., k::fx] for k in range(fx)))
        data = functools.reduce(np.maximum, (data[..., k::fy, :] for k in range(fy)))
    r, c = data.shape[-2:]
    k = max(1, side // max(r, c))  # whole pixels per cell: uneven cells would look like stripes
    ys, xs = np.arange(side) // k, np.arange(side) // k
    outside = (ys[:, None] >= r) | (xs[None, :] >= c)  # left blank (gap colour)
    ys, xs = np.minimum(ys, r - 1), np.minimum(xs, c - 1)
    thumbs = data[:, :, ys][:, :, :, xs]
    # A block is future-only when its last query row is before its first key column.
    future = ((ys[:, None] + 1) * fy - 1) < (xs[None, :] * fx)
    return np.ascontiguousarray(thumbs, dtype=np.float32), future, outside


def mosaic_rgb(maps: np.ndarray, causal: bool) -> np.ndarray:
    """(L, H, Tq, Tk) -> one RGB image of L rows x H columns of thumbnails, each scaled to its
    own largest weight (so weak heads stay readable); masked future grey, gaps white."""
    n_layers, n_heads = maps.shape[:2]
    thumbs, future, outside = thumbnails(maps)
    top = thumbs.max(axis=(2, 3), keepdims=True)
    scaled = thumbs / np.where(top > 0, top, 1.0)
    rgb = colormap_lut()[np.clip(np.round(scaled * 255), 0, 255).astype(np.intp)]  # L,H,S,S,3
    if causal:
        rgb[:, :, future] = MASKED_RGB
    rgb[:, :, outside] = GAP_RGB
    step = THUMB + GAP
    tiles = np.empty((n_layers, n_heads, step, step, 3), dtype=np.uint8)
    tiles[:] = GAP_RGB
    tiles[:, :, :THUMB, :THUMB] = rgb
    out = tiles.transpose(0, 2, 1, 3, 4).reshape(n_layers * step, n_heads * step, 3)
    return np.ascontiguousarray(out[:-GAP, :-GAP])


@dataclass(frozen=True)
class KindOverview:
    """What the grid and summary views show for one kind of attention."""

    stack: np.ndarray  # the (L, H, Tq, Tk) maps it was made from (identity: cache check)
    mosaic: np.ndarray | None  # (rows, cols, 3) uint8 image of every layer x head thumbnail
    entropy: np.ndarray  # (L, H) mean entropy in nats
    sinks: tuple[SinkHead, ...]
    sinks_text: str


def kind_overview(maps: Any, kind: str, with_mosaic: bool = True) -> KindOverview:
    """The overview of `maps.maps[kind]` (maps is an AttentionMaps)."""
    stack = maps.maps[kind]
    _queries, keys = maps.axis_tokens(kind)
    sinks = sink_heads(stack, [t.special for t in keys], layers=maps.layers[kind])
    mosaic = mosaic_rgb(stack, kind in maps.causal) if with_mosaic else None
    return KindOverview(stack, mosaic, head_entropy(stack), sinks,
                        summarize_sinks(sinks, stack.shape[0] * stack.shape[1]))


def attach_overviews(maps: Any) -> Any:
    """Store every kind's overview in `maps.extra["overviews"]` (worker side); returns maps."""
    maps.extra["overviews"] = {kind: kind_overview(maps, kind) for kind in maps.kinds}
    return maps


def cached_overview(maps: Any, kind: str) -> KindOverview | None:
    """The overview a worker attached for exactly these maps, else None."""
    overview = maps.extra.get("overviews", {}).get(kind)
    return overview if overview is not None and overview.stack is maps.maps[kind] else None
