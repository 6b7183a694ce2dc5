"""Aggregations of attention maps: over heads, rollout across layers, entropy, sink heads."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


def mean_over_heads(maps: np.ndarray) -> np.ndarray:
    """(layers, heads, Tq, Tk) -> (layers, Tq, Tk), the mean of the heads."""
    return maps.mean(axis=1, dtype=np.float64).astype(np.float32)


def max_over_heads(maps: np.ndarray) -> np.ndarray:
    """(layers, heads, Tq, Tk) -> (layers, Tq, Tk), the largest weight of any head."""
    return np.ascontiguousarray(maps.max(axis=1), dtype=np.float32)


def rollout_layers(maps: np.ndarray, head_fusion: str = "mean") -> np.ndarray:
    """Attention rollout after each layer (Abnar & Zuidema 2020), (layers, T, T).

    Each layer's head-fused map gets the identity added for the residual connection, its rows
    are renormalised, and the layers are multiplied from the first: R_l = A_l @ R_{l-1}.
    """
    if maps.ndim != 4 or maps.shape[-1] != maps.shape[-2]:
        raise ValueError(f"rollout needs self-attention maps (layers, heads, T, T), got "
                         f"{maps.shape}")
    fused = maps.astype(np.float64)
    fused = fused.max(axis=1) if head_fusion == "max" else fused.mean(axis=1)  # (L, T, T)
    t = fused.shape[-1]
    out = np.empty(fused.shape, dtype=np.float32)
    joint = np.eye(t)
    for layer, a in enumerate(fused):
        a = a + np.eye(t)  # the residual stream carries each token to itself
        a /= a.sum(axis=-1, keepdims=True)
        joint = a @ joint
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
