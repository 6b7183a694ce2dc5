"""Follow tensors through one block: which module or op produced each tensor another one reads.

Every tensor gets the id of the step that produced it. Module calls (leaves, and attention/MLP
modules whose children are all leaves) become steps; inside them nothing is followed. Between
steps, a torch function reading tensors of two or more different steps (the residual `x + h`)
becomes an op step; one reading a single step's tensors (views, casts, functional dropout) just
passes its producer on. So the graph is whatever the block's code actually does.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from torch.overrides import TorchFunctionMode

from workbench.core.graph.dataflow import (
    BlockDataflow,
    FlowEdge,
    FlowNode,
    first_tensor,
    module_kind,
)

_OPAQUE_KINDS = ("attention", "mlp")
_HEAD_ATTRS = ("num_heads", "num_attention_heads", "n_heads", "n_head")
_KV_ATTRS = ("num_key_value_heads", "num_kv_heads", "n_kv_heads")
_ACT_MODULES = ("transformers.activations", "torch.nn.modules.activation")
_DIM_ATTRS = ("head_dim", "attention_head_size", "key_value_proj_dim", "head_size", "d_kv")


class FlowMode(TorchFunctionMode):
    """Sees every torch function call; forwards the ones made directly in a recorded block."""

    def __init__(self):
        super().__init__()
        self.active: BlockRecorder | None = None

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        rec = self.active
        if rec is not None and not rec.inside:
            rec.on_function(func, args, kwargs, out)
        return out


class BlockRecorder:
    """Records the dataflow of one block module during its first call."""

    def __init__(self, path: str, block, mode: FlowMode):
        self.path, self.block, self.mode = path, block, mode
        self.nodes: list[FlowNode] = []
        self.edges: list[tuple[int, int, str]] = []
        self.producer: dict[int, int] = {}  # id(tensor) -> node id
        self.keep: list[Any] = []  # keeps recorded tensors alive so their ids stay unique
        self.inside: list[tuple[Any, list[int]]] = []  # open step: (module, its input steps)
        self.started = self.done = False
        self.local = {m: n for n, m in block.named_modules() if n}
        self.steps = {m for m in self.local if _is_step(m, self.local)}

    # -- hooks ---------------------------------------------------------------------------------
    def install(self) -> list:
        """Register the hooks; returns their handles."""
        handles = [self.block.register_forward_pre_hook(self._on_block_pre, with_kwargs=True),
                   self.block.register_forward_hook(self._on_block_post)]
        for module in self.steps:
            handles.append(module.register_forward_pre_hook(self._on_step_pre, with_kwargs=True))
            handles.append(module.register_forward_hook(self._on_step_post))
        return handles

    def _on_block_pre(self, _module, args, kwargs):
        if self.started:
            return
        self.started = True
        self.mode.active = self
        named = _bind(self.block, args, kwargs)
        hidden = next((v for v in named.values() if _is_tensor(v)), None)
        if hidden is None:
            return
        self._label(hidden, self._add("input", "input", "", "", hidden))
        for key, value in named.items():
            if (_is_tensor(value) and value is not hidden and value.dim() == hidden.dim()
                    and value.is_floating_point() and value.shape[-1] == hidden.shape[-1]):
                self._label(value, self._add(key, "input", "", "", value))

    def _on_block_post(self, _module, _args, output):
        if self.mode.active is not self:
            return
        self.mode.active = None
        self.done = True
        out = first_tensor(output)
        node = self._add("output", "output", "", "", out)
        src = self.producer.get(id(out)) if out is not None else None
        if src is not None:
            self.edges.append((src, node, "data"))

    def _on_step_pre(self, module, args, kwargs):
        if self.mode.active is not self or self.inside:
            return
        sources = self._sources((args, kwargs))
        self.inside.append((module, sources))

    def _on_step_post(self, module, _args, output):
        if not self.inside or self.inside[-1][0] is not module:
            return
        _, sources = self.inside.pop()
        out = first_tensor(output)
        if _passes_through(module):
            if sources and out is not None:
                self._label(out, sources[0])
            return
        name = self.local[module]
        node = self._add(name, module_kind(name, module), type(module).__name__,
                         f"{self.path}.{name}", out, annotate(module, name))
        for s in sources:
            self.edges.append((s, node, "cross" if self.nodes[s].kind == "input" and s else "data"))
        if out is not None:
            self._label(out, node)

    # -- functions between steps ---------------------------------------------------------------
    def on_function(self, func, args, kwargs, out) -> None:
        """A torch function called directly by the block (or a transparent container in it)."""
        if out is None or not any(_is_tensor(t) for t in _flatten(out)):
            return
        sources = self._sources((args, kwargs))
        if not sources:
            return
        if len(sources) == 1:
            target = sources[0]
        else:
            op = getattr(func, "__name__", str(func)).strip("_").rstrip("_")
            op = op[1:] if op.startswith("i") and op[1:] in ("add", "mul", "sub") else op
            target = self._add(op, "op", op, "", first_tensor(out))
            for s in sources:
                self.edges.append((s, target, "data"))
        for t in _flatten(out):
            if _is_tensor(t):
                self._label(t, target)

    # -- bookkeeping ---------------------------------------------------------------------------
    def _add(self, name: str, kind: str, class_name: str, path: str, tensor,
             attrs: dict | None = None) -> int:
        shape = tuple(int(d) for d in tensor.shape) if _is_tensor(tensor) else None
        self.nodes.append(FlowNode(len(self.nodes), name, kind, class_name, path, shape,
                                   attrs or {}))
        return len(self.nodes) - 1

    def _label(self, tensor, node: int) -> None:
        self.producer[id(tensor)] = node
        self.keep.append(tensor)

    def _sources(self, value) -> list[int]:
        out: list[int] = []
        for t in _flatten(value):
            if _is_tensor(t):
                src = self.producer.get(id(t))
                if src is not None and src not in out:
                    out.append(src)
        return out

    def result(self) -> BlockDataflow:
        """The recorded nodes and edges, residual bypasses marked."""
        edges = []
        below = self._descendants()
        for s, t, kind in self.edges:
            sources = [a for a, b, k in self.edges if b == t and k == "data"]
            # A residual: the stream (the block input, an add's sum, or a post-norm's output)
            # skips the steps between it and where it is merged back in. A parallel branch
            # (GPT-NeoX's attention output) is not one. A stream that leaves an opaque step
            # (ALBERT's attention ends in its own add + norm) is one when the other merged
            # tensors were computed from it: the FFN's skip connection.
            merged = [a for a in sources if a != s]
            if (kind == "data" and len(sources) > 1 and s == min(sources) and t - s > 1
                    and (self.nodes[s].kind in ("input", "op", "norm")
                         or all(a in below[s] for a in merged))):
                kind = "residual"
            edges.append(FlowEdge(s, t, kind))
        cross = {e.target for e in edges if e.kind == "cross"}
        nodes = tuple(replace(n, attrs={**n.attrs, "cross": True}) if n.id in cross else n
                      for n in self.nodes)
        return BlockDataflow(self.path, type(self.block).__name__, nodes, tuple(edges))


    def _descendants(self) -> dict[int, set[int]]:
        """Node -> every node computed (through data edges) from its output."""
        after: dict[int, set[int]] = {n.id: set() for n in self.nodes}
        for s, t, kind in self.edges:
            if kind == "data":
                after[s].add(t)
        out: dict[int, set[int]] = {}
        for node in sorted(after, reverse=True):  # edges go forward: ids grow along them
            out[node] = set().union(*([after[node]] + [out.get(c, set()) for c in after[node]]))
        return out


def _bind(module, args, kwargs) -> dict[str, Any]:
    """The call's arguments by parameter name (positional ones named "arg<i>" if unbindable)."""
    import inspect

    try:
        return dict(inspect.signature(module.forward).bind_partial(*args, **kwargs).arguments)
    except (TypeError, ValueError):
        return {**{f"arg{i}": a for i, a in enumerate(args)}, **kwargs}


def _is_tensor(value) -> bool:
    import torch

    return isinstance(value, torch.Tensor)


def _flatten(value):
    if isinstance(value, dict):
        for v in value.values():
            yield from _flatten(v)
    elif isinstance(value, tuple | list):
        for v in value:
            yield from _flatten(v)
    else:
        yield value


def _is_step(module, local: dict) -> bool:
    """A leaf module, or an attention/MLP module made only of leaves, is one dataflow step."""
    children = list(module.children())
    if not children:
        return True
    kind = module_kind(local[module], module)
    return kind in _OPAQUE_KINDS and all(not list(c.children()) for c in children)


def _passes_through(module) -> bool:
    """Dropout is the identity at inference: it neither appears nor breaks the chain."""
    import torch

    return isinstance(module, torch.nn.modules.dropout._DropoutNd | torch.nn.Identity)


def annotate(module, name: str) -> dict:
    """Heads, KV heads and head dim of attention; inner size and activation of an MLP."""
    kind = module_kind(name, module)
    out: dict[str, Any] = {}
    config = getattr(module, "config", None)
    if kind == "attention":
        heads = _first_attr((module, config), _HEAD_ATTRS)
        dim = _first_attr((module, config), _DIM_ATTRS)
        kv = _first_attr((module, config), _KV_ATTRS)
        groups = getattr(module, "num_key_value_groups", None)
        if kv is None and heads and isinstance(groups, int) and groups:
            kv = heads // groups
        out.update(heads=heads, kv_heads=kv if kv is not None else heads, head_dim=dim)
    weights = [p for n, p in module.named_parameters() if p.dim() == 2 and "weight" in n]
    experts = [p for p in module.parameters() if p.dim() == 3]  # (experts, out, in), fused
    if kind == "mlp" and (weights or experts):
        out["inner_size"] = int(max(max(p.shape[-2:]) for p in weights + experts))
        if experts:
            out["experts"] = int(experts[0].shape[0])
        acts = [type(m).__name__ for m in module.modules() if type(m).__module__ in _ACT_MODULES]
        act = acts[0] if acts else getattr(config, "hidden_act", None)
        if act:
            out["activation"] = act
    elif not list(module.children()) and hasattr(module, "weight") and weights:
        out["weight_shape"] = list(weights[0].shape)
    return {k: v for k, v in out.items() if v is not None}


def _first_attr(objects, names) -> int | None:
    for obj in objects:
        for name in names:
            value = getattr(obj, name, None)
            if isinstance(value, int) and not isinstance(value, bool):
                return value
    return None
