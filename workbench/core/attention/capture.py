"""Find a model's attention modules and record their weights with forward hooks.

The modules are found the way transformers v5 records `output_attentions` itself (each
PreTrainedModel's `_can_record_outputs`), so the hooks see exactly the tensors the model would
return, but only the selected layers are kept.
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np

from workbench.core.errors import CancelledError, WorkbenchError

# (module, index of the weights in the module's output tuple)
ModuleSpec = tuple[Any, int]


def find_attention_modules(model) -> dict[str, list[ModuleSpec]]:
    """{kind: [(module, output index), ...] in layer order}; kinds: self/encoder/decoder/cross."""
    enc_dec = bool(getattr(model.config, "is_encoder_decoder", False))
    found: dict[str, list[ModuleSpec]] = {}
    _walk(model, "", _tasks(model, "", enc_dec), found, enc_dec)
    order = ("self", "encoder", "decoder", "cross")
    return {k: found[k] for k in order if found.get(k)}


def _tasks(submodel, path: str, enc_dec: bool) -> list[tuple[str, Any]]:
    """(kind, OutputRecorder) pairs that a PreTrainedModel declares for attention weights."""
    from transformers.utils.output_capturing import OutputRecorder

    specs = getattr(type(submodel), "_can_record_outputs", None) or {}
    role = "self"
    if enc_dec:
        is_dec = "decoder" in path.split(".") or bool(getattr(submodel, "is_decoder", False))
        role = "decoder" if is_dec else "encoder"
    tasks = []
    for key, kind in (("attentions", role), ("cross_attentions", "cross")):
        if key not in specs:
            continue
        items = specs[key] if isinstance(specs[key], list) else [specs[key]]
        for spec in items:
            if not isinstance(spec, OutputRecorder):
                spec = OutputRecorder(target_class=None if isinstance(spec, str) else spec,
                                      index=1, class_name=spec if isinstance(spec, str) else None)
            tasks.append((kind, spec))
    return tasks


def _walk(module, path: str, tasks, found, enc_dec: bool) -> None:
    """Mirror transformers' hook installation: the nearest PreTrainedModel's specs apply."""
    from transformers import PreTrainedModel

    for name, child in module.named_children():
        child_path = f"{path}.{name}" if path else name
        child_tasks = _tasks(child, child_path, enc_dec) if isinstance(child, PreTrainedModel) \
            else tasks
        _walk(child, child_path, child_tasks, found, enc_dec)
    for kind, spec in tasks:
        by_class = spec.target_class is not None and isinstance(module, spec.target_class)
        by_name = spec.class_name is not None and path.endswith(spec.class_name)
        if not (by_class or by_name):
            continue
        if spec.layer_name is not None and f".{spec.layer_name.strip('.')}." not in f".{path}.":
            continue
        found.setdefault(kind, []).append((module, spec.index))


def is_causal_model(model) -> bool:
    """Whether the model's own self-attention (decoder's, for encoder-decoders) masks the future."""
    config = model.config
    if getattr(config, "is_encoder_decoder", False) or getattr(config, "is_decoder", False):
        return True
    from transformers.models.auto.modeling_auto import (
        MODEL_FOR_CAUSAL_LM_MAPPING_NAMES,
        MODEL_FOR_MASKED_LM_MAPPING_NAMES,
    )

    model_type = getattr(config, "model_type", None)
    return (model_type in MODEL_FOR_CAUSAL_LM_MAPPING_NAMES
            and model_type not in MODEL_FOR_MASKED_LM_MAPPING_NAMES)


def causal_kinds(model, kinds: tuple[str, ...]) -> tuple[str, ...]:
    """The captured kinds whose upper triangle is masked."""
    if getattr(model.config, "is_encoder_decoder", False):
        return tuple(k for k in kinds if k == "decoder")
    return tuple(k for k in kinds if k == "self" and is_causal_model(model))


LAYER_FIELDS = {"decoder": ("decoder_layers", "num_decoder_layers"),
                "cross": ("decoder_layers", "num_decoder_layers")}
COMMON_LAYER_FIELDS = ("num_hidden_layers", "encoder_layers", "num_layers", "n_layer")


def layer_counts(model, modules: dict[str, list[ModuleSpec]]) -> dict[str, int]:
    """How many attention layers of each kind one forward pass runs.

    Usually one per module; but a model that applies one layer N times (ALBERT's shared
    layer group) has fewer modules than the config's layers, and no stack of that many modules:
    each of its modules runs config-layers / modules times, and every call is a layer.
    """
    import torch

    config = model.config
    stacks = {len(m) for m in model.modules() if isinstance(m, torch.nn.ModuleList)}
    counts = {}
    for kind, specs in modules.items():
        unique = len({id(m) for m, _ in specs})
        layers = next((v for f in LAYER_FIELDS.get(kind, ()) + COMMON_LAYER_FIELDS
                       if isinstance(v := getattr(config, f, None), int) and v > 0), unique)
        shared = unique < layers and layers % unique == 0 and layers not in stacks
        counts[kind] = layers if shared else len(specs)
    return counts


def _is_map(weights: np.ndarray, size: tuple[int, int]) -> bool:
    """Whether one layer's weights are (heads, Tq, Tk) attention maps: that shape, and each row
    a softmax's (no negative weight, a sum of at most 1: attention sinks, as in gpt-oss, keep
    some of the mass). A linear-attention layer's state can have the shape by chance (MiniMax:
    head_dim x head_dim, for a text of head_dim tokens) but not the values."""
    if weights.ndim != 3 or weights.shape[1:] != size:
        return False
    for head in weights:  # a head at a time: each reduction holds the GIL (see arrays())
        if np.isnan(head).any():
            continue  # an unstable model's maps are kept, with a note (compute_attention)
        # 1%: a bfloat16 softmax rounds each weight by up to 0.2%, so its rows sum to ~1.002
        if head.min() < -1e-6 or head.sum(-1).max() > 1.01:
            return False
    return True


class AttentionCapture:
    """Context manager: hooks on the selected attention modules; `arrays()` afterwards.

    Layers are numbered in call order per kind, so a module that runs N times (a shared
    layer) gives N layers.
    """

    def __init__(self, modules: dict[str, list[ModuleSpec]], selection: dict[str, tuple[int, ...]],
                 cancel: threading.Event | None = None):
        self._modules, self._selection, self._cancel = modules, selection, cancel
        self._handles: list[Any] = []
        self._got: dict[str, dict[int, np.ndarray | None]] = {k: {} for k in modules}
        self.calls: dict[str, int] = dict.fromkeys(modules, 0)

    def __enter__(self) -> AttentionCapture:
        for kind, specs in self._modules.items():
            keep = set(self._selection.get(kind, ()))
            hooked: set[int] = set()
            for module, index in specs:
                if id(module) not in hooked:  # a shared module is hooked once, fires N times
                    hooked.add(id(module))
                    self._handles.append(module.register_forward_hook(
                        self._hook(kind, index, keep)))
        return self

    def __exit__(self, *exc) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles.clear()

    def _hook(self, kind: str, index: int, keep: set[int]):
        def hook(_module, _args, output):
            if self._cancel is not None and self._cancel.is_set():
                raise CancelledError("Attention computation cancelled.")
            layer = self.calls[kind]
            self.calls[kind] += 1
            if layer not in keep:
                return
            weights = output[index] if isinstance(output, tuple) else None
            self.store(kind, layer, weights)
        return hook

    def store(self, kind: str, layer: int, weights) -> None:
        """Keep one layer's weights (batch, heads, Tq, Tk) tensor, or None when it gave none."""
        if weights is None:
            self._got.setdefault(kind, {})[layer] = None
            return
        # .cpu() is a host-device sync point; one per captured layer.
        self._got.setdefault(kind, {})[layer] = \
            weights[0].detach().float().cpu().numpy()  # (heads, Tq, Tk)

    def arrays(self, sizes: dict[str, tuple[int, int]]) -> tuple[
            dict[str, np.ndarray], dict[str, tuple[int, ...]], dict[str, tuple[tuple, tuple]]]:
        """{kind: (layers, heads, Tq, Tk) float32}, {kind: captured layer indices}, and
        {kind: (layer indices, shape)} of the layers left out because their weights are not
        (heads, Tq, Tk) maps of `sizes[kind]` (local windows, linear attention, a recurrent
        state: every view would draw them as if they were maps)."""
        maps, layers, not_maps = {}, {}, {}
        for kind, got in self._got.items():
            if not got:
                continue  # e.g. BERT's cross-attention modules, never run without an encoder
            missing = [i for i, a in got.items() if a is None]
            if missing:
                raise WorkbenchError(
                    f"The model returned no {kind} attention weights (layers {missing}); its "
                    f"attention implementation does not expose them. Load it with "
                    f"attn_implementation='eager'.")
            order = sorted(i for i, a in got.items() if _is_map(a, sizes[kind]))
            others = sorted(set(got) - set(order))
            if others:
                not_maps[kind] = (tuple(others), got[others[0]].shape)
            if not order:
                continue
            first = got[order[0]]
            arr = np.empty((len(order), *first.shape), dtype=np.float32)
            # One head per copy, not one np.stack: a copy holds the GIL throughout, and the
            # stack of 2,048-token maps (tens of MB per layer) froze the GUI for ~100 ms.
            for n, i in enumerate(order):
                for h in range(first.shape[0]):
                    arr[n, h] = got[i][h]
            arr.setflags(write=False)
            maps[kind], layers[kind] = arr, tuple(order)
        return maps, layers, not_maps


# ModelOutput field -> kind, for models that only return attentions from forward
RETURNED_FIELDS = {"attentions": "self", "encoder_attentions": "encoder",
                   "decoder_attentions": "decoder", "cross_attentions": "cross"}


def returned_kinds(model) -> dict[str, str]:
    """The output fields a model without recordable modules returns attentions in -> kind."""
    if getattr(model.config, "is_encoder_decoder", False):
        return {f: k for f, k in RETURNED_FIELDS.items() if f != "attentions"}
    return {"attentions": "self"}


def capture_returned(capture: AttentionCapture, outputs, model) -> None:
    """Store the selected layers of attentions the forward returned (output_attentions=True)."""
    for name, kind in returned_kinds(model).items():
        layers = getattr(outputs, name, None) or ()
        keep = set(capture._selection.get(kind, ()))
        for layer, weights in enumerate(layers):
            capture.calls[kind] = capture.calls.get(kind, 0) + 1
            if layer in keep:
                capture.store(kind, layer, weights)
