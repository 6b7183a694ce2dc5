"""Run each distinct block of a stack once during a trace; repeats reuse its output.

The graph report shows one instance of each run of identical blocks, so tracing all 80 decoder
layers of a 70B model spends 97% of the time on layers whose dataflow is never shown. Blocks are
the same when their module code and settings are: class, parameter shapes and the plain
attributes of every submodule (sliding vs global attention, window sizes, scaling...), ignoring
the layer's own index. A repeat's forward returns the output its twin produced for inputs of
the same shapes, so the hooks on the repeat still see its call and output shape.
"""

from __future__ import annotations

import functools
import re
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

# attribute names that hold a block's position, not its behaviour (layer_idx, layer_id...)
_INDEX_NAME = re.compile(r"(^|_)(layer|block)_?(idx|id|index|num|number)$|^idx$|^index$")
_SIMPLE = {bool, int, float, str, type(None)}


def block_lists(model) -> list[tuple[str, Any]]:
    """The outermost ModuleLists of more than one block with parameters: (path, list)."""
    import torch

    found: list[tuple[str, Any]] = []
    for path, module in model.named_modules():
        if not isinstance(module, torch.nn.ModuleList) or len(module) < 2:
            continue
        if any(path.startswith(p + ".") for p, _ in found):
            continue  # a list inside a block (T5's sub-layers, MoE experts)
        if any(True for _ in module[0].parameters()):
            found.append((path, module))
    return found


def block_key(block) -> tuple:
    """What makes two blocks behave the same: classes, parameter shapes, plain settings."""
    parts = []
    for name, sub in block.named_modules():
        # vars() and _parameters directly: this runs for every module of an 80-layer model
        attrs = tuple(sorted((k, _plain(v)) for k, v in vars(sub).items()
                             if k[0] != "_" and _is_setting(k, v)))
        params = tuple((n, tuple(p.shape), p.dtype) for n, p in sub._parameters.items()
                       if p is not None)
        parts.append((name, type(sub), attrs, params))
    return tuple(parts)


def _is_setting(name: str, value) -> bool:
    kind = type(value)
    if kind is int:
        return _INDEX_NAME.search(name) is None  # layer_idx differs in every layer
    if kind in (tuple, list):
        return all(type(v) in _SIMPLE for v in value)
    return kind in _SIMPLE


def _plain(value):
    return tuple(value) if type(value) is list else value


@contextmanager
def trace_distinct_blocks(model) -> Iterator[set[int]]:
    """Within the context, repeated blocks of `model` return their twin's output.

    Yields the ids of the modules inside those repeats, which will not run (no need to hook).
    """
    import torch

    cache: dict[tuple, Any] = {}
    patched: list = []
    idle: set[int] = set()
    for _path, blocks in block_lists(model):
        keys = [block_key(b) for b in blocks]
        counts = Counter(keys)
        seen: set = set()
        for block, key in zip(blocks, keys, strict=True):
            if counts[key] == 1 or "forward" in vars(block):
                continue  # a unique block runs for real; a patched forward is not ours
            patched.append(block)
            block.forward = _reusing(block, key, cache, torch)
            if key in seen:  # the first of its kind runs; later ones replay its output
                idle.update(id(m) for m in block.modules() if m is not block)
            seen.add(key)
    try:
        yield idle
    finally:
        for block in patched:
            del block.forward  # back to the class's forward


def _reusing(block, key: tuple, cache: dict, torch):
    """A forward that runs the block the first time per input shapes, then replays."""
    original = block.forward  # the bound method; wraps() keeps its signature for the recorder

    @functools.wraps(original)
    def forward(*args, **kwargs):
        shapes = tuple(tuple(a.shape) if isinstance(a, torch.Tensor) else None
                       for a in (*args, *kwargs.values()))
        slot = (key, shapes, tuple(kwargs))
        if slot not in cache:
            cache[slot] = original(*args, **kwargs)
        return cache[slot]

    return forward
