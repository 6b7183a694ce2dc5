"""Aggregations of attention maps: over heads, rollout across layers, entropy, sink heads."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import numpy as np


class MapMode(StrEnum):
    """How one heatmap is made from a layer's heads."""

    HEAD = "head"  # one head's map
    MEAN = "mean"  # the mean over the layer's heads
    MAX = "max"  # the largest weight of any head
    ROLLOUT = "rollout"  # attention rollout from the first layer up to this one


MODE_TITLES = {MapMode.HEAD: "Single head", MapMode.MEAN: "Mean over heads",
               MapMode.MAX: "Max over heads", MapMode.ROLLOUT: "Rollout (up to this layer)"}
KIND_TITLES = {"self": "Self-attention", "encoder": "Encoder self-attention",
               "decoder": "Decoder self-attention", "cross": "Cross-attention"}


@dataclass(frozen=True)
class MapSelection:
    """One heatmap to show: which kind, layer, mode and head of AttentionMaps."""

    kind: str
    layer: int
    mode: MapMode = MapMode.HEAD
    head: int = 0


def selection_cost(maps: Any, selection: MapSelection) -> int:
    """Rough number of multiply-adds `select_map` does (to choose inline vs. a worker)."""
    stack = maps.maps.get(selection.kind)
    if stack is None:
        return 0
    _captured, heads, rows, cols = stack.shape
    if selection.mode == MapMode.HEAD:
        return rows * cols
    if selection.mode == MapMode.ROLLOUT:
        layers = selection.layer + 1
        return layers * (heads * rows * cols + rows * rows * cols)  # fusion + a T^3 product
    return heads * rows * cols


def select_map(maps: Any, selection: MapSelection) -> tuple[np.ndarray | None, str, bool]:
    """(matrix or None, title or the reason there is none, causal) of one selection.

    `maps` is an AttentionMaps; the matrix is (T_query, T_key) float32.
    """
    kind, layer, mode = selection.kind, selection.layer, MapMode(selection.mode)
    if maps is None or kind not in maps.maps or layer not in maps.layers[kind]:
        return None, "Layer not captured.", False
    stack = maps.maps[kind]  # (captured layers, heads, T_query, T_key)
    pos = maps.layers[kind].index(layer)
    causal = kind in maps.causal
    where = f"{KIND_TITLES.get(kind, kind)}, layer {layer}"
    if mode == MapMode.HEAD:
        head = min(max(selection.head, 0), stack.shape[1] - 1)
        return stack[pos, head], f"{where}, head {head}", causal
    if mode == MapMode.MEAN:
        return mean_over_heads(stack[pos:pos + 1])[0], f"{where}, mean over heads", causal
    if mode == MapMode.MAX:
        return max_over_heads(stack[pos:pos + 1])[0], f"{where}, max over heads", causal
    if kind == "cross" or len(maps.layers[kind]) != maps.num_layers[kind]:
        return None, ("Rollout needs every layer of a self-attention stack; this "
                      "selection has none or only some layers."), False
    return rollout_layers(stack[:pos + 1])[-1], f"{where}, rollout of layers 0-{layer}", causal


def mean_over_heads(maps: np.ndarray) -> np.ndarray:
    """(layers, heads, Tq, Tk) -> (layers, Tq, Tk), the mean of the heads."""
    return maps.mean(axis=1, dtype=np.float64).astype(np.float32)


def max_over_heads(maps: np.ndarray) -> np.ndarray:
    """(layers, heads, Tq, Tk) -> (layers, Tq, Tk), the largest weight of any head."""
    return np.ascontiguousarray(maps.max(axis=1), dtype=np.float32)


@dataclass(frozen=True)
class MapComparison:
    """The same selection on two AttentionMaps (A and B) and, when the shapes agree, A - B."""

    a: np.ndarray | None
    a_title: str
    b: np.ndarray | None
    b_title: str
    causal: bool
    diff: np.ndarray | None = None  # float32 A - B, None when A or B is missing or shapes differ
    span: float = 0.0  # the largest |A - B| (the symmetric colour range of the diff)


def compare_selection(a_maps: Any, b_maps: Any, selection: MapSelection) -> MapComparison:
    """select_map on both sides, and their difference."""
    a, a_title, causal = select_map(a_maps, selection)
    b, b_title, _ = select_map(b_maps, selection)
    if a is None or b is None or a.shape != b.shape:
        return MapComparison(a, a_title, b, b_title, causal)
    diff = a.astype(np.float32) - b.astype(np.float32)
    span = float(np.abs(diff).max()) if diff.size else 0.0
    return MapComparison(a, a_title, b, b_title, causal, diff, span)


def rollout_layers(maps: np.ndarray, head_fusion: str = "mean") -> np.ndarray:
    """Attention rollout after each layer (Abnar & Zuidema 2020), (layers, T, T).

    Each layer's head-fused map gets the identity added for the residual connection, its rows
    are renormalised, and the layers are multiplied from the first: R_l = A_l @ R_{l-1}.
    """
    if maps.ndim != 4 or maps.shape[-1] != maps.shape[-2]:
        raise ValueError(f"rollout needs self-attention maps (layers, heads, T, T), got "
                         f"{maps.shape}")
    layers, _heads, t, _ = maps.shape
    out = np.empty((layers, t, t), dtype=np.float32)
    joint = None
    for layer in range(layers):
        # fuse one layer at a time: a float64 copy of the whole stack would be 8 bytes x L x H x
        # T^2 (140 MB for MiniLM at 493 tokens) for the same numbers
        heads = maps[layer]  # (H, T, T)
        a = (heads.max(axis=0).astype(np.float64) if head_fusion == "max"
             else heads.mean(axis=0, dtype=np.float64))
        # the residual stream carries each token to itself: + identity, on the diagonal only
        # (np.eye(T) would touch one fresh page per row while holding the GIL: 80 ms of GUI
        # stall at 2,048 tokens, measured with py-spy --gil)
        a.flat[:: t + 1] += 1.0
        a /= a.sum(axis=-1, keepdims=True)
        joint = a if joint is None else a @ joint
        out[layer] = joint
    return out


def rollout(maps: np.ndarray, head_fusion: str = "mean") -> np.ndarray:
    """Attention rollout through all layers: (T, T), rows sum to 1."""
    return rollout_layers(maps, head_fusion)[-1]


def head_entropy(maps: np.ndarray) -> np.ndarray:
    """(layers, heads) mean entropy, in nats, of each query row's attention distribution."""
    p = np.asarray(maps, dtype=np.float32)
    terms = -p * np.log(np.where(p > 0, p, 1.0))  # 0 log 0 = 0
    return terms.sum(axis=-1, dtype=np.float64).mean(axis=-1).astype(np.float32)


@dataclass(frozen=True)
class SinkHead:
    """A head that sends most of its attention to the first token or to special tokens."""

    layer: int
    head: int
    share: float  # mean share of each row's attention going to those tokens
    target: str  # "first" or "special"


def sink_heads(maps: np.ndarray, special: Sequence[bool], threshold: float = 0.5,
               layers: Sequence[int] | None = None) -> tuple[SinkHead, ...]:
    """Heads whose rows give on average more than `threshold` to the first or special tokens."""
    layers = list(layers) if layers is not None else list(range(maps.shape[0]))
    first = maps[..., 0].mean(axis=-1)  # (L, H)
    mask = np.asarray(special, dtype=bool)
    to_special = maps[..., mask].sum(axis=-1).mean(axis=-1) if mask.any() else None
    out = []
    for li, layer in enumerate(layers):
        for h in range(maps.shape[1]):
            if first[li, h] > threshold:
                out.append(SinkHead(layer, h, float(first[li, h]), "first"))
            elif to_special is not None and to_special[li, h] > threshold:
                out.append(SinkHead(layer, h, float(to_special[li, h]), "special"))
    return tuple(out)


def summarize_sinks(heads: Sequence[SinkHead], total_heads: int) -> str:
    """One sentence for the user about first/special-token heads."""
    if not heads:
        return f"None of the {total_heads} heads sends most of its attention to the first or " \
               f"special tokens."
    first = sum(h.target == "first" for h in heads)
    listed = ", ".join(f"L{h.layer}H{h.head} ({h.share:.0%})" for h in heads[:8])
    more = f" and {len(heads) - 8} more" if len(heads) > 8 else ""
    return (f"{len(heads)} of {total_heads} heads send most of their attention to the first "
            f"token ({first}) or to special tokens ({len(heads) - first}): {listed}{more}.")


def masked_future(matrix: np.ndarray) -> np.ndarray:
    """A float32 copy with the upper triangle (the future, for causal maps) set to NaN."""
    out = np.array(matrix, dtype=np.float32, copy=True)
    rows, cols = out.shape
    out[np.triu(np.ones((rows, cols), dtype=bool), k=1)] = np.nan  # a mask: triu_indices is slow
    return out
