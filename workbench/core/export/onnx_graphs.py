"""Write a model as ONNX with torch.onnx.export: one graph, or an encoder and a decoder graph.

Encoder-only and decoder-only models become `model.onnx` (input_ids, attention_mask,
token_type_ids -> logits). Encoder-decoder models follow optimum's layout without a KV cache:
`encoder_model.onnx` (input_ids, attention_mask -> last_hidden_state) and `decoder_model.onnx`
(input_ids, encoder_hidden_states, encoder_attention_mask -> logits); the decoder reads the whole
prefix at each step (no past key values), which is simple and exact but O(T^2) per sequence.
The small torch.nn.Module wrappers below only fix the call signature; torch.onnx.export traces
the real transformers modules. fp16 is written by exporting fp32 and converting the graph with
onnxruntime's own converter (onnxruntime.transformers.float16).
"""

from __future__ import annotations

import logging
import re
import warnings
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from workbench.core.errors import WorkbenchError

EXPORTERS = ("auto", "dynamo", "torchscript")
ONNX_DTYPES = ("fp32", "fp16")
MODEL_FILE, ENCODER_FILE, DECODER_FILE = "model.onnx", "encoder_model.onnx", "decoder_model.onnx"
_ONNX_OPSET = 17  # the TorchScript exporter
_DYNAMO_OPSET = 18  # the dynamo exporter's own opset (no version conversion)
_EXTERNAL_DATA_BYTES = 1_800_000_000  # protobuf's 2 GiB limit, with room for the graph itself


@dataclass
class Graph:
    """One ONNX file to write: the module, example inputs and the names of its axes."""

    file: str
    module: Any  # torch.nn.Module taking the inputs positionally
    inputs: list[str]
    args: tuple  # example tensors, one per input
    axes: list[dict[int, str]]  # per input: axis -> dynamic axis name
    output: str
    output_axes: dict[int, str] = field(default_factory=dict)
    varargs: bool = False  # the module's forward takes *inputs (dynamic_shapes nests them)


def check_onnx_dtype(dtype: str) -> None:
    """Refuse a dtype onnxruntime's CPU provider cannot run, before anything is loaded."""
    if dtype == "bf16":
        # Measured (onnxruntime 1.32): a bf16 BERT graph from torch.onnx.export fails to load
        # with "Could not find an implementation for Add(14)"; the CPU provider has almost no
        # bfloat16 kernels and onnxruntime ships no bf16 converter.
        raise WorkbenchError("bf16 ONNX cannot run in onnxruntime's CPU provider (it has no "
                             "bfloat16 kernels for Add, MatMul...), so it could not be "
                             "verified. Export ONNX with --dtype fp16 or fp32, or --format hf "
                             "--dtype bf16.")
    if dtype == "fp16":
        _check_fp16_runs()


def _check_fp16_runs() -> None:
    """Run a tiny fp16 graph (MatMul, Add, Softmax) in onnxruntime: fail now, not after export."""
    import numpy as np
    import onnx
    import onnxruntime as ort
    from onnx import TensorProto, helper

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT16, [2, 2])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT16, [2, 2])
    nodes = [helper.make_node("MatMul", ["x", "x"], ["m"]), helper.make_node("Add", ["m", "x"],
                                                                            ["a"]),
             helper.make_node("Softmax", ["a"], ["y"], axis=-1)]
    model = helper.make_model(helper.make_graph(nodes, "probe", [x], [y]),
                              opset_imports=[helper.make_opsetid("", _ONNX_OPSET)])
    model.ir_version = min(model.ir_version, onnx.IR_VERSION)
    try:
        session = ort.InferenceSession(model.SerializeToString(),
                                       providers=["CPUExecutionProvider"])
        session.run(None, {"x": np.ones((2, 2), np.float16)})
    except Exception as e:  # onnxruntime raises its own exception types (Fail, NotImplemented)
        raise WorkbenchError(f"fp16 ONNX needs fp16 kernels in onnxruntime's CPU provider, and "
                             f"this onnxruntime {ort.__version__} has none ({e}). Export fp32 "
                             f"ONNX, or --format hf --dtype fp16.") from None


def decoder_start_id(config: Any, generation_config: Any = None) -> int | None:
    """The token an encoder-decoder's decoder starts from (config, else generation config)."""
    for source in (config, generation_config):
        value = source.get("decoder_start_token_id") if isinstance(source, dict) else \
            getattr(source, "decoder_start_token_id", None)
        if isinstance(value, list):  # some generation configs list several
            value = value[0] if value else None
        if isinstance(value, int):
            return value
    return None


def graphs_for(model: Any, batch: dict[str, Any]) -> list[Graph]:
    """The ONNX graphs of `model`, with example inputs from the probe `batch` (numpy arrays)."""
    import torch

    if getattr(model.config, "is_encoder_decoder", False):
        return _seq2seq_graphs(model, batch)
    accepted = _forward_names(model)
    names = [n for n in ("input_ids", "attention_mask", "token_type_ids") if n in batch
             and n in accepted]
    per_token = not type(model).__name__.endswith("ForSequenceClassification")
    return [Graph(MODEL_FILE, _wrappers()["single"](model, names).eval(), names,
                  tuple(torch.from_numpy(batch[n]) for n in names),
                  [{0: "batch", 1: "sequence"} for _ in names], "logits",
                  {0: "batch", 1: "sequence"} if per_token else {0: "batch"}, varargs=True)]


def _seq2seq_graphs(model: Any, batch: dict[str, Any]) -> list[Graph]:
    import torch

    ids = torch.from_numpy(batch["input_ids"])
    mask = torch.from_numpy(batch["attention_mask"])
    decoder_ids = torch.from_numpy(batch["decoder_input_ids"])
    encoder = _wrappers()["encoder"](model).eval()
    with torch.no_grad():  # not inference_mode: its tensors cannot be traced by the exporters
        hidden = encoder(ids, mask)  # example input of the decoder graph
    seq = {0: "batch", 1: "sequence"}
    return [Graph(ENCODER_FILE, encoder, ["input_ids", "attention_mask"], (ids, mask),
                  [seq, seq], "last_hidden_state", seq),
            Graph(DECODER_FILE, _wrappers()["decoder"](model).eval(),
                  ["input_ids", "encoder_hidden_states", "encoder_attention_mask"],
                  (decoder_ids, hidden, mask), [{0: "batch", 1: "decoder_sequence"}, seq, seq],
                  "logits", {0: "batch", 1: "decoder_sequence"})]


def _forward_names(model: Any) -> set[str]:
    import inspect

    return set(inspect.signature(model.forward).parameters)


@cache
def _wrappers() -> dict[str, type]:
    """The wrapper module classes, built on first use so that importing this module is cheap."""
    import torch

    class Single(torch.nn.Module):
        """The model as positional tensors in, one logits tensor out (no cache, no dict)."""

        def __init__(self, model: Any, names: list[str]) -> None:
            super().__init__()
            self.model, self.names = model, names

        def forward(self, *inputs):
            kwargs = dict(zip(self.names, inputs, strict=True))
            if getattr(self.model.config, "use_cache", None) is not None:
                kwargs["use_cache"] = False
            out = self.model(**kwargs, return_dict=True)
            return out.logits if getattr(out, "logits", None) is not None else out[0]

    class Encoder(torch.nn.Module):
        """The model's own encoder (get_encoder()): ids and mask -> last hidden state."""

        def __init__(self, model: Any) -> None:
            super().__init__()
            self.encoder = model.get_encoder()

        def forward(self, input_ids, attention_mask):
            return self.encoder(input_ids=input_ids, attention_mask=attention_mask,
                                return_dict=True).last_hidden_state

    class Decoder(torch.nn.Module):
        """The decoder and LM head, through the model's forward with given encoder outputs."""

        def __init__(self, model: Any) -> None:
            super().__init__()
            self.model = model

        def forward(self, input_ids, encoder_hidden_states, encoder_attention_mask):
            # The full model's forward (not get_decoder()) so that each architecture's own
            # steps after the decoder run too: T5 rescales by d_model**-0.5 before a tied head,
            # BART/Marian add final_logits_bias.
            return self.model(encoder_outputs=(encoder_hidden_states,),
                              attention_mask=encoder_attention_mask,
                              decoder_input_ids=input_ids, use_cache=False,
                              return_dict=True).logits

    return {"single": Single, "encoder": Encoder, "decoder": Decoder}


def write_graphs(model: Any, batch: dict[str, Any], stage: Path, dtype: str,
                 exporter: str = "auto") -> dict[str, Any]:
    """Export every graph of `model` into `stage`; returns {"exporter", "exporter_note", ...}.

    auto: the dynamo exporter (torch.export with dynamic shapes) and, when it cannot export the
    architecture, the TorchScript exporter for every graph; the note says why.
    """
    if exporter not in EXPORTERS:
        raise WorkbenchError(f"Unknown ONNX exporter '{exporter}'; use {', '.join(EXPORTERS)}.")
    graphs = graphs_for(model, batch)
    limit = next((v for v in (getattr(model.config, n, None) for n in
                              ("max_position_embeddings", "n_positions"))
                  if isinstance(v, int) and v > 1), None)
    used, note = exporter, None
    if exporter in ("auto", "dynamo"):
        try:
            for graph in graphs:
                _export_dynamo(graph, stage / graph.file, limit)
            used = "dynamo"
        except Exception as e:  # torch.export raises many types for code it cannot trace
            reason = export_error(e)
            for leftover in stage.glob("*.onnx*"):
                leftover.unlink()
            if exporter == "dynamo":
                raise WorkbenchError(f"The dynamo exporter cannot export "
                                     f"{type(model).__name__}: {reason}. Use --onnx-exporter "
                                     f"torchscript (or auto, which falls back to it).") from None
            used, note = "torchscript", (f"The dynamo exporter failed ({reason}); the "
                                         f"TorchScript exporter was used.")
    if used == "torchscript":
        for graph in graphs:
            _export_torchscript(graph, stage / graph.file, model)
    if dtype == "fp16":
        for graph in graphs:
            _convert_fp16(stage / graph.file)
    return {"exporter": used, "exporter_note": note, "onnx_files": [g.file for g in graphs]}


def export_error(error: Exception) -> str:
    """The cause of a dynamo export failure in one line (its "Exception summary" if any)."""
    text = re.sub(r"\x1b\[[0-9;]*m", "", str(error))
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    cause = next((line for line in lines if line.startswith("<class ")), lines[0] if lines
                 else type(error).__name__)
    return cause[:300]


def _export_dynamo(graph: Graph, path: Path, limit: int | None) -> None:
    """torch.onnx.export(dynamo=True), the named axes as torch.export.Dim (shared by name)."""
    import torch

    dims: dict[str, Any] = {}
    for name in {a for axes in graph.axes for a in axes.values()}:
        bounded = limit if name in ("sequence", "decoder_sequence") else None
        dims[name] = torch.export.Dim(name, max=bounded) if bounded else torch.export.Dim(name)
    shapes = tuple({i: dims[a] for i, a in axes.items()} for axes in graph.axes)
    if graph.varargs:
        shapes = (shapes,)
    quiet = logging.getLogger("torch.onnx")  # "torchvision is not installed" lines per export
    level = quiet.level
    quiet.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(graph.module, graph.args, str(path), input_names=graph.inputs,
                              output_names=[graph.output], dynamic_shapes=shapes,
                              opset_version=_DYNAMO_OPSET, dynamo=True, verbose=False)
    finally:
        quiet.setLevel(level)


def _export_torchscript(graph: Graph, path: Path, model: Any) -> None:
    """The legacy TorchScript exporter (dynamo=False), with dynamic_axes."""
    import torch

    axes = dict(zip(graph.inputs, graph.axes, strict=True))
    axes[graph.output] = graph.output_axes
    try:
        # Its TracerWarnings (shape checks traced as constants) are silenced: whether the graph
        # generalises is what the verification on other shapes (the long probe) measures.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(graph.module, graph.args, str(path), input_names=graph.inputs,
                              output_names=[graph.output], dynamic_axes=axes,
                              opset_version=_ONNX_OPSET, dynamo=False)
    except Exception as e:  # the exporter raises many types for unsupported operators
        raise WorkbenchError(f"The ONNX exporter does not support this architecture "
                             f"({type(model).__name__}): {type(e).__name__}: "
                             f"{str(e)[:300]}. Export --format hf instead.") from None


def _convert_fp16(path: Path) -> None:
    """Rewrite an fp32 ONNX file in fp16 with onnxruntime's converter (inputs/outputs too).

    keep_io_types=False: float inputs and outputs (logits, hidden states) become float16 as a
    user of an fp16 model expects; the converter keeps the ops onnxruntime runs only in fp32
    (its default op_block_list) in fp32 with casts around them.
    """
    import onnx
    from onnxruntime.transformers.float16 import convert_float_to_float16

    model = onnx.load(str(path))  # loads external data (model.onnx.data) too
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "the float32 number ... will be truncated": measured
        half = convert_float_to_float16(model, keep_io_types=False)
    for old in path.parent.glob(path.name + "*"):
        old.unlink()
    large = half.ByteSize() > _EXTERNAL_DATA_BYTES
    onnx.save_model(half, str(path), save_as_external_data=large,
                    location=path.name + ".data" if large else None)
