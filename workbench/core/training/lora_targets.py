"""Which modules LoRA adapts: the one owner of that fact for training, the memory plan and forms.

The default is peft's own table (`TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING`, what
`get_peft_model` would pick for the model type), else the first attention-projection naming
convention the model's linear layers follow. Everything works on (module path, class name)
pairs, so a real model, a meta model and the inspector's ModuleNode tree give the same answer.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from workbench.core.errors import WorkbenchError

# Layer classes peft's LoRA can wrap, by class name (GPT-2 uses transformers' Conv1D;
# bitsandbytes' quantised linears appear in 8-/4-bit models).
LORA_LAYER_CLASSES = ("Linear", "Conv1D", "Linear8bitLt", "Linear4bit")
# Attention projections by naming convention, for model types peft has no default for.
_FALLBACK_TARGETS = (("q_proj", "v_proj"), ("query", "value"), ("c_attn",), ("q", "v"),
                     ("q_lin", "v_lin"), ("query_key_value",), ("qkv_proj",), ("Wqkv",))


@dataclass(frozen=True)
class LoraChoice:
    """What a form offers for lora_target_modules, and what training uses when none is chosen."""

    candidates: tuple[str, ...]  # leaf names of the linear layers inside the repeated blocks
    defaults: tuple[str, ...] | str  # names, or a regex over full module paths (peft's form)
    error: str = ""  # why no default exists (the user must choose), else ""


def model_modules(model: Any) -> list[tuple[str, str]]:
    """(path, class name) of every module of a torch model (meta models included)."""
    return [(path, type(module).__name__) for path, module in model.named_modules()]


def tree_modules(tree: Any) -> list[tuple[str, str]]:
    """(path, class name) of every module of an architecture.ModuleNode tree."""
    return [(node.path, node.class_name) for node in tree.walk()]


def linear_paths(modules: Iterable[tuple[str, str]]) -> list[str]:
    """Full paths of the layers LoRA can adapt, in model order."""
    return [path for path, kind in modules if kind in LORA_LAYER_CLASSES and path]


def leaf_names(paths: Iterable[str]) -> list[str]:
    """Distinct last components of module paths, sorted."""
    return sorted({path.rsplit(".", 1)[-1] for path in paths})


def default_targets(model_type: str | None, modules: Iterable[tuple[str, str]]
                    ) -> tuple[str, ...] | str:
    """The modules LoRA adapts when the user names none, or a WorkbenchError saying so.

    A tuple of leaf names, or (as peft stores it for some multimodal types) a regex that must
    match a module's full path.
    """
    from peft.utils.constants import TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING as peft_map

    paths = linear_paths(modules)
    entry = peft_map.get(model_type or "")
    if isinstance(entry, str):
        return entry
    if entry:
        return tuple(entry)
    present = set(leaf_names(paths))
    for targets in _FALLBACK_TARGETS:
        if set(targets) <= present:
            return targets
    raise WorkbenchError(f"No default LoRA target modules are known for '{model_type}'. Choose "
                         f"some in lora_target_modules from: {', '.join(sorted(present))}.")


def matches(targets: tuple[str, ...] | list[str] | str, path: str) -> bool:
    """Whether LoRA with `targets` adapts the module at `path` (peft's matching rule)."""
    if isinstance(targets, str):
        return re.fullmatch(targets, path) is not None
    return path.rsplit(".", 1)[-1] in targets


def lora_choice(model_type: str | None, modules: Iterable[tuple[str, str]]) -> LoraChoice:
    """Candidates and defaults for a form, from any module listing (see module docstring)."""
    modules = list(modules)
    paths = linear_paths(modules)
    # heads and embedding-level projections sit outside the numbered blocks: not offered
    candidates = tuple(dict.fromkeys(
        path.rsplit(".", 1)[-1] for path in paths
        if any(part.isdigit() for part in path.split("."))))
    try:
        defaults = default_targets(model_type, modules)
    except WorkbenchError as e:
        return LoraChoice(candidates, (), str(e))
    return LoraChoice(candidates, defaults)
