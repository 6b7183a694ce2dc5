"""The fields of a model config, read from its class: type, default, group and help text."""

from __future__ import annotations

import dataclasses
import enum
import functools
import inspect
import json
import re
import types
import typing
from dataclasses import dataclass
from typing import Any

GROUPS = ("Architecture", "Attention and position encoding", "Regularisation", "Special tokens",
          "Other", "Advanced")
KINDS = ("bool", "int", "float", "str", "choice", "json")

# Written by transformers itself or identifying the class: shown nowhere, kept when saving.
HIDDEN_KEYS = frozenset({"model_type", "transformers_version", "_name_or_path"})
# Generic PreTrainedConfig switches that rarely matter for the architecture.
ADVANCED_KEYS = frozenset({
    "architectures", "output_hidden_states", "output_attentions", "return_dict", "dtype",
    "torch_dtype", "chunk_size_feed_forward", "is_encoder_decoder", "id2label", "label2id",
    "problem_type", "torchscript", "pruned_heads", "gradient_checkpointing", "is_decoder",
    "add_cross_attention", "tie_encoder_decoder", "cross_attention_hidden_size",
    "finetuning_task", "tokenizer_class", "prefix", "task_specific_params", "use_bfloat16",
})
ACTIVATION_KEYS = frozenset({"hidden_act", "activation_function", "hidden_activation",
                             "feed_forward_proj", "dense_act_fn"})
GENERIC_DOCS = {
    "architectures": "Model classes this checkpoint was saved from; the first one is built.",
    "output_hidden_states": "Return the hidden states of every layer by default.",
    "output_attentions": "Return attention weights by default (needs eager attention).",
    "return_dict": "Return ModelOutput objects instead of plain tuples.",
    "dtype": "Data type the weights were saved in (float32, bfloat16...).",
    "chunk_size_feed_forward": "Chunk the feed-forward layers to save memory (0 = no chunking).",
    "is_encoder_decoder": "Whether the model is an encoder-decoder.",
    "id2label": "Class index -> label name for classification heads.",
    "label2id": "Label name -> class index for classification heads.",
    "problem_type": "Loss used by sequence-classification heads.",
    "num_labels": "Number of outputs of a classification head; rewrites id2label and label2id.",
}
_ARG_LINE = re.compile(r"^(\s*)([A-Za-z_]\w*) \((.*)\):\s*$")


@dataclass(frozen=True)
class FieldSpec:
    """One editable config field: how to show it, its default and what it means."""

    name: str
    kind: str  # one of KINDS
    type_text: str  # the annotation as a user reads it, e.g. "int | None"
    default: Any  # JSON-compatible; None when the field has no default
    optional: bool = False  # None is an accepted value
    choices: tuple[Any, ...] = ()  # for kind "choice"
    suggestions: tuple[str, ...] = ()  # completions for free text (activation names)
    group: str = "Other"
    doc: str = ""
    source: str = "dataclass"  # dataclass | signature | value | derived


@dataclass(frozen=True)
class ConfigSchema:
    """All fields of one config, in display order, with the class they came from."""

    model_type: str | None
    config_class: str | None
    fields: tuple[FieldSpec, ...]
    attribute_map: dict[str, str] = dataclasses.field(default_factory=dict)

    def get(self, name: str) -> FieldSpec | None:
        """The field called `name` (after attribute_map aliasing), or None."""
        name = self.attribute_map.get(name, name)
        return next((f for f in self.fields if f.name == name), None)

    def grouped(self) -> dict[str, list[FieldSpec]]:
        """Fields by group, groups in GROUPS order, empty groups left out."""
        out: dict[str, list[FieldSpec]] = {g: [] for g in GROUPS}
        for f in self.fields:
            out[f.group].append(f)
        return {g: fs for g, fs in out.items() if fs}

    def defaults(self) -> dict[str, Any]:
        return {f.name: f.default for f in self.fields}


def config_class_for(model_type: str | None):
    """The transformers config class registered for `model_type`, or None."""
    if not model_type:
        return None
    from transformers import CONFIG_MAPPING

    try:
        return CONFIG_MAPPING[model_type]
    except KeyError:
        return None


def schema_for(values: dict[str, Any]) -> ConfigSchema:
    """The schema of a config dict: from its class when transformers knows the model_type."""
    model_type = values.get("model_type")
    cls = config_class_for(model_type)
    specs = class_fields(cls) if cls is not None else []
    attribute_map = dict(getattr(cls, "attribute_map", {}) or {}) if cls else {}
    known = {s.name for s in specs}
    if cls is not None and "num_labels" not in known:
        specs.append(FieldSpec("num_labels", "int", "int", 2, group="Architecture",
                               doc=GENERIC_DOCS["num_labels"], source="derived"))
        known.add("num_labels")
    for key, value in values.items():
        key = attribute_map.get(key, key)
        if key in known or key in HIDDEN_KEYS or key.startswith("_"):
            continue
        specs.append(spec_from_value(key, value))
        known.add(key)
    if "output_attentions" not in known and cls is not None:
        specs.append(FieldSpec("output_attentions", "bool", "bool", False, group="Advanced",
                               doc=GENERIC_DOCS["output_attentions"], source="derived"))
    return ConfigSchema(model_type, cls.__name__ if cls else None, tuple(specs), attribute_map)


def class_fields(cls) -> list[FieldSpec]:
    """Fields of a config class: dataclass fields + type hints, else the __init__ signature."""
    try:
        return list(_class_fields(cls))
    except TypeError:  # an unhashable class object: nothing to cache it by
        return list(_class_fields.__wrapped__(cls))


@functools.lru_cache(maxsize=128)
def _class_fields(cls) -> tuple[FieldSpec, ...]:
    # Per class, not per call: type hints and docstrings of a transformers config class take
    # 5-20 ms to read, and the editor and New Model dialog ask again on every family switch.
    docs = class_docs(cls)
    specs: list[FieldSpec] = []
    if dataclasses.is_dataclass(cls):
        hints = _type_hints(cls)
        for f in dataclasses.fields(cls):
            if f.name in HIDDEN_KEYS or f.name.startswith("_") or not f.init:
                continue
            default = _field_default(f)
            tp = hints.get(f.name, f.type)
            specs.append(_spec(f.name, tp, default, docs.get(f.name, ""), "dataclass"))
    else:
        try:
            params = inspect.signature(cls.__init__).parameters.values()
        except (TypeError, ValueError):
            params = []
        for p in params:
            if p.name == "self" or p.kind in (p.VAR_KEYWORD, p.VAR_POSITIONAL):
                continue
            if p.name in HIDDEN_KEYS or p.name.startswith("_"):
                continue
            default = None if p.default is inspect.Parameter.empty else p.default
            tp = p.annotation if p.annotation is not inspect.Parameter.empty else None
            specs.append(_spec(p.name, tp, default, docs.get(p.name, ""), "signature"))
    return tuple(specs)


def spec_from_value(name: str, value: Any) -> FieldSpec:
    """A field known only from a stored value (unknown model types, extra config.json keys)."""
    if isinstance(value, bool):
        kind = "bool"
    elif isinstance(value, int):
        kind = "int"
    elif isinstance(value, float):
        kind = "float"
    elif isinstance(value, str):
        kind = "str"
    else:
        kind = "json"
    type_text = type(value).__name__ if value is not None else "any"
    doc = GENERIC_DOCS.get(name, "Not declared by the config class; kept as stored.")
    return FieldSpec(name, kind, type_text, jsonable(value),
                     optional=value is None or kind == "json", suggestions=_suggestions(name),
                     group=group_for(name), doc=doc, source="value")


def _spec(name: str, tp: Any, default: Any, doc: str, source: str) -> FieldSpec:
    if tp is None or isinstance(tp, str):
        kind, optional, choices, text = _kind_from_text(tp, default)
    else:
        kind, optional, choices = _kind_from_type(tp)
        text = _type_text(tp)
    if default is None:
        optional = True
    return FieldSpec(name, kind, text, jsonable(default), optional, choices, _suggestions(name),
                     group_for(name), doc or GENERIC_DOCS.get(name, ""), source)


def _type_hints(cls) -> dict[str, Any]:
    """Resolved annotations; transformers writes some as strings that mention torch."""
    try:
        import torch

        return typing.get_type_hints(cls, localns={"torch": torch})
    except Exception:  # an unresolvable forward reference: fall back to per-field text
        return {}


def _field_default(f: dataclasses.Field) -> Any:
    if f.default is not dataclasses.MISSING:
        return f.default
    if f.default_factory is not dataclasses.MISSING:
        try:
            return f.default_factory()
        except Exception:  # a factory that needs arguments: no usable default
            return None
    return None


def _kind_from_type(tp: Any) -> tuple[str, bool, tuple]:
    """(kind, optional, choices) for a resolved annotation; unknown types become JSON."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        rest = [a for a in args if a is not type(None)]
        optional = len(rest) < len(args)
        if len(rest) == 1:
            kind, _, choices = _kind_from_type(rest[0])
            return kind, optional, choices
        if set(rest) <= {int, float}:
            return "float", optional, ()
        if str in rest and all(not _is_container(a) for a in rest):
            return "str", optional, ()  # e.g. str | torch.dtype: written as text
        return "json", optional, ()
    if origin is typing.Literal:
        return "choice", False, tuple(typing.get_args(tp))
    if tp is bool:
        return "bool", False, ()
    if tp is int:
        return "int", False, ()
    if tp is float:
        return "float", False, ()
    if tp is str:
        return "str", False, ()
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return "choice", False, tuple(m.value for m in tp)
    return "json", False, ()


def _is_container(tp: Any) -> bool:
    origin = typing.get_origin(tp) or tp
    return origin in (list, dict, tuple, set) or (isinstance(origin, type) and not issubclass(
        origin, (str, int, float, bool)) and _looks_like_config(origin))


def _looks_like_config(cls: type) -> bool:
    return any(c.__name__ in ("PreTrainedConfig", "PretrainedConfig") for c in cls.__mro__)


def _kind_from_text(text: str | None, default: Any) -> tuple[str, bool, tuple, str]:
    """Best effort for annotations that could not be resolved: words first, then the default."""
    if not text:
        spec = spec_from_value("_", default)
        return spec.kind, default is None, (), spec.type_text
    parts = [p.strip() for p in text.replace("Optional[", "").rstrip("]").split("|")]
    optional = "None" in parts or "Optional[" in text
    parts = [p for p in parts if p != "None"]
    simple = {"bool": "bool", "int": "int", "float": "float", "str": "str"}
    if len(parts) == 1 and parts[0] in simple:
        return simple[parts[0]], optional, (), text
    if set(parts) <= {"int", "float"}:
        return "float", optional, (), text
    literal = re.match(r"Literal\[(.*)\]", parts[0]) if len(parts) == 1 else None
    if literal:
        choices = tuple(c.strip().strip("'\"") for c in literal.group(1).split(","))
        return "choice", optional, choices, text
    return "json", optional, (), text


def _type_text(tp: Any) -> str:
    text = str(tp) if not isinstance(tp, type) else tp.__name__
    text = re.sub(r"\b[\w.]+\.(\w+)", r"\1", text.replace("typing.", ""))
    return text.replace("NoneType", "None").replace("<class '", "").replace("'>", "")


def _suggestions(name: str) -> tuple[str, ...]:
    if name not in ACTIVATION_KEYS:
        return ()
    try:
        from transformers.activations import ACT2FN
    except ImportError:
        return ()
    names = tuple(ACT2FN)
    return names + (("gated-gelu", "gated-silu") if name == "feed_forward_proj" else ())


def group_for(name: str) -> str:
    """The form group of a field, from its name (configs share naming conventions)."""
    n = name.lower()
    if n in ADVANCED_KEYS:
        return "Advanced"
    if n.endswith(("token_id", "token_ids")) or n.endswith("_token"):
        return "Special tokens"
    if any(k in n for k in ("dropout", "pdrop", "layerdrop", "_eps", "epsilon")) or n == "eps":
        return "Regularisation"
    if any(k in n for k in ("rope", "rotary", "sliding", "window", "position_embedding_type",
                            "relative_attention", "alibi", "scale_attn", "attn_logit",
                            "attention_bias", "layer_types", "attention_type", "theta",
                            "_attn_", "qk_norm", "partial_rotary")):
        return "Attention and position encoding"
    if (any(k in n for k in ("vocab", "hidden_size", "layers", "heads", "intermediate",
                             "ffn", "positions", "position_embeddings", "embd", "embedding_size",
                             "num_labels", "head_dim", "tie_word"))
            or n in ("d_model", "d_ff", "d_kv", "n_inner", "n_layer", "n_head", "n_embd", "dim",
                     "hidden_dim", "n_layers", "n_heads", "n_ctx")
            or n in ACTIVATION_KEYS):
        return "Architecture"
    return "Other"


def class_docs(cls) -> dict[str, str]:
    """Argument descriptions from the Args: sections of the class docstrings (MRO order)."""
    docs: dict[str, str] = {}
    for klass in getattr(cls, "__mro__", ()):
        for name, text in parse_args_doc(klass.__dict__.get("__doc__") or "").items():
            docs.setdefault(name, text)
    return docs


def parse_args_doc(doc: str) -> dict[str, str]:
    """`name (type, *optional*): text` blocks of a Google-style docstring -> {name: text}."""
    out: dict[str, str] = {}
    name, indent, lines = None, 0, []
    for line in inspect.cleandoc(doc).splitlines():
        m = _ARG_LINE.match(line)
        if m and (name is None or len(m.group(1)) <= indent):
            if name:
                out[name] = " ".join(lines).strip()
            name, indent, lines = m.group(2), len(m.group(1)), [f"({m.group(3)})"]
        elif name and (not line.strip() or len(line) - len(line.lstrip()) > indent):
            lines.append(line.strip())
        elif name:
            out[name] = " ".join(lines).strip()
            name, lines = None, []
    if name:
        out[name] = " ".join(lines).strip()
    return {k: re.sub(r"\s+", " ", v.replace("`", "")) for k, v in out.items()}


def jsonable(value: Any) -> Any:
    """A JSON-compatible copy of a config value (dtypes, enums and sub-configs included)."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, dict):
        return {str(k) if not isinstance(k, int) else k: jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set):
        return [jsonable(v) for v in value]
    if isinstance(value, enum.Enum):
        return value.value
    if hasattr(value, "to_dict"):
        return jsonable(value.to_dict())
    return str(value).removeprefix("torch.")


def effective_values(values: dict[str, Any], schema: ConfigSchema) -> dict[str, Any]:
    """Every schema field's value as the form shows it: stored value, else the default."""
    out: dict[str, Any] = {}
    for f in schema.fields:
        if f.name == "num_labels" and f.source == "derived":
            id2label = values.get("id2label")
            counted = len(id2label) if isinstance(id2label, dict | list) and id2label else None
            out[f.name] = values.get("num_labels", counted or f.default)
        else:
            out[f.name] = jsonable(values[f.name]) if f.name in values else f.default
    return out


def with_edit(values: dict[str, Any], name: str, value: Any) -> dict[str, Any]:
    """A copy of the config dict with one field set (num_labels rewrites the label maps)."""
    out = dict(values)
    if name == "num_labels" and isinstance(value, int) and not isinstance(value, bool):
        from workbench.core.model.limits import check_structure

        check_structure({"num_labels": value})  # one map entry per label: bound it first
        out.pop("num_labels", None)
        out["id2label"] = {str(i): f"LABEL_{i}" for i in range(max(value, 0))}
        out["label2id"] = {f"LABEL_{i}": i for i in range(max(value, 0))}
        return out
    out[name] = value
    return out


def to_json_text(value: Any, indent: int | None = None) -> str:
    """A value as JSON text for the JSON editors."""
    return json.dumps(jsonable(value), indent=indent, ensure_ascii=False)
