"""Dataflow inside a block, recorded from the real module code during one shape-only forward pass.

The model is built on the meta device and run under torch's FakeTensorMode, so a Llama-70B runs
as fast as a tiny model and no memory is used for weights or activations. Module hooks give the
call order and output shape of every module; inside the first instance of each block a
TorchFunctionMode follows every tensor from the module (or op) that produced it, so residual
adds show up as real edges that bypass the attention or MLP, whatever the family's code does.
"""

from __future__ import annotations

import contextlib
import inspect
import logging
import threading
from dataclasses import dataclass, field
from typing import Any

from workbench.core.errors import CancelledError, WorkbenchError
from workbench.core.graph.folding import ForwardTrace, GraphNode, build_graph, classify
from workbench.core.model import architecture as arch
from workbench.core.model.architecture import ModuleNode

DEFAULT_SEQ_LEN = 16


@dataclass(frozen=True)
class FlowNode:
    """A step of a block's dataflow: a module call, a merging op (add...), the input or output."""

    id: int
    name: str  # module path relative to the block ("self_attn"), or the op ("add")
    kind: str  # input, output, op, or a module kind (attention, mlp, norm, ...)
    class_name: str
    path: str  # full module path ("" for ops and the block's inputs/outputs)
    output_shape: tuple[int, ...] | None = None
    attrs: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict:
        return {"id": self.id, "name": self.name, "kind": self.kind, "class": self.class_name,
                "path": self.path, "output_shape": list(self.output_shape or ()) or None,
                "attrs": self.attrs}


@dataclass(frozen=True)
class FlowEdge:
    """Data from one step to another; `kind` is data, residual (a bypass) or cross."""

    source: int
    target: int
    kind: str = "data"

    def to_json(self) -> dict:
        return {"source": self.source, "target": self.target, "kind": self.kind}


@dataclass(frozen=True)
class BlockDataflow:
    """The recorded dataflow of one block (the first instance of a repeated stack)."""

    block: str
    class_name: str
    nodes: tuple[FlowNode, ...]
    edges: tuple[FlowEdge, ...]

    def to_json(self) -> dict:
        return {"block": self.block, "class": self.class_name,
                "nodes": [n.to_json() for n in self.nodes],
                "edges": [e.to_json() for e in self.edges]}


@dataclass(frozen=True)
class GraphTrace:
    """The result of tracing: module shapes/order and block dataflows, or why it failed."""

    forward: ForwardTrace | None
    blocks: tuple[BlockDataflow, ...] = ()
    error: str | None = None
    note: str | None = None  # e.g. "traced on a tiny copy" when the shape-only pass failed


def trace_config(config: dict, seq_len: int = DEFAULT_SEQ_LEN,
                 cancel: threading.Event | None = None,
                 tree: ModuleNode | None = None) -> GraphTrace:
    """Build the model of `config` on the meta device and trace one forward pass of `seq_len`.

    With the checkpoint's `tree`, a stack of identical blocks is built and traced short when
    that gives the same trace (short_stack.py)."""
    try:
        cfg = arch.config_from_dict(config)
        short = _trace_short(config, cfg, tree, seq_len, cancel)
        if short is not None:
            return short
        model = arch.build_meta_model(cfg)
    except WorkbenchError as e:
        return GraphTrace(None, error=str(e))
    result = trace_model(model, seq_len, cancel)
    if result.forward is None:
        from workbench.core.graph.dataflow_fallback import trace_tiny_copy

        return trace_tiny_copy(cfg, model, seq_len, result.error or "", cancel) or result
    return result


def _trace_short(config: dict, cfg, tree, seq_len: int, cancel) -> GraphTrace | None:
    """The trace of a model built with a few of its identical blocks, or None (short_stack)."""
    from dataclasses import replace

    from workbench.core.graph import short_stack

    plan = short_stack.short_config(config, cfg, tree)
    if plan is None:
        return None
    try:
        model = arch.build_meta_model(arch.config_from_dict(plan[0]))
    except WorkbenchError:
        return None
    stack = short_stack.blocks_alike(model)
    if stack is None:
        return None
    result = trace_model(model, seq_len, cancel)
    forward = result.forward and short_stack.extend_forward(result.forward, stack, plan[1])
    if forward is None or result.error is not None:
        return None
    return replace(result, forward=forward)


def trace_model(model, seq_len: int = DEFAULT_SEQ_LEN,
                cancel: threading.Event | None = None, fake: bool = True) -> GraphTrace:
    """Run `model` once, recording shapes and block dataflow: a meta-device model under
    FakeTensorMode (`fake`), or a real CPU model. Repeats of a block are not re-run (repeats.py).
    """
    import torch
    from torch._subclasses.fake_tensor import FakeTensorMode

    from workbench.core.graph.dataflow_recorder import BlockRecorder, FlowMode
    from workbench.core.graph.repeats import trace_distinct_blocks

    names: dict[Any, list[str]] = {}
    for n, m in model.named_modules(remove_duplicate=False):  # tied modules have several names
        names.setdefault(m, []).append(n)
    order: dict[str, int] = {}
    shapes: dict[str, tuple[int, ...]] = {}
    mode = FlowMode()
    recorders = [BlockRecorder(path, module, mode) for path, module in _first_blocks(model)]

    def pre(module, _args):
        if cancel is not None and cancel.is_set():
            raise CancelledError("Tracing was cancelled.")
        for n in names[module]:
            order.setdefault(n, len(order))

    def post(module, _args, output):
        t = first_tensor(output)
        for n in names[module] if t is not None else ():
            shapes.setdefault(n, tuple(int(d) for d in t.shape))

    handles = []
    repeats = contextlib.ExitStack()
    idle = repeats.enter_context(trace_distinct_blocks(model))  # before any mode intercepts
    for module in names:
        if id(module) not in idle:  # modules inside a replayed block never run
            handles.append(module.register_forward_pre_hook(pre))
            handles.append(module.register_forward_hook(post))
    for rec in recorders:
        handles.extend(rec.install())
    try:
        kwargs = _dummy_inputs(model, seq_len, "meta" if fake else "cpu")
        shape_only = FakeTensorMode(allow_non_fake_inputs=True) if fake else \
            contextlib.nullcontext()
        with _quiet_fake_tensor_log(), shape_only, mode, torch.no_grad():
            model(**kwargs)
    except CancelledError:
        raise
    except Exception as e:  # any failure means "no dataflow"; the hierarchy still works
        return GraphTrace(None, error=f"The forward pass could not be traced "
                                      f"({type(e).__name__}: {str(e)[:300]}); only the module "
                                      f"hierarchy is shown.")
    finally:
        for h in handles:
            h.remove()
        repeats.close()
    forward = ForwardTrace(seq_len, shapes, order)
    blocks = tuple(r.result() for r in recorders if r.done)
    error = None if blocks else "No repeated block was called during the traced forward pass."
    return GraphTrace(forward, blocks, error)


@contextlib.contextmanager
def _quiet_fake_tensor_log():
    """Keep torch's FakeTensor logger from printing tracebacks of ops it cannot run on meta
    (MoE grouped matmuls); the failure is reported as the trace's error or note instead."""
    logger = logging.getLogger("torch._subclasses.fake_tensor")
    old = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        logger.setLevel(old)


def _dummy_inputs(model, seq_len: int, device: str) -> dict:
    """Inputs of the model's main kind: token ids (1, seq_len), an image, audio samples or
    audio features, plus decoder_input_ids for encoder-decoders."""
    import torch

    params = inspect.signature(model.forward).parameters
    main = getattr(model, "main_input_name", "input_ids")
    if main not in params:
        main = "input_ids"
    config = model.config
    ids = torch.zeros(1, seq_len, dtype=torch.long, device=device)  # (batch, T)
    if main == "input_ids" and "input_ids" in params:
        kwargs: dict = {"input_ids": ids}
    elif main == "pixel_values":
        size = _first_int(getattr(config, "image_size", None)) or 224
        channels = getattr(config, "num_channels", 3)
        kwargs = {main: torch.zeros(1, channels, size, size, device=device)}  # (B, C, H, W)
    elif main == "input_values":
        kwargs = {main: torch.zeros(1, 400 * seq_len, device=device)}  # (B, samples)
    elif main == "input_features":
        mels = getattr(config, "num_mel_bins", 80)
        frames = 2 * (getattr(config, "max_source_positions", None) or 1500)
        kwargs = {main: torch.zeros(1, mels, frames, device=device)}  # (B, mel bins, frames)
    else:
        raise WorkbenchError(f"{type(model).__name__} takes {main}, which the trace cannot make "
                             f"up; only the module hierarchy is shown.")
    if "decoder_input_ids" in params:
        kwargs["decoder_input_ids"] = ids
    if "use_cache" in params:
        kwargs["use_cache"] = False
    return kwargs


def _first_int(value) -> int | None:
    if isinstance(value, list | tuple):
        value = value[0] if value else None
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _first_blocks(model) -> list[tuple[str, Any]]:
    """The first block of every outermost stack (ModuleList of numbered modules with weights)."""
    import torch

    found: list[tuple[str, Any]] = []
    lists: list[str] = []
    for path, module in model.named_modules():
        if not isinstance(module, torch.nn.ModuleList) or not len(module):
            continue
        if any(path.startswith(p + ".") for p in lists):
            continue  # a list inside a block (T5's sub-layers, MoE experts)
        lists.append(path)
        first = module[0]
        if any(True for _ in first.parameters()):
            found.append((f"{path}.0" if path else "0", first))
    return found


def first_tensor(value):
    """The first tensor in a module output (tensor, tuple, list or ModelOutput), or None."""
    import torch

    if isinstance(value, torch.Tensor):
        return value
    if isinstance(value, dict):
        value = list(value.values())
    if isinstance(value, tuple | list):
        for v in value:
            t = first_tensor(v)
            if t is not None:
                return t
    return None


def module_kind(name: str, module) -> str:
    """classify() for a live module (its local name and class)."""
    return classify(name.rsplit(".", 1)[-1], type(module).__name__)


@dataclass(frozen=True)
class GraphReport:
    """The folded graph of a checkpoint plus what tracing it learned (or why it could not)."""

    root: GraphNode
    trace: GraphTrace

    def to_json(self) -> dict:
        blocks = [b.to_json() for b in self.trace.blocks]
        return {"seq_len": self.trace.forward.seq_len if self.trace.forward else None,
                "tree": self.root.to_json(), "dataflow": blocks[0] if blocks else None,
                "blocks": blocks, "dataflow_error": self.trace.error,
                "dataflow_note": self.trace.note}


def graph_report(tree: ModuleNode, config: dict | None, seq_len: int = DEFAULT_SEQ_LEN,
                 trace: bool = True, cancel: threading.Event | None = None) -> GraphReport:
    """Fold `tree` and, when a config allows, trace shapes, call order and block dataflow."""
    if not trace:
        result = GraphTrace(None, error="Tracing was not requested.")
    elif config is None or not config.get("model_type"):
        result = GraphTrace(None, error="No config.json with a model_type: the dataflow needs "
                                        "the model's code, so only the hierarchy is shown.")
    else:
        result = trace_config(config, seq_len, cancel, tree)
    return GraphReport(build_graph(tree, result.forward), result)
