"""Diff two checkpoints tensor by tensor: relative change, cosine, shape/dtype/name and config.

Tensors are streamed from safetensors by slices into reused float32 buffers (`core.diff.stream`),
one pair at a time, so the memory used does not grow with the model: two 7B checkpoints diff in
the same few hundred MB as two tiny ones (measured: tests/bench/bench_deploy.py --huge).
"""

from __future__ import annotations

import math
import re
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from workbench.core.checkpoint.inspection import CheckpointInfo, inspect_checkpoint
from workbench.core.checkpoint.tensors import TensorInfo
from workbench.core.diff.stream import ChunkBuffers, chunk_pairs
from workbench.core.errors import WorkbenchError
from workbench.core.progress import Progress, Reporter

# A name like "encoder.layer.3.attention.self.query.weight": (layer prefix, index, rest).
_LAYER = re.compile(r"^(?P<prefix>.*?)\.(?P<index>\d+)\.(?P<rest>.+)$")
# config.json keys that say where or by what a file was written, not what the model is.
_CONFIG_NOISE = ("_name_or_path", "transformers_version")


@dataclass(frozen=True)
class TensorDiff:
    """How one stored tensor differs between A and B (status: same, changed, shape, only_a/b)."""

    name: str
    status: str
    shape_a: tuple[int, ...] | None
    shape_b: tuple[int, ...] | None
    dtype_a: str | None
    dtype_b: str | None
    relative_change: float = math.nan  # ||B - A|| / ||A||
    cosine: float = math.nan
    max_abs_diff: float = math.nan
    norm_a: float = math.nan
    sq_diff: float = 0.0  # ||B - A||^2, kept to aggregate modules exactly
    sq_a: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "status": self.status,
                "shape_a": list(self.shape_a) if self.shape_a is not None else None,
                "shape_b": list(self.shape_b) if self.shape_b is not None else None,
                "dtype_a": self.dtype_a, "dtype_b": self.dtype_b,
                "relative_change": _finite(self.relative_change), "cosine": _finite(self.cosine),
                "max_abs_diff": _finite(self.max_abs_diff)}


@dataclass(frozen=True)
class ModuleDiff:
    """The change of one module (its weight and bias together): ||dW|| / ||W||."""

    name: str
    relative_change: float
    num_tensors: int

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "relative_change": _finite(self.relative_change),
                "num_tensors": self.num_tensors}


@dataclass(frozen=True)
class LayerMatrix:
    """Relative change per (layer, module kind): the heatmap of which layers moved.

    `values[i, j]` is NaN where layer i has no module j.
    """

    layers: list[str]  # e.g. "encoder.layer.0"
    modules: list[str]  # e.g. "attention.self.query"
    values: np.ndarray  # (len(layers), len(modules)) float64

    def to_json(self) -> dict[str, Any]:
        return {"layers": self.layers, "modules": self.modules,
                "values": [[_finite(v) for v in row] for row in self.values.tolist()]}


@dataclass(frozen=True)
class CheckpointDiff:
    """The whole diff of A against B: plain data, safe to hand to another thread."""

    path_a: str
    path_b: str
    tensors: list[TensorDiff]
    modules: list[ModuleDiff]
    matrix: LayerMatrix
    config_diff: dict[str, tuple[Any, Any]] = field(default_factory=dict)
    name_prefix: str = ""  # what was prepended to A's names to match B's ("bert." etc.)
    lora: list[dict[str, Any]] = field(default_factory=list)  # filled for a LoRA adapter

    def summary(self) -> dict[str, int]:
        """How many tensors fall into each status."""
        counts: dict[str, int] = {}
        for t in self.tensors:
            counts[t.status] = counts.get(t.status, 0) + 1
        return counts

    def to_json(self) -> dict[str, Any]:
        """The documented `workbench diff --json` object."""
        return {"path_a": self.path_a, "path_b": self.path_b, "summary": self.summary(),
                "name_prefix": self.name_prefix,
                "config_diff": {k: [a, b] for k, (a, b) in self.config_diff.items()},
                "tensors": [t.to_json() for t in self.tensors],
                "modules": [m.to_json() for m in self.modules],
                "matrix": self.matrix.to_json(), "lora": self.lora}


def _finite(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None


def diff_checkpoints(path_a: str | Path, path_b: str | Path | None, *,
                     progress: Progress | None = None,
                     cancel: threading.Event | None = None) -> CheckpointDiff:
    """Compare checkpoint B with A (A is the reference: relative change is against A).

    Either side may be a LoRA adapter folder: then the adapter's own update B@A is measured,
    relative to the other side's weights (see `core.diff.lora`); an adapter alone (`path_b`
    None) is compared with the base model its adapter_config.json names, if that is local.
    """
    info_a = _inspect(path_a)
    info_b = _inspect(path_b) if path_b is not None else None
    if info_a.adapter is not None or (info_b is not None and info_b.adapter is not None):
        from workbench.core.diff.lora import diff_adapter

        base, adapter = (info_b, info_a) if info_a.adapter is not None else (info_a, info_b)
        return diff_adapter(base, adapter, progress=progress, cancel=cancel)
    if info_b is None:
        raise WorkbenchError("Give two checkpoints to compare (only a LoRA adapter can be "
                             "diffed alone, against the base model it names).")
    report = Reporter(progress, cancel, "The checkpoint diff")
    by_a = {t.name: t for t in info_a.tensors}
    by_b = {t.name: t for t in info_b.tensors}
    prefix, a_to_b = align_names(list(by_a), list(by_b))
    tensors: list[TensorDiff] = []
    buffers = ChunkBuffers()  # one work space for every tensor pair
    for i, (name_a, name_b) in enumerate(a_to_b.items()):
        report.step(f"Comparing tensor {i + 1} of {len(a_to_b)}: {name_b}")
        tensors.append(_compare(Path(info_a.root), by_a[name_a], Path(info_b.root), by_b[name_b],
                                name_b, cancel, buffers))
    matched_b = set(a_to_b.values())
    tensors += [_only(t, "only_a", t.name) for n, t in by_a.items() if n not in a_to_b]
    tensors += [_only(t, "only_b", t.name) for n, t in by_b.items() if n not in matched_b]
    report.step("Comparing configs", force=True)
    return CheckpointDiff(
        path_a=str(info_a.root), path_b=str(info_b.root), tensors=tensors,
        modules=module_changes(tensors), matrix=layer_matrix(tensors),
        config_diff=config_diff(info_a.config, info_b.config), name_prefix=prefix)


def _inspect(path: str | Path) -> CheckpointInfo:
    info = inspect_checkpoint(path, build_tree=False)
    if info.adapter is None and not info.format.endswith("safetensors"):
        raise WorkbenchError(
            f"{info.path} is stored as {info.format}; the diff streams safetensors only. Convert "
            f"it first (load it and save_pretrained(..., safe_serialization=True)), or export it "
            f"with `workbench export`.")
    if not info.tensors:
        raise WorkbenchError(f"{info.path} holds no weights to compare.")
    return info


def align_names(names_a: list[str], names_b: list[str]) -> tuple[str, dict[str, str]]:
    """Pair A's tensor names with B's: exactly, or with a prefix added to one side.

    A base model stores "encoder.layer.0..." while the same model with a task head stores
    "bert.encoder.layer.0...": the prefix (here "bert.") that matches most names wins.
    Returns (prefix shown to the user, {name in A: name in B}); a negative match (B shorter)
    is reported as "-prefix".
    """
    set_b = set(names_b)
    best: tuple[int, str, dict[str, str]] = (0, "", {})
    exact = {n: n for n in names_a if n in set_b}
    best = (len(exact), "", exact)
    candidates = {n.split(".", 1)[0] + "." for n in names_a + names_b if "." in n}
    for p in sorted(candidates):
        grow = {n: p + n for n in names_a if p + n in set_b}  # B has the prefix
        if len(grow) > best[0]:
            best = (len(grow), p, grow)
        shrink = {n: n[len(p):] for n in names_a if n.startswith(p) and n[len(p):] in set_b}
        if len(shrink) > best[0]:
            best = (len(shrink), "-" + p, shrink)
    return best[1], best[2]


def _only(t: TensorInfo, status: str, name: str) -> TensorDiff:
    a = status == "only_a"
    return TensorDiff(name, status, t.shape if a else None, None if a else t.shape,
                      t.dtype if a else None, None if a else t.dtype)


def _compare(root_a: Path, ta: TensorInfo, root_b: Path, tb: TensorInfo, name: str,
             cancel: threading.Event | None, buffers: ChunkBuffers) -> TensorDiff:
    """Stream one tensor pair in float32 chunks and reduce it to sums of squares and products."""
    if ta.shape != tb.shape:
        return TensorDiff(name, "shape", ta.shape, tb.shape, ta.dtype, tb.dtype)
    import torch

    sq_diff = sq_a = sq_b = dot = 0.0
    max_abs = 0.0
    for ca, cb, d, s in chunk_pairs(root_a / ta.shard, ta.name, root_b / tb.shard, tb.name,
                                    buffers, cancel):
        # float32 within a chunk (torch sums pairwise: ~1e-7 relative over 8M elements), float64
        # (Python floats) across chunks, so a 7B tensor's sums neither overflow nor drift.
        # Converting every chunk to float64 instead took 272 s for the 1.2B bench_deploy pair
        # (34 s this way; measured at different machine loads, so the ratio is rough).
        # Every result goes into the reused buffers d and s (out=): no allocation per chunk.
        torch.sub(cb, ca, out=d)
        # Not torch.dot: BLAS sdot accumulates sequentially in float32 (error grows with n).
        sq_diff += float(torch.mul(d, d, out=s).sum())  # float(): one sync per chunk
        sq_a += float(torch.mul(ca, ca, out=s).sum())
        sq_b += float(torch.mul(cb, cb, out=s).sum())
        dot += float(torch.mul(ca, cb, out=s).sum())
        if d.numel():
            max_abs = max(max_abs, float(torch.abs(d, out=s).max()))
    norm_a = math.sqrt(sq_a)
    rel = math.sqrt(sq_diff) / norm_a if norm_a > 0 else (0.0 if sq_diff == 0 else math.inf)
    cosine = dot / math.sqrt(sq_a * sq_b) if sq_a > 0 and sq_b > 0 else math.nan
    status = "same" if sq_diff == 0 and ta.dtype == tb.dtype else "changed"
    return TensorDiff(name, status, ta.shape, tb.shape, ta.dtype, tb.dtype, rel, cosine, max_abs,
                      norm_a, sq_diff, sq_a)


def module_of(name: str) -> str:
    """The module a parameter belongs to: its name without the last part (weight, bias...)."""
    return name.rsplit(".", 1)[0] if "." in name else name


def module_changes(tensors: list[TensorDiff]) -> list[ModuleDiff]:
    """Per-module relative change ||dW|| / ||W|| over the module's compared tensors."""
    sums: dict[str, list[float]] = {}
    for t in tensors:
        if t.status in ("same", "changed"):
            s = sums.setdefault(module_of(t.name), [0.0, 0.0, 0])
            s[0] += t.sq_diff
            s[1] += t.sq_a
            s[2] += 1
    return [ModuleDiff(m, _ratio(d, a), int(n)) for m, (d, a, n) in sums.items()]


def _ratio(sq_diff: float, sq_a: float) -> float:
    if sq_a > 0:
        return math.sqrt(sq_diff / sq_a)
    return 0.0 if sq_diff == 0 else math.inf


def split_layer(module: str) -> tuple[str, int, str] | None:
    """("encoder.layer", 3, "attention.self.query") for a module inside a numbered layer."""
    m = _LAYER.match(module)
    if m is None:
        return None
    return m["prefix"], int(m["index"]), m["rest"]


def layer_matrix(tensors: list[TensorDiff]) -> LayerMatrix:
    """Layers x module kinds of relative change, from the modules inside numbered layers."""
    cells: dict[tuple[str, int], dict[str, list[float]]] = {}
    kinds: list[str] = []
    for t in tensors:
        if t.status not in ("same", "changed"):
            continue
        parts = split_layer(module_of(t.name))
        if parts is None:
            continue
        prefix, index, rest = parts
        if rest not in kinds:
            kinds.append(rest)
        s = cells.setdefault((prefix, index), {}).setdefault(rest, [0.0, 0.0])
        s[0] += t.sq_diff
        s[1] += t.sq_a
    rows = sorted(cells)
    values = np.full((len(rows), len(kinds)), np.nan)
    for i, key in enumerate(rows):
        for kind, (d, a) in cells[key].items():
            values[i, kinds.index(kind)] = _ratio(d, a)
    return LayerMatrix([f"{p}.{i}" for p, i in rows], kinds, values)


# Words shortened in axis labels longer than LABEL_CHARS: the heatmap axis cuts labels at 16
# characters and thins them by the longest one, so shorter labels all show at 1024 px.
_ABBREVIATIONS = (("attention", "attn"), ("intermediate", "inter"), ("LayerNorm", "LN"),
                  ("layernorm", "ln"), ("output", "out"), ("projection", "proj"))
LABEL_CHARS = 12


def short_labels(names: list[str]) -> list[str]:
    """Each dotted name cut to its shortest ending that no other name ends with, for axis
    labels: "attention.self.query" -> "query", but "attention.output.dense" keeps its
    distinguishing part beside "output.dense" (as "attn.out.dense": past LABEL_CHARS,
    common words are abbreviated while the labels stay unique)."""
    labels = _unique_tails(names)
    short = []
    for label in labels:
        if len(label) > LABEL_CHARS:
            for word, abbreviation in _ABBREVIATIONS:
                label = ".".join(abbreviation if p == word else p for p in label.split("."))
        short.append(label)
    return short if len(set(short)) == len(short) else labels


def _unique_tails(names: list[str]) -> list[str]:
    out = []
    for name in names:
        parts = name.split(".")
        others = [n for n in names if n != name]
        label = name
        for k in range(1, len(parts)):
            tail = ".".join(parts[-k:])
            if not any(o == tail or o.endswith("." + tail) for o in others):
                label = tail
                break
        out.append(label)
    return out


def config_diff(a: dict[str, Any] | None, b: dict[str, Any] | None) -> dict[str, tuple[Any, Any]]:
    """{key: (value in A, value in B)} for every top-level config key that differs.

    A key only one side stores counts as the config class's default on the other: a config
    saved by an older transformers lacks keys (is_decoder, tie_word_embeddings...) that a newer
    one writes with their defaults, which is no difference in the model."""
    a, b = _renamed(a or {}), _renamed(b or {})
    defaults = _config_defaults(a.get("model_type") or b.get("model_type"))
    missing = object()

    def value(side: dict[str, Any], key: str) -> Any:
        got = side.get(key, missing)
        return defaults.get(key) if got is missing else got

    return {k: (a.get(k), b.get(k)) for k in sorted(set(a) | set(b))
            if k not in _CONFIG_NOISE and value(a, k) != value(b, k)}


def _renamed(config: dict[str, Any]) -> dict[str, Any]:
    """transformers v5 writes `dtype` where older versions wrote `torch_dtype`."""
    if "torch_dtype" in config and "dtype" not in config:
        config = dict(config)
        config["dtype"] = config.pop("torch_dtype")
    return config


def _config_defaults(model_type: Any) -> dict[str, Any]:
    """The default config.json values of `model_type`'s config class ({} if unknown)."""
    if not isinstance(model_type, str):
        return {}
    try:
        import transformers

        return transformers.AutoConfig.for_model(model_type).to_dict()
    except Exception:  # an unknown or remote-code model type: compare the stored keys only
        return {}


def sum_squares(root: Path, t: TensorInfo, cancel: threading.Event | None = None) -> float:
    """||t||^2 of a stored tensor, streamed in float32 chunks."""
    from workbench.core.checkpoint.tensor_stats import _safetensors_chunks

    return sum(float(c.square().sum())
               for c in _safetensors_chunks(root / t.shard, t.name, cancel))
