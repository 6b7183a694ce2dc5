"""The folded layer graph: a module tree where identical repeated blocks become one "x N" node."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field, replace

from workbench.core.model.architecture import ModuleNode, ParamInfo

KINDS = ("embedding", "attention", "mlp", "norm", "head", "block", "other")

_MLP_NAMES = re.compile(r"^(fc\d?|fc_in|fc_out|c_fc|wi|wi_\d|wo|dense_h_to_4h|dense_4h_to_h|"
                        r"gate_proj|up_proj|down_proj|w\d)$")
_HEAD_NAMES = {"lm_head", "cls", "classifier", "score", "qa_outputs", "head", "pooler",
               "final_logits_bias"}


@dataclass(frozen=True)
class GraphNode:
    """One box of the layer graph; `repeat` > 1 when it stands for N identical blocks."""

    name: str
    path: str  # module path; for a fold, the path of its first instance's container + range
    class_name: str
    kind: str
    num_parameters: int  # total over all repeats
    repeat: int = 1
    instances: tuple[str, ...] = ()  # the module paths a fold stands for (len == repeat)
    params: tuple[ParamInfo, ...] = ()  # own parameters of one instance
    children: tuple[GraphNode, ...] = ()  # of one (the first) instance
    output_shape: tuple[int, ...] | None = None
    called: bool = True  # False when a traced forward pass never called it
    cross_attention: bool = False  # this subtree reads the encoder output
    reads_from: str | None = None  # path of the stack whose output its cross-attention reads

    @property
    def each_parameters(self) -> int:
        """Parameters of one instance."""
        return self.num_parameters // max(self.repeat, 1)

    @property
    def folded(self) -> bool:
        return self.repeat > 1

    def walk(self) -> Iterable[GraphNode]:
        """This node and its descendants (one instance of each fold), depth first."""
        yield self
        for c in self.children:
            yield from c.walk()

    def to_json(self) -> dict:
        out = {"name": self.name, "path": self.path, "class": self.class_name, "kind": self.kind,
               "num_parameters": self.num_parameters, "repeat": self.repeat}
        if self.repeat > 1:
            out["instances"] = list(self.instances)
            out["num_parameters_each"] = self.each_parameters
        if self.output_shape is not None:
            out["output_shape"] = list(self.output_shape)
        if not self.called:
            out["called"] = False
        if self.reads_from:
            out["reads_from"] = self.reads_from
        out["params"] = [{"name": p.name, "shape": list(p.shape), "dtype": p.dtype}
                         for p in self.params]
        out["children"] = [c.to_json() for c in self.children]
        return out


@dataclass(frozen=True)
class ForwardTrace:
    """What one traced forward pass learned: output shapes and call order of modules."""

    seq_len: int
    shapes: dict[str, tuple[int, ...]] = field(default_factory=dict)
    order: dict[str, int] = field(default_factory=dict)  # path -> index of first call


def classify(name: str, class_name: str, in_list: bool = False) -> str:
    """The kind of a module, for colouring: embedding, attention, mlp, norm, head, block, other."""
    n, c = name.lower(), class_name.lower()
    if in_list and name.isdigit():
        inner = classify("", class_name)
        return "block" if inner == "other" else inner
    if n in _HEAD_NAMES or "head" in c or "pooler" in c:
        return "head"
    if "norm" in c or "norm" in n or re.match(r"^ln(_\w+)?$", n):
        return "norm"
    if "embed" in c or "embed" in n or n in ("wte", "wpe", "shared"):
        return "embedding"
    if "attention" in c or "attn" in c or "attn" in n or "attention" in n:
        return "attention"
    if ("mlp" in c or "mlp" in n or "ffn" in n or "feedforward" in c.replace("_", "")
            or "feed_forward" in n or "intermediate" in n or "denserelu" in c
            or "denseactdense" in c or "densegated" in c or "layerff" in c or "moe" in c
            or "expert" in c or "expert" in n or _MLP_NAMES.match(n)):
        return "mlp"
    return "other"


def is_cross_attention(node: ModuleNode) -> bool:
    """A module that attends to another stack's output (by its name or class)."""
    text = f"{node.name} {node.class_name}".lower()
    return "cross" in text or "encdec" in text or "encoder_attn" in text


def signature(node: ModuleNode) -> tuple:
    """What makes two blocks identical: class, parameter shapes/dtypes, children, recursively."""
    return (node.class_name, tuple((p.name, p.shape, p.dtype) for p in node.params),
            tuple((c.name, signature(c)) for c in node.children))


def build_graph(tree: ModuleNode, trace: ForwardTrace | None = None) -> GraphNode:
    """Fold `tree` (from CheckpointInfo.module_tree) into a GraphNode hierarchy."""
    root = _convert(tree, in_list=False, trace=trace)
    return _mark_cross_attention(root)


def _convert(node: ModuleNode, in_list: bool, trace: ForwardTrace | None) -> GraphNode:
    children = _ordered(node.children, trace)
    if children and all(c.name.isdigit() for c in children):
        kids = _fold_list(node, children, trace)
        if len(kids) == 1 and kids[0].repeat > 1:  # "layers" *is* the N x block fold
            only = kids[0]
            return replace(only, name=node.name or only.name, path=node.path)
        converted = tuple(kids)
    else:
        converted = tuple(_convert(c, False, trace) for c in children)
    kind = classify(node.name, node.class_name, in_list)
    return GraphNode(
        name=node.name or "(model)", path=node.path, class_name=node.class_name, kind=kind,
        num_parameters=node.num_parameters, params=node.params, children=converted,
        output_shape=trace.shapes.get(node.path) if trace else None,
        called=_was_called(node.path, trace))


def _fold_list(parent: ModuleNode, children: list[ModuleNode],
               trace: ForwardTrace | None) -> list[GraphNode]:
    """Fold runs of consecutive identical blocks of a ModuleList into "x N" nodes."""
    runs: list[list[ModuleNode]] = []
    for child in children:
        if runs and signature(runs[-1][0]) == signature(child):
            runs[-1].append(child)
        else:
            runs.append([child])
    out = []
    for run in runs:
        first = _convert(run[0], True, trace)
        if len(run) == 1:
            out.append(first)
            continue
        name = f"{run[0].name}-{run[-1].name}"
        out.append(replace(
            first, name=name, path=f"{parent.path}.{name}" if parent.path else name,
            num_parameters=sum(c.num_parameters for c in run), repeat=len(run),
            instances=tuple(c.path for c in run)))
    return out


def _ordered(children: tuple[ModuleNode, ...], trace: ForwardTrace | None) -> list[ModuleNode]:
    """Children in call order when a trace knows it (never-called ones last), else as declared."""
    if not trace or not trace.order or all(c.name.isdigit() for c in children):
        return list(children)
    late = len(trace.order) + 1
    return sorted(children, key=lambda c: trace.order.get(c.path, late + _first_call(c, trace)))


def _first_call(node: ModuleNode, trace: ForwardTrace) -> int:
    calls = [trace.order[n.path] for n in node.walk() if n.path in trace.order]
    return min(calls) - len(trace.order) - 1 if calls else 0


def _was_called(path: str, trace: ForwardTrace | None) -> bool:
    if not trace or not trace.order or not path:
        return True
    return path in trace.order or any(p.startswith(path + ".") for p in trace.order)


def _mark_cross_attention(root: GraphNode) -> GraphNode:
    """Flag subtrees holding cross-attention and link them to the sibling encoder stack."""

    def has_cross(node: GraphNode) -> bool:
        return any(n.kind == "attention" and is_cross_attention(
            ModuleNode(n.name, n.path, n.class_name, 0, 0)) for n in node.walk())

    def visit(node: GraphNode, encoder: str | None) -> GraphNode:
        names = {c.name: c for c in node.children}
        if "encoder" in names and "decoder" in names:
            encoder = names["encoder"].path
        kids = tuple(visit(c, encoder) for c in node.children)
        cross = has_cross(node)
        reads = cross and encoder and (node.kind == "block" or node.repeat > 1)
        return replace(node, children=kids, cross_attention=cross,
                       reads_from=encoder if reads else None)

    return visit(root, None)


def instance(group: GraphNode, index: int) -> GraphNode:
    """The `index`-th block a fold stands for, as an unfolded node with its own paths."""
    if group.repeat <= 1:
        return group
    first, path = group.instances[0], group.instances[index]

    def rename(node: GraphNode) -> GraphNode:
        new = path + node.path[len(first):] if node.path.startswith(first) else node.path
        return replace(node, path=new, children=tuple(rename(c) for c in node.children))

    return replace(rename(group), name=path.rsplit(".", 1)[-1], path=path, repeat=1,
                   instances=(), num_parameters=group.each_parameters)


def find_node(root: GraphNode, path: str) -> GraphNode | None:
    """The node for a module path, unfolding "x N" nodes as needed; None if unknown."""
    for node in root.walk():
        if node.path == path:
            return node
        if node.repeat > 1:
            for i, inst in enumerate(node.instances):
                if path == inst or path.startswith(inst + "."):
                    return find_node(instance(node, i), path)
    return None


def count_nodes(root: GraphNode, unfold: bool = False) -> int:
    """Number of boxes: folded, or with every fold expanded."""
    own = 1
    kids = sum(count_nodes(c, unfold) for c in root.children)
    return own + (kids * root.repeat if unfold else kids)
