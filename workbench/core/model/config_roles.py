"""Which config field is the hidden size, the head count, the layer count...: one answer for all.

transformers standardises these roles under PretrainedConfig's names (`hidden_size`,
`num_attention_heads`, ...) and every config class maps its own field names onto them through
`attribute_map` (GPT-2 `n_embd` -> `hidden_size`, T5 `d_kv` -> `head_dim`), so a config object
answers `config.hidden_size` whatever its family calls the field. This module asks the config
(or, for a plain dict, its transformers class) and only falls back to the dict's canonical
names where transformers has no class for the model type. The few facts transformers does not
standardise (the MLP width, the decoder side of encoder-decoder models) are special cases
here, each with its reason.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any, Literal

Role = Literal["hidden", "heads", "kv_heads", "head_dim", "layers", "vocab", "max_positions",
               "intermediate"]

# Role -> the name PretrainedConfig standardises (what `attribute_map` keys are).
ROLE_ATTRIBUTES: dict[str, str] = {
    "hidden": "hidden_size", "heads": "num_attention_heads", "kv_heads": "num_key_value_heads",
    "head_dim": "head_dim", "layers": "num_hidden_layers", "vocab": "vocab_size",
    "max_positions": "max_position_embeddings", "intermediate": "intermediate_size",
}

# Special case: PretrainedConfig has no standard name for the MLP width, so most families that
# call it something else (T5 `d_ff`, GPT-2 `n_inner`, BART `encoder_ffn_dim`, OPT `ffn_dim`,
# DistilBERT `hidden_dim`) declare no alias for it; attribute_map covers only those that do.
_UNALIASED_INTERMEDIATE = ("d_ff", "n_inner", "encoder_ffn_dim", "ffn_dim", "hidden_dim")

# Special case: encoder-decoder families alias the *encoder's* sizes (BART `encoder_layers` ->
# `num_hidden_layers`); the decoder keeps its own fields, which no attribute_map names.
DECODER_FIELDS: dict[str, tuple[str, ...]] = {
    "heads": ("decoder_attention_heads", "decoder_num_attention_heads"),
    "layers": ("decoder_layers", "num_decoder_layers"),
    "intermediate": ("decoder_ffn_dim",),
}


def config_class(model_type: str | None) -> type | None:
    """The transformers config class of a model type, or None when transformers has none."""
    if not model_type:
        return None
    from transformers import CONFIG_MAPPING

    try:
        return CONFIG_MAPPING[model_type]
    except (KeyError, ValueError):
        return None


def _attribute_map(cls: type | None) -> dict[str, str]:
    return dict(getattr(cls, "attribute_map", None) or {})


def role_field(values: Mapping[str, Any], role: str, cls: type | None = None) -> str | None:
    """The name of the field in `values` that holds `role` (e.g. 'n_embd' for GPT-2's hidden)."""
    if cls is None:
        cls = config_class(values.get("model_type"))
    standard = ROLE_ATTRIBUTES[role]
    stored = _attribute_map(cls).get(standard, standard)
    candidates = (stored, standard) + (_UNALIASED_INTERMEDIATE if role == "intermediate" else ())
    return next((name for name in candidates if values.get(name) is not None), None)


def decoder_fields(values: Mapping[str, Any], role: str) -> tuple[str, ...]:
    """Decoder-side fields of `role` present in `values` (empty for encoder- or decoder-only)."""
    return tuple(n for n in DECODER_FIELDS.get(role, ()) if values.get(n) is not None)


def role_fields(values: Mapping[str, Any], cls: type | None = None) -> dict[str, str]:
    """{field name: role} for every role field present in `values`, decoder sides included."""
    out: dict[str, str] = {}
    for role in ROLE_ATTRIBUTES:
        name = role_field(values, role, cls)
        if name is not None:
            out[name] = role
        out.update(dict.fromkeys(decoder_fields(values, role), role))
    return out


def head_dim_is_independent(values_or_config: Any) -> bool:  # a dict, config or config class
    """True when the family sizes its heads with a field of its own (T5 `d_kv`, JetMoE
    `kv_channels`): attention projects to heads x head_dim and back, by design, so the hidden
    size need not be divisible by the head count nor equal heads x head_dim."""
    cls = _class_of(values_or_config)
    return "head_dim" in _attribute_map(cls)


def _class_of(values_or_config: Any) -> type | None:
    if isinstance(values_or_config, type):
        return values_or_config
    if isinstance(values_or_config, Mapping):
        return config_class(values_or_config.get("model_type"))
    return type(values_or_config)


def _positive_int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None


def role_value(config: Any, role: str) -> int | None:
    """A role's value, read from a transformers config object (aliases resolved) or a dict.

    A dict is turned into its transformers config class first; only when transformers has no
    class (or refuses the values) is the dict read by the role's standard and known names.
    """
    if isinstance(config, Mapping):
        built = _try_config(config)
        if built is None:
            name = role_field(config, role, cls=None)
            return _positive_int(config.get(name)) if name else None
        config = built
    value = _positive_int(getattr(config, ROLE_ATTRIBUTES[role], None))
    if value is None and role == "intermediate":
        value = next((v for n in _UNALIASED_INTERMEDIATE
                      if (v := _positive_int(getattr(config, n, None))) is not None), None)
    return value


def _try_config(values: Mapping[str, Any]) -> Any:
    cls = config_class(values.get("model_type"))
    if cls is None:
        return None
    try:
        return cls.from_dict(dict(values))
    except Exception:  # an invalid dict: read it raw rather than fail a size question
        return None


def decoder_value(config: Any, role: str) -> int | None:
    """The decoder side of `role` for encoder-decoder configs, else the role's value."""
    for name in DECODER_FIELDS.get(role, ()):
        raw = config.get(name) if isinstance(config, Mapping) else getattr(config, name, None)
        if (value := _positive_int(raw)) is not None:
            return value
    return role_value(config, role)


@dataclass(frozen=True)
class ConfigSizes:
    """The sizes a config describes; None where the config does not say (never a guess)."""

    hidden: int | None
    heads: int | None
    kv_heads: int | None
    head_dim: int | None
    layers: int | None
    vocab: int | None
    max_positions: int | None
    intermediate: int | None

    def to_json(self) -> dict:
        return asdict(self)


def config_sizes(config: Any) -> ConfigSizes:
    """All roles of a config object (or dict); head_dim and kv_heads derived where implied."""
    if isinstance(config, Mapping):
        config = _try_config(config) or config
    values = {role: role_value(config, role) for role in ROLE_ATTRIBUTES}
    hidden, heads = values["hidden"], values["heads"]
    if values["head_dim"] is None and hidden and heads and hidden % heads == 0:
        values["head_dim"] = hidden // heads  # what the attention modules compute
    if values["kv_heads"] is None:
        values["kv_heads"] = heads  # no grouped-query field: every head has its own keys
    return ConfigSizes(**values)
