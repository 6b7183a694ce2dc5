"""Stored tensor names -> model parameter names, the way `from_pretrained` maps them.

transformers v5 renames and converts checkpoint keys on load (`conversion_mapping.py` and
`core_model_loading.py`): GPT-NeoX's `embed_out` is `lm_head`, MoE experts stored one per
expert are fused into one tensor, ViT's layer names changed, `LayerNorm.gamma` is `.weight`.
This module drives that machinery itself (the same renamings, converters and base-model prefix
rule) so that a weights check or a rebuild agrees with what transformers would load. Converters
are run on meta tensors to learn the shapes they produce, and on real tensors to load them.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from copy import deepcopy
from dataclasses import dataclass, field
from typing import Any

from workbench.core.checkpoint.tensors import TensorInfo

CODE_TO_TORCH = {"F64": "float64", "F32": "float32", "F16": "float16", "BF16": "bfloat16",
                 "I64": "int64", "I32": "int32", "I16": "int16", "I8": "int8", "U8": "uint8",
                 "BOOL": "bool", "F8_E4M3": "float8_e4m3fn", "F8_E5M2": "float8_e5m2"}


@dataclass
class _Group:
    """Stored tensors that become one or more model tensors through one transform."""

    first: str  # the model key transformers files the group under
    template: Any  # a WeightConverter to copy, or None for a plain (possibly renamed) key
    sources: list[tuple[str, str]] = field(default_factory=list)  # (stored name, pattern)


@dataclass
class KeyPlan:
    """Which stored tensors feed which model tensors, with the shapes they will have."""

    model: Any
    groups: list[_Group]
    shapes: dict[str, tuple[int, ...]]  # model key -> shape after conversion
    sources: dict[str, tuple[str, ...]]  # model key -> the stored names it is made from
    unused: tuple[str, ...]  # stored names that feed no model key (as stored)
    failed: dict[str, str] = field(default_factory=dict)  # stored name -> why it failed

    def renamed(self) -> int:
        """How many model keys come from stored tensors of another name (or several)."""
        return sum(1 for k, src in self.sources.items() if src != (k,))

    def materialize(self, read: Callable[[str], Any],
                    only: set[str] | None = None) -> Iterator[tuple[str, Any]]:
        """Yield (model key, tensor) for each model key, converted as transformers would.

        `read(stored_name)` returns the stored tensor; groups none of whose targets are in
        `only` are skipped without reading anything.
        """
        for group in self.groups:
            targets = self._targets(group)
            if only is not None and not (targets & only):
                continue
            if any(s in self.failed for s, _ in group.sources):
                continue
            yield from _convert(self.model, group, lambda name: lambda: read(name)).items()

    def _targets(self, group: _Group) -> set[str]:
        stored = {s for s, _ in group.sources}
        return {k for k, src in self.sources.items() if stored & set(src)}


def plan_keys(model, stored: list[TensorInfo]) -> KeyPlan:
    """Map every stored tensor onto `model`'s state dict through transformers' conversions."""
    import torch
    from transformers.conversion_mapping import get_model_conversion_mapping
    from transformers.core_model_loading import (
        WeightConverter,
        WeightRenaming,
        dot_natural_key,
        rename_source_key,
    )

    mapping = get_model_conversion_mapping(model)
    renamings = [m for m in mapping if isinstance(m, WeightRenaming)]
    converters = [m for m in mapping if isinstance(m, WeightConverter)]
    by_pattern = {p: c for c in converters for p in c.source_patterns}
    meta_sd = model.state_dict()  # only its keys are read (the `is not None` test below)
    prefix = model.base_model_prefix

    groups: dict[str, _Group] = {}
    unused: list[str] = []
    infos = {t.name: t for t in stored}
    for name in sorted(infos, key=dot_natural_key):
        # The same two-step rule as transformers' convert_and_load_state_dict_in_model.
        key, pattern = rename_source_key(name, renamings, converters, prefix, meta_sd)
        if key not in meta_sd and name in meta_sd:
            key, pattern = rename_source_key(name, [], [], prefix, meta_sd)
        if key not in meta_sd:
            unused.append(name)
            continue
        template = by_pattern[pattern] if pattern is not None else None
        group = groups.setdefault(key, _Group(key, template))
        group.sources.append((name, pattern if pattern is not None else name))

    shapes: dict[str, tuple[int, ...]] = {}
    sources: dict[str, tuple[str, ...]] = {}
    failed: dict[str, str] = {}

    def meta(name: str):
        info = infos[name]
        dtype = getattr(torch, CODE_TO_TORCH.get(info.dtype, "float32"))
        return lambda: torch.empty(info.shape, dtype=dtype, device="meta")

    for group in groups.values():
        try:
            produced = _convert(model, group, meta)
        except Exception as e:  # a conversion op that needs real values cannot run on meta
            failed.update((s, f"{type(e).__name__}: {e}") for s, _ in group.sources)
            continue
        names = tuple(s for s, _ in group.sources)
        for key, tensor in produced.items():
            shapes[key] = tuple(tensor.shape)
            sources[key] = names
    return KeyPlan(model, list(groups.values()), shapes, sources, tuple(unused), failed)


def _convert(model, group: _Group, tensor_for: Callable[[str], Callable[[], Any]]) -> dict:
    """Run the group's transform on the tensors `tensor_for` gives; {model key: tensor}."""
    if group.template is None:
        (name, _), = group.sources
        return {group.first: tensor_for(name)()}
    converter = deepcopy(group.template)
    for name, pattern in group.sources:
        converter.add_tensor(group.first, name, pattern, tensor_for(name))
    out = converter.convert(group.first, model=model, config=model.config)
    return {k: (v[0] if isinstance(v, list) else v) for k, v in out.items()}


def ignored_missing(model) -> re.Pattern | None:
    """The model's own patterns of keys it never expects in a checkpoint (e.g. sinusoidal tables).

    transformers drops these from `missing_keys` (`_adjust_missing_and_unexpected_keys`).
    """
    patterns = getattr(model, "_keys_to_ignore_on_load_missing", None) or ()
    return re.compile("|".join(f"({p})" for p in patterns)) if patterns else None


def ignored_unexpected(model) -> re.Pattern | None:
    """The model's own patterns of stored keys it drops silently."""
    patterns = set(getattr(model, "_keys_to_ignore_on_load_unexpected", None) or ())
    names = [n for n, _ in model.named_buffers()]
    if any(n.endswith("rotary_emb.inv_freq") for n in names):
        patterns.add(r"rotary_emb\.inv_freq")  # moved buffers of old checkpoints, as upstream
    if any(n.endswith("position_ids") for n in names):
        patterns.add(r"(^|\.)position_ids$")
    return re.compile("|".join(f"({p})" for p in patterns)) if patterns else None
