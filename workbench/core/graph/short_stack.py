"""Trace a stack of N identical blocks from a model built with only a few of them.

Building a Llama-70B on the meta device spends most of its time constructing 80 decoder layers
whose dataflow the folded graph shows once. When the checkpoint's tree says the stack is N
blocks of one kind, the config says nothing per layer (no non-uniform per-layer list, no
per-layer period or count below N) and the SHORT blocks built are the same by repeats.block_key,
the model is built with SHORT layers and the trace of the missing ones is the replay of the last
built one (which is all a full trace records for them: repeats.py replays every twin). The
result is the same GraphTrace, call order and shapes of every layer included; anything unsure
returns None and the caller builds the whole model.
"""

from __future__ import annotations

import re
from typing import Any

from workbench.core.model.architecture import ModuleNode

SHORT = 4  # blocks built: enough for block_key to see a period-2 or period-3 alternation
_PER_LAYER_INT = re.compile(r"layer|step|period|interval|every|pattern|first_k|freq|offset")


def stacks(tree: ModuleNode) -> list[ModuleNode]:
    """The outermost lists of numbered blocks in a module tree."""
    found: list[ModuleNode] = []

    def visit(node: ModuleNode) -> None:
        if len(node.children) > 1 and all(c.name.isdigit() for c in node.children):
            found.append(node)
            return
        for child in node.children:
            visit(child)

    visit(tree)
    return found


def short_config(config: dict[str, Any], cfg, tree: ModuleNode | None
                 ) -> tuple[dict[str, Any], int] | None:
    """(a copy of `config` with SHORT layers, the real layer count), or None when unsure."""
    from workbench.core.graph.folding import signature

    if tree is None or getattr(cfg, "sub_configs", None) or cfg.is_encoder_decoder:
        return None
    key = getattr(cfg, "attribute_map", {}).get("num_hidden_layers", "num_hidden_layers")
    total = config.get(key)
    if type(total) is not int or total <= SHORT:
        return None
    lists = [s for s in stacks(tree) if len(s.children) == total]
    if len(lists) != 1 or len({signature(c) for c in lists[0].children}) != 1:
        return None  # no single stack of `total` blocks with one kind of weights
    short = dict(config)
    short[key] = SHORT
    # the built config: what the class derived from the file (layer_types from a pattern...)
    for name, value in {**config, **cfg.to_dict()}.items():
        if name == key or name.startswith("_"):
            continue
        if isinstance(value, list | tuple):
            if len(value) == total:  # per-layer settings: only uniform ones can be cut
                if len({repr(v) for v in value}) != 1:
                    return None
                short[name] = list(value[:SHORT])
            elif any(type(v) is int and 0 <= v < total for v in value):
                return None  # may name layers (cross-attention layers, MoE layers...)
        elif type(value) is int and _PER_LAYER_INT.search(name) and 0 < value < total:
            return None  # a period, offset or count of layers: blocks may differ past SHORT
        elif isinstance(value, dict) and any(
                (isinstance(v, list | tuple | dict) and len(v) == total)
                or (type(v) is int and _PER_LAYER_INT.search(str(k)) and 0 < v < total)
                for k, v in value.items()):
            return None  # nested per-layer settings
    return short, total


def blocks_alike(model) -> str | None:
    """The model path of its one stack of SHORT alike blocks, or None."""
    from workbench.core.graph.repeats import block_key, block_lists

    lists = block_lists(model)
    if len(lists) != 1 or len(lists[0][1]) != SHORT:
        return None
    path, blocks = lists[0]
    if len({block_key(b) for b in blocks}) != 1:
        return None
    return path


def extend_forward(forward, stack: str, total: int):
    """The ForwardTrace of `total` blocks from one of SHORT: the last built block's entries
    repeated for each missing block, later calls renumbered. None when the entries of the last
    block are not one contiguous run right before what follows the stack."""
    from workbench.core.graph.folding import ForwardTrace

    last = f"{stack}.{SHORT - 1}"

    def under(path: str, prefix: str) -> bool:
        return path == prefix or path.startswith(prefix + ".")

    items = sorted(forward.order.items(), key=lambda kv: kv[1])
    tail = [i for i, (p, _) in enumerate(items) if under(p, last)]
    if not tail or tail != list(range(tail[0], tail[-1] + 1)):
        return None
    if any(under(p, stack) for p, _ in items[tail[-1] + 1:]):
        return None
    block = [p for p, _ in items[tail[0]:tail[-1] + 1]]
    paths = [p for p, _ in items[:tail[-1] + 1]]
    shapes = dict(forward.shapes)
    for i in range(SHORT, total):
        for p in block:
            new = f"{stack}.{i}" + p[len(last):]
            paths.append(new)
            if p in forward.shapes:
                shapes[new] = forward.shapes[p]
    paths += [p for p, _ in items[tail[-1] + 1:]]
    return ForwardTrace(forward.seq_len, shapes, {p: i for i, p in enumerate(paths)})
