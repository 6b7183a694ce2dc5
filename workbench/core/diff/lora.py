"""The update a LoRA adapter makes, per module: ||scale * B @ A|| and its size relative to W."""

from __future__ import annotations

import math
import threading
from pathlib import Path
from typing import Any

from workbench.core import jsonio
from workbench.core.checkpoint.inspection import CheckpointInfo, inspect_checkpoint
from workbench.core.diff.weights import (
    CheckpointDiff,
    TensorDiff,
    align_names,
    config_diff,
    layer_matrix,
    module_changes,
    split_layer,
    sum_squares,
)
from workbench.core.errors import WorkbenchError
from workbench.core.progress import Progress, Reporter

_PEFT_PREFIX = "base_model.model."


def lora_pairs(names: list[str]) -> dict[str, tuple[str, str]]:
    """{base weight name: (lora_A name, lora_B name)} from an adapter's stored tensor names.

    peft stores "base_model.model.<module>.lora_A.weight" (older files add ".default"); the
    base weight it updates is "<module>.weight".
    """
    pairs: dict[str, tuple[str, str]] = {}
    for name in names:
        if ".lora_A." not in name and not name.endswith(".lora_A.weight"):
            continue
        module = name.split(".lora_A", 1)[0]
        b_name = name.replace(".lora_A", ".lora_B", 1)
        if b_name in names:
            base = module.removeprefix(_PEFT_PREFIX)
            pairs[base + ".weight"] = (name, b_name)
    return pairs


def _scales(folder: Path, pairs: dict[str, tuple[str, str]]) -> dict[str, float]:
    """alpha / r per module (alpha / sqrt(r) with rsLoRA), honouring rank and alpha patterns."""
    cfg = jsonio.load_object(folder / "adapter_config.json", what="adapter config")
    r, alpha = cfg.get("r") or 8, cfg.get("lora_alpha") or 8
    rank_pattern, alpha_pattern = cfg.get("rank_pattern") or {}, cfg.get("alpha_pattern") or {}
    out = {}
    for weight in pairs:
        module = weight.removesuffix(".weight")
        mr = next((v for k, v in rank_pattern.items() if module.endswith(k)), r)
        ma = next((v for k, v in alpha_pattern.items() if module.endswith(k)), alpha)
        out[weight] = ma / (math.sqrt(mr) if cfg.get("use_rslora") else mr)
    return out


def update_norm(a: Any, b: Any, scale: float) -> float:
    """||scale * B @ A||_F without forming B @ A: ||BA||^2 = trace((B^T B)(A A^T)), r x r.

    a: (r, in), b: (out, r); the product would be out x in (16M floats for a 4096 layer).
    """
    a, b = a.double(), b.double()
    gram = (b.T @ b) @ (a @ a.T)  # (r, r)
    return abs(scale) * math.sqrt(max(float(gram.trace()), 0.0))


def diff_adapter(base: CheckpointInfo | None, adapter: CheckpointInfo, *,
                 progress: Progress | None = None,
                 cancel: threading.Event | None = None) -> CheckpointDiff:
    """Per-module LoRA update norms of `adapter`, relative to `base`'s weights when given."""
    from safetensors import safe_open

    folder = Path(adapter.root)
    if base is None:
        base = _local_base(adapter)
    if not (folder / "adapter_model.safetensors").is_file():
        raise WorkbenchError(f"{folder} has no adapter_model.safetensors; re-save the adapter "
                             f"with peft (save_pretrained) to diff it.")
    report = Reporter(progress, cancel, "The adapter diff")
    names = [t.name for t in adapter.tensors]
    pairs = lora_pairs(names)
    if not pairs:
        raise WorkbenchError(f"{folder} has no lora_A/lora_B tensors; only LoRA adapters can be "
                             f"diffed this way.")
    scales = _scales(folder, pairs)
    base_by_name = {t.name: t for t in base.tensors} if base is not None else {}
    _, to_base = align_names(list(pairs), list(base_by_name))
    tensors: list[TensorDiff] = []
    lora: list[dict[str, Any]] = []
    with safe_open(str(folder / "adapter_model.safetensors"), framework="pt") as f:
        for i, (weight, (a_name, b_name)) in enumerate(sorted(pairs.items())):
            report.step(f"Adapter module {i + 1} of {len(pairs)}: {weight}")
            a, b = f.get_tensor(a_name), f.get_tensor(b_name)
            norm = update_norm(a, b, scales[weight])
            base_t = base_by_name.get(to_base.get(weight, ""))
            sq_a = sum_squares(Path(base.root), base_t, cancel) if base_t is not None else 0.0
            rel = norm / math.sqrt(sq_a) if sq_a > 0 else math.nan
            shape = (int(b.shape[0]), int(a.shape[1]))
            tensors.append(TensorDiff(weight, "changed" if norm > 0 else "same", shape, shape,
                                      base_t.dtype if base_t else None, str(a.dtype), rel,
                                      math.nan, math.nan, math.sqrt(sq_a), norm * norm, sq_a))
            parts = split_layer(weight.removesuffix(".weight"))
            lora.append({"module": weight.removesuffix(".weight"), "rank": int(a.shape[0]),
                         "layer": parts[1] if parts else None, "update_norm": norm,
                         "relative_change": rel if math.isfinite(rel) else None})
    matrix_source = tensors if base is not None else [
        TensorDiff(t.name, t.status, t.shape_a, t.shape_b, t.dtype_a, t.dtype_b,
                   sq_diff=t.sq_diff, sq_a=1.0) for t in tensors]  # no base: plain norms
    return CheckpointDiff(
        path_a=str(base.root) if base is not None else "", path_b=str(folder), tensors=tensors,
        modules=module_changes(tensors), matrix=layer_matrix(matrix_source),
        config_diff=config_diff(None, None), lora=lora)


def _local_base(adapter: CheckpointInfo) -> CheckpointInfo | None:
    """The base model named in adapter_config.json, if it is a local safetensors folder."""
    named = adapter.adapter.base_model if adapter.adapter else None
    if not named or not Path(named).expanduser().is_dir():
        return None
    info = inspect_checkpoint(named, build_tree=False)
    return info if info.format.endswith("safetensors") else None
