"""Attention weights of a real model on real text: `compute_attention` -> `AttentionMaps`.

Weights come from the eager attention implementation (sdpa/flash return none). When the returned
attentions would be large (layers x heads x T^2 x bytes), only selected layers are captured, with
forward hooks on the attention modules, so the other layers' weights are dropped as they go.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from workbench.core.attention.capture import (
    AttentionCapture,
    capture_returned,
    causal_kinds,
    find_attention_modules,
    is_causal_model,
    layer_counts,
    returned_kinds,
)
from workbench.core.errors import CancelledError, ModelRunError, WorkbenchError
from workbench.core.model import config_roles
from workbench.core.model.limits import ensure_fits
from workbench.core.model.loading import check_tokenizer
from workbench.core.units import human_bytes

Progress = Callable[[str], None]

# Main inputs (PreTrainedModel.main_input_name) that are not token ids, and what they hold.
NON_TEXT_INPUTS = {"pixel_values": "images", "input_values": "audio",
                   "input_features": "audio features"}

# Past this estimate the returned attentions of every layer are not kept (selected layers only).
DEFAULT_MEMORY_LIMIT = 1 << 30


class AttentionUnavailableError(WorkbenchError):
    """The model gave no attention weights (a fused kernel, an unsupported architecture...)."""


class InputTooLongError(WorkbenchError):
    """The input has more tokens than the model's position table; `truncate=True` cuts it."""

    def __init__(self, length: int, limit: int):
        super().__init__(f"The input has {length} tokens but this model reads at most {limit}. "
                         f"Shorten the text, or truncate it to the model's maximum.")
        self.length, self.limit = length, limit


@dataclass(frozen=True)
class Token:
    """One token of the input: its text, id, segment and whether it is a special token."""

    text: str
    id: int
    special: bool
    unknown: bool = False
    segment: int = 0

    def to_json(self) -> dict[str, Any]:
        return {"text": self.text, "id": self.id, "special": self.special,
                "unknown": self.unknown, "segment": self.segment}


@dataclass(frozen=True)
class AttentionMaps:
    """Attention weights per kind ("self", or "encoder"/"decoder"/"cross"), float32 numpy.

    `maps[kind]` has shape (captured layers, heads, T_query, T_key); `layers[kind]` names the
    model layers those rows are. Query/key tokens of a kind: `axis_tokens(kind)`.
    """

    model_type: str
    is_encoder_decoder: bool
    is_causal: bool  # the main self-attention (or decoder self-attention) masks the future
    tokens: tuple[Token, ...]  # the input (encoder input for encoder-decoders)
    target_tokens: tuple[Token, ...]  # decoder input for encoder-decoders, else ()
    maps: dict[str, np.ndarray]
    layers: dict[str, tuple[int, ...]]
    num_layers: dict[str, int]
    causal: tuple[str, ...]  # the kinds whose upper triangle is masked
    estimated_bytes: int
    notes: tuple[str, ...] = ()
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def kinds(self) -> tuple[str, ...]:
        """The kinds captured, in display order."""
        return tuple(self.maps)

    @property
    def partial(self) -> bool:
        """True when some layers were not captured (memory limit or explicit selection)."""
        return any(len(self.layers[k]) < self.num_layers[k] for k in self.kinds)

    def num_heads(self, kind: str) -> int:
        return int(self.maps[kind].shape[1])

    def axis_tokens(self, kind: str) -> tuple[tuple[Token, ...], tuple[Token, ...]]:
        """(query tokens, key tokens) of a kind: rows attend to columns."""
        if kind == "decoder":
            return self.target_tokens, self.target_tokens
        if kind == "cross":
            return self.target_tokens, self.tokens
        return self.tokens, self.tokens

    def matrix(self, kind: str, layer: int, head: int) -> np.ndarray:
        """One (T_query, T_key) map; `layer` is a model layer index that was captured."""
        return self.maps[kind][self.layers[kind].index(layer), head]

    def summary(self) -> dict[str, Any]:
        """Shapes, tokens and notes as JSON-ready data."""
        return {
            "model_type": self.model_type, "is_encoder_decoder": self.is_encoder_decoder,
            "is_causal": self.is_causal, "causal_kinds": list(self.causal),
            "tokens": [t.to_json() for t in self.tokens],
            "target_tokens": [t.to_json() for t in self.target_tokens],
            "shapes": {k: list(v.shape) for k, v in self.maps.items()},
            "layers": {k: list(v) for k, v in self.layers.items()},
            "num_layers": dict(self.num_layers), "estimated_bytes": self.estimated_bytes,
            "notes": list(self.notes),
        }


def tokens_from_ids(tokenizer, ids: Sequence[int], segments: Sequence[int] | None = None
                    ) -> tuple[Token, ...]:
    """Tokens with their text and special/unknown flags, as the tokenizer names them."""
    texts = tokenizer.convert_ids_to_tokens(list(ids))
    unk = getattr(tokenizer, "unk_token_id", None)
    special_ids = set(getattr(tokenizer, "all_special_ids", ()) or ()) - {unk}
    segments = segments if segments is not None else [0] * len(ids)
    return tuple(Token(text=str(t), id=int(i), special=int(i) in special_ids,
                       unknown=unk is not None and int(i) == unk, segment=int(s))
                 for t, i, s in zip(texts, ids, segments, strict=True))


def estimate_attention_bytes(num_layers: int, num_heads: int, t_query: int, t_key: int,
                             bytes_per_value: int = 4) -> int:
    """Memory of returned attentions: layers x heads x T_query x T_key x bytes."""
    return num_layers * num_heads * t_query * t_key * bytes_per_value


def compute_attention(model, tokenizer, text: str, pair: str | None = None,
                      target: str | None = None, layers: Sequence[int] | None = None,
                      progress: Progress | None = None, cancel: threading.Event | None = None,
                      memory_limit: int = DEFAULT_MEMORY_LIMIT,
                      truncate: bool = False) -> AttentionMaps:
    """Run `model` (already loaded, possibly mid-training) on `text` and return its attentions.

    `pair` is the second segment of pair models; `target` the decoder text of encoder-decoders.
    `layers` restricts capture to those layer indices (hooks); None captures all layers unless
    the estimate passes `memory_limit`, in which case only the last layer is kept (see notes).
    Over the model's maximum length it raises InputTooLongError, or with `truncate` keeps the
    first `max_length(config)` tokens (the tokenizer's own truncation, special tokens kept).
    """
    import torch

    say = progress or (lambda _msg: None)
    check_text_input(model)
    if tokenizer is None:
        raise WorkbenchError("This checkpoint has no tokenizer, so text cannot be turned into "
                             "tokens. Copy its base model's tokenizer files into the folder.")
    check_tokenizer(tokenizer)
    if not text or not text.strip():
        raise WorkbenchError("Type some text to inspect first.")
    config = model.config
    enc_dec = bool(getattr(config, "is_encoder_decoder", False))
    say("tokenizing")
    limit = max_length(config) if truncate else None
    inputs, tokens, target_tokens, notes = _tokenize(model, tokenizer, text, pair, target, enc_dec,
                                                     limit)
    _check_length(config, len(tokens), len(target_tokens))
    _check_vocab(model, tokens + target_tokens)
    modules = find_attention_modules(model)
    # Models whose classes declare no recordable attention modules (Bloom, Falcon, GPT-Neo,
    # DeBERTa, MPNet) still return the weights from forward(output_attentions=True).
    returned = not modules
    counts = layer_counts(model, modules) if modules else _returned_counts(model)
    if not counts:
        raise AttentionUnavailableError(
            f"No attention layers were found in this {type(model).__name__}, so there are no "
            f"attention weights to show.")
    t_src, t_tgt = len(tokens), len(target_tokens)
    sizes = {"self": (t_src, t_src), "encoder": (t_src, t_src), "decoder": (t_tgt, t_tgt),
             "cross": (t_tgt, t_src)}
    value_bytes = 4  # returned as float32
    estimate = sum(estimate_attention_bytes(n, _heads(config, kind), *sizes[kind],
                                            value_bytes) for kind, n in counts.items())
    if returned and estimate > memory_limit:
        raise AttentionUnavailableError(
            f"This {type(model).__name__} returns every layer's attention at once, which would "
            f"take {human_bytes(estimate)} (over {human_bytes(memory_limit)}). Shorten the text.")
    selection = _selection(counts, layers, estimate, memory_limit, notes)
    device = next(model.parameters()).device
    # Kept maps, plus one layer's weights that eager attention materialises on the device.
    kept = sum(estimate_attention_bytes(len(selection.get(kind, ())), _heads(config, kind),
                                        *sizes[kind], value_bytes) for kind in counts)
    transient = max(estimate_attention_bytes(1, _heads(config, kind), *sizes[kind], value_bytes)
                    for kind in counts)
    ensure_fits(kept + 2 * transient, str(device), f"Attention of {t_src + t_tgt} tokens",
                "Use a shorter text or fewer layers.")
    _cancelled(cancel)
    inputs = {k: v.to(device) for k, v in inputs.items()}
    was_training, old_impl = model.training, _attn_implementation(model)
    capture = AttentionCapture(modules, selection, cancel)
    try:
        if old_impl != "eager":
            _set_eager(model, old_impl)
        model.eval()
        say(f"running the model on {t_src + t_tgt} tokens (eager attention)")
        with torch.no_grad(), capture:
            try:
                outputs = model(**inputs, **({"output_attentions": True} if returned else {}))
            except (RuntimeError, ValueError, IndexError, TypeError) as e:
                if isinstance(e, torch.OutOfMemoryError):
                    raise
                raise ModelRunError(_run_failure(model, e)) from None
        if returned:
            capture_returned(capture, outputs, model)
    finally:
        if was_training:
            model.train()
        if old_impl not in (None, "eager"):
            model.set_attn_implementation(old_impl)
    for kind, n in counts.items():
        ran = capture.calls.get(kind, 0)
        if ran and ran != n:
            notes.append(f"{kind}: {ran} attention layers ran, {n} were expected from the "
                         f"config; layers are numbered in the order they ran.")
    _cancelled(cancel)
    say("collecting attention weights")
    maps, captured, not_maps = capture.arrays(sizes)
    _report_layers_without_maps(model, maps, not_maps, sizes, notes)
    for kind, arr in maps.items():
        if arr.size and not np.isfinite(arr).all():
            notes.append(f"{kind}: the weights contain NaN or infinity (the model is unstable at "
                         f"this dtype; try float32).")
    return AttentionMaps(
        model_type=str(getattr(config, "model_type", "") or type(model).__name__),
        is_encoder_decoder=enc_dec, is_causal=is_causal_model(model),
        tokens=tokens, target_tokens=target_tokens, maps=maps, layers=captured,
        num_layers={k: capture.calls.get(k) or counts[k] for k in maps},
        causal=_verified_causal(model, maps, notes), estimated_bytes=estimate,
        notes=tuple(notes))


def _report_layers_without_maps(model, maps: dict[str, np.ndarray],
                                not_maps: dict[str, tuple[tuple, tuple]],
                                sizes: dict[str, tuple[int, int]], notes: list[str]) -> None:
    """Say which layers' weights were left out for not being query x key maps (LED's and
    Longformer's sliding windows, LongT5's blocks, RWKV's state, MiniMax's linear-attention
    layers beside its softmax ones); refuse when no layer gave maps."""
    for kind, (layers, shape) in not_maps.items():
        what = (f"weights shaped {tuple(shape)}, not {sizes[kind][0]} x {sizes[kind][1]} maps "
                f"of queries over keys (local attention over windows or blocks, as in LED and "
                f"LongT5, linear attention, or a recurrent state, as in RWKV)")
        if maps:
            which = (f"layer {layers[0]} returns" if len(layers) == 1 else
                     f"layers {', '.join(map(str, layers))} return")
            notes.append(f"{kind}: {which} {what}; left out.")
        else:
            raise AttentionUnavailableError(f"{type(model).__name__} returns {kind}-attention "
                                            f"{what}, so they cannot be shown as attention maps.")
    if not maps:
        raise AttentionUnavailableError(
            "The model ran but returned no attention weights, so there is nothing to show: it "
            "may have no attention layers at all (state-space and recurrent models such as "
            "Mamba and RWKV).")


def _run_failure(model, error: Exception) -> str:
    """The message for a forward pass that failed inside the model's own code."""
    first = (str(error).strip().splitlines() or [""])[0][:300]
    return (f"{type(model).__name__} failed while running on the text ({type(error).__name__}: "
            f"{first}). Its config may not fit its code or weights (a rotary, head or vocabulary "
            f"size that does not match): check the config in Edit config, or try another "
            f"checkpoint.")


def _verified_causal(model, maps: dict[str, np.ndarray], notes: list[str]) -> tuple[str, ...]:
    """The kinds the model type calls causal, kept only if the weights agree (no future)."""
    kept = []
    for kind in causal_kinds(model, tuple(maps)):
        first = maps[kind][0]  # (heads, T, T); one layer is enough to tell
        # one head at a time: a boolean-mask gather of every head at once holds the GIL for
        # ~100 ms at 2,048 tokens (the GUI thread waits); np.triu is a ufunc that releases it
        reach = max(float(np.abs(np.triu(head, k=1)).max()) for head in first) \
            if first.shape[-1] > 1 else 0.0
        if reach > 1e-6:
            notes.append(f"{kind}: this model type is causal but its weights reach future "
                         f"tokens, so the future is not drawn as masked.")
        else:
            kept.append(kind)
    return tuple(kept)


def check_text_input(model_or_class) -> None:
    """Raise AttentionUnavailableError when the model (or model class) reads images or audio
    rather than token ids: the inspector runs on typed text, and such checkpoints ship no
    tokenizer, so "copy the tokenizer files" would be the wrong advice."""
    main = getattr(model_or_class, "main_input_name", "input_ids")
    if (kind := NON_TEXT_INPUTS.get(main)) is not None:
        name = getattr(model_or_class, "__name__", type(model_or_class).__name__)
        raise AttentionUnavailableError(
            f"{name} reads {kind} ({main}), not text, and the Attention inspector runs on typed "
            f"text only. Inspect, Graph and Config work for this model.")


def check_text_checkpoint(path: str | Path) -> None:
    """`check_text_input` for a checkpoint on disk, from the class its config.json names
    (before the tokenizer or the model is loaded); silent when the class is not known."""
    import transformers

    from workbench.core.model.architecture import read_config_dict
    from workbench.core.model.loading import pretrained_source

    folder, source = pretrained_source(path)
    if source:
        return  # GGUF files are language models
    try:
        names = read_config_dict(folder).get("architectures") or []
    except WorkbenchError:
        return  # loading reports it with its own message
    for name in names if isinstance(names, list) else []:
        if isinstance(name, str) and (cls := getattr(transformers, name, None)) is not None:
            check_text_input(cls)
            return


def compute_attention_from_path(path: str | Path, text: str, pair: str | None = None,
                                target: str | None = None, layers: Sequence[int] | None = None,
                                device: str = "cpu", dtype: str | None = "float32",
                                progress: Progress | None = None,
                                cancel: threading.Event | None = None) -> AttentionMaps:
    """Load a checkpoint (eager attention) and its tokenizer, then `compute_attention`."""
    from workbench.core.model.loading import load_model, load_tokenizer

    say = progress or (lambda _msg: None)
    check_text_checkpoint(path)
    say("loading the tokenizer")
    tokenizer = load_tokenizer(path)
    _cancelled(cancel)
    say("loading the model")
    model = load_model(path, device=device, dtype=dtype, attn_implementation="eager")
    return compute_attention(model, tokenizer, text, pair=pair, target=target, layers=layers,
                             progress=progress, cancel=cancel)


def _tokenize(model, tokenizer, text, pair, target, enc_dec, limit: int | None = None):
    notes: list[str] = []
    cut = {"truncation": True, "max_length": limit} if limit else {}
    enc = (tokenizer(text, pair, return_tensors="pt", **cut) if pair
           else tokenizer(text, return_tensors="pt", **cut))
    if limit and enc["input_ids"].shape[1] >= limit:
        notes.append(f"The input was truncated to {limit} tokens, the model's maximum.")
    ids = enc["input_ids"][0].tolist()
    segments = enc["token_type_ids"][0].tolist() if "token_type_ids" in enc else None
    if pair and segments is None:
        notes.append("This tokenizer has no segment ids; the pair was joined as one sequence.")
    inputs = {"input_ids": enc["input_ids"]}
    if "attention_mask" in enc:
        inputs["attention_mask"] = enc["attention_mask"]
    # Only models with a segment embedding table get segment ids (GPT-2 would embed them as
    # tokens).
    if (segments is not None and getattr(model.config, "type_vocab_size", 0)
            and "token_type_ids" in _forward_args(model)):
        inputs["token_type_ids"] = enc["token_type_ids"]
    tokens = tokens_from_ids(tokenizer, ids, segments)
    target_tokens: tuple[Token, ...] = ()
    if enc_dec:
        start = getattr(model.config, "decoder_start_token_id", None)
        if start is None:
            start = getattr(model.config, "bos_token_id", 0) or 0
        if target and target.strip():
            labels = tokenizer(text_target=target, return_tensors="pt", **cut)["input_ids"]
            dec = _shift_right(labels, int(start))
        else:
            import torch

            dec = torch.tensor([[int(start)]])
            notes.append("No target text: the decoder saw only its start token. Type a target "
                         "to see decoder and cross-attention over it.")
        inputs["decoder_input_ids"] = dec
        target_tokens = tokens_from_ids(tokenizer, dec[0].tolist())
    return inputs, tokens, target_tokens, notes


def _shift_right(labels, start: int):
    """Teacher forcing: the decoder reads the start token then the target minus its last token."""
    import torch

    return torch.cat([torch.full_like(labels[:, :1], start), labels[:, :-1]], dim=1)


def _forward_args(model) -> set[str]:
    import inspect

    try:
        return set(inspect.signature(model.forward).parameters)
    except (TypeError, ValueError):
        return set()


def max_length(config) -> int | None:
    """The most tokens the model's position table reads, or None (relative positions: T5)."""
    limit = config_roles.role_value(config, "max_positions")
    return limit if isinstance(limit, int) and limit > 0 else None


def _check_length(config, t_src: int, t_tgt: int) -> None:
    limit, longest = max_length(config), max(t_src, t_tgt)
    if limit is not None and limit < longest:
        raise InputTooLongError(longest, limit)


def _check_vocab(model, tokens: tuple[Token, ...]) -> None:
    try:
        embeddings = model.get_input_embeddings()
    except (AttributeError, NotImplementedError):
        return  # no embedding table to check against; the forward will say if ids are bad
    size = getattr(embeddings, "num_embeddings", None)
    top = max(t.id for t in tokens)
    if isinstance(size, int) and top >= size:
        raise WorkbenchError(f"The tokenizer produced id {top} but the model's vocabulary has "
                             f"only {size} entries: the tokenizer does not belong to this model. "
                             f"Use the tokenizer of its base model.")


def _heads(config, kind: str) -> int:
    heads = (config_roles.decoder_value(config, "heads") if kind in ("decoder", "cross")
             else config_roles.role_value(config, "heads"))
    # Only sizes the pre-flight estimate; the capture reports the real shapes.
    return heads or 1


def _selection(counts: dict[str, int], layers, estimate, memory_limit,
               notes) -> dict[str, tuple[int, ...]]:
    """Which layer indices of each kind to keep ({kind: number of layers} in `counts`)."""
    if layers is not None:
        chosen = {}
        for kind, n in counts.items():
            keep = tuple(sorted({i if i >= 0 else n + i for i in layers if -n <= i < n}))
            if not keep:
                raise WorkbenchError(f"No such layer: the model's {kind} attention has "
                                     f"{n} layers (0-{n - 1}).")
            chosen[kind] = keep
        return chosen
    if estimate > memory_limit:
        notes.append(f"All layers' attention would take {human_bytes(estimate)} (over "
                     f"{human_bytes(memory_limit)}), so only the last layer was captured. "
                     f"Choose other layers to inspect them.")
        return {kind: (n - 1,) for kind, n in counts.items()}
    return {kind: tuple(range(n)) for kind, n in counts.items()}


def _returned_counts(model) -> dict[str, int]:
    """{kind: layers} a model returns attentions for, from its config, when none are hooked."""
    from workbench.core.attention.capture import COMMON_LAYER_FIELDS, LAYER_FIELDS

    config = model.config
    out = {}
    for kind in returned_kinds(model).values():
        n = next((v for f in LAYER_FIELDS.get(kind, ()) + COMMON_LAYER_FIELDS
                  if isinstance(v := getattr(config, f, None), int) and v > 0), None)
        if n:
            out[kind] = n
    return out


def _attn_implementation(model) -> str | None:
    return getattr(model.config, "_attn_implementation", None)


def _set_eager(model, old: str | None) -> None:
    try:
        model.set_attn_implementation("eager")
    except (ValueError, AttributeError, NotImplementedError) as e:
        raise AttentionUnavailableError(
            f"This model runs attention with '{old}', which returns no weights, and it cannot "
            f"switch to the eager implementation ({e}). Reload it with "
            f"attn_implementation='eager'.") from None


def _cancelled(cancel: threading.Event | None) -> None:
    if cancel is not None and cancel.is_set():
        raise CancelledError("Attention computation cancelled.")
