"""The model an export starts from: a checkpoint, a run's final model or a LoRA adapter.

A LoRA adapter is merged into its base with peft, and the merge is checked: every module whose
adapter update scale * B @ A is non-zero must have changed by that much in the merged weights,
because a merge that silently does nothing (or is skipped) is a known failure of other tools.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from workbench.core import jsonio
from workbench.core.errors import WorkbenchError


@dataclass
class Source:
    """A loaded source model and what the export needs to know about it."""

    model: Any
    task: str | None  # None: the class named in config.architectures
    folder: Path  # where the weights came from
    tokenizer_folder: Path  # where the tokenizer files are
    run_dir: Path | None
    is_adapter: bool


def open_source(path: str | Path, task: str | None = None) -> Source:
    """Load the model at `path` (a run, adapter or checkpoint folder) in float32 on the CPU."""
    from workbench.core.evaluate.runner import resolve_target
    from workbench.core.training.evaluate import load_trained_model

    p = Path(path).expanduser().resolve()
    try:
        target = resolve_target(p, task)
        folder, found, run_dir = target.model_dir, target.task, target.run_dir
    except WorkbenchError:
        if not (p / "config.json").is_file():
            raise
        folder, found, run_dir = p, None, None  # no head: export the class the config names
    adapter = (folder / "adapter_config.json").is_file()
    tokenizer_folder = folder
    if adapter and not (folder / "tokenizer_config.json").is_file():
        base = jsonio.load_object(folder / "adapter_config.json", what="adapter config")
        tokenizer_folder = Path(base.get("base_model_name_or_path") or folder)
    model = load_trained_model(folder, found or "base") if adapter else \
        load_trained_model(folder, found)
    return Source(model, found, folder, tokenizer_folder, run_dir, adapter)


def merge_lora(model: Any) -> tuple[Any, dict[str, Any]]:
    """Merge a PeftModel's LoRA weights into its base; raise if the merge changed nothing.

    Returns (plain transformers model, {"modules": n, "nonzero_updates": k, "max_error": e}),
    where max_error compares each module's measured change with the adapter's own update norm.
    """
    import torch
    from peft.tuners.lora import LoraLayer

    from workbench.core.diff.lora import update_norm

    expected: dict[str, tuple[float, Any]] = {}
    for name, module in model.named_modules():
        if isinstance(module, LoraLayer) and module.active_adapters:
            adapter = module.active_adapters[0]
            if adapter not in module.lora_A:
                continue
            norm = update_norm(module.lora_A[adapter].weight.detach(),
                               module.lora_B[adapter].weight.detach(), module.scaling[adapter])
            base_weight = module.get_base_layer().weight.detach().clone()
            expected[name.removeprefix("base_model.model.")] = (norm, base_weight)
    if not expected:
        raise WorkbenchError("This adapter has no LoRA layers to merge (only LoRA adapters can "
                             "be merged).")
    nonzero = {k: v for k, v in expected.items() if v[0] > 0}
    if not nonzero:
        raise WorkbenchError("Every LoRA update in this adapter is zero (B @ A = 0: it was never "
                             "trained), so merging it would change nothing. Train the adapter "
                             "first, or export the base model.")
    merged = model.merge_and_unload()
    modules = dict(merged.named_modules())
    worst = 0.0
    for name, (norm, before) in nonzero.items():
        module = modules.get(name)
        if module is None or not hasattr(module, "weight"):
            raise WorkbenchError(f"After merging, the module {name} is missing; the merge "
                                 f"failed. Check that the adapter matches its base model.")
        with torch.no_grad():
            change = float((module.weight.detach().double() - before.double()).norm())
        error = abs(change - norm) / norm
        worst = max(worst, error)
        if change == 0 or error > 1e-2:
            raise WorkbenchError(
                f"The LoRA merge did not apply the adapter to {name}: its weights changed by "
                f"{change:.3g} where the adapter's update is {norm:.3g}. The merged model is "
                f"not exported. Check the adapter's base model and peft version.")
    return merged, {"modules": len(expected), "nonzero_updates": len(nonzero),
                    "max_relative_error": worst if math.isfinite(worst) else None}
