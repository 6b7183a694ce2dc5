"""Field extraction from real transformers config classes, and from values for unknown types."""

from __future__ import annotations

import pytest

from workbench.core.config.schema import (
    GROUPS,
    KINDS,
    class_fields,
    effective_values,
    parse_args_doc,
    schema_for,
    with_edit,
)
from workbench.core.model.architecture import read_config_dict

# model_type -> (a size field, its class default)
FAMILIES = {
    "bert": ("hidden_size", 768), "gpt2": ("n_embd", 768), "llama": ("hidden_size", 4096),
    "mistral": ("hidden_size", 4096), "qwen2": ("hidden_size", 4096), "t5": ("d_model", 512),
    "bart": ("d_model", 1024), "albert": ("hidden_size", 4096), "distilbert": ("dim", 768),
}


@pytest.mark.parametrize("model_type", sorted(FAMILIES))
def test_fields_come_from_the_config_class(model_type):
    from transformers import CONFIG_MAPPING

    schema = schema_for({"model_type": model_type})
    cls = CONFIG_MAPPING[model_type]
    assert schema.config_class == cls.__name__
    size_field, default = FAMILIES[model_type]
    spec = schema.get(size_field)
    assert spec is not None and spec.kind == "int" and spec.default == default
    assert spec.group == "Architecture" and spec.source == "dataclass"
    assert spec.doc, "tooltips come from the class docstring"
    assert {f.kind for f in schema.fields} <= set(KINDS)
    assert set(schema.grouped()) <= set(GROUPS)
    assert "Advanced" in schema.grouped() and "Architecture" in schema.grouped()
    vocab = schema.get("vocab_size")
    assert vocab.default == cls().vocab_size
    # every declared init field is in the form (nothing dropped), except bookkeeping ones
    import dataclasses

    declared = {f.name for f in dataclasses.fields(cls) if f.init and not f.name.startswith("_")}
    assert declared - {"transformers_version"} <= {f.name for f in schema.fields}


def test_widget_kinds_follow_the_annotations():
    s = schema_for({"model_type": "llama"})
    assert s.get("use_cache").kind == "bool"
    assert s.get("vocab_size").kind == "int"
    assert s.get("attention_dropout").kind == "float"  # int | float | None
    assert s.get("attention_dropout").optional
    assert s.get("rms_norm_eps").kind == "float"
    assert s.get("hidden_act").kind == "str" and "silu" in s.get("hidden_act").suggestions
    problem = s.get("problem_type")
    assert problem.kind == "choice" and "regression" in problem.choices and problem.optional
    assert s.get("eos_token_id").kind == "json"  # int | list[int]
    assert s.get("rope_parameters").kind == "json"  # a TypedDict sub-structure
    assert s.get("id2label").kind == "json" and s.get("id2label").group == "Advanced"
    assert s.get("num_key_value_heads").optional
    assert s.get("bos_token_id").group == "Special tokens"
    assert s.get("rope_parameters").group == "Attention and position encoding"
    assert s.get("attention_dropout").group == "Regularisation"


def test_attribute_map_aliases_resolve():
    s = schema_for({"model_type": "gpt2"})
    assert s.get("hidden_size").name == "n_embd"
    assert s.get("num_hidden_layers").name == "n_layer"


def test_sub_configs_are_kept_as_json():
    s = schema_for({"model_type": "clip"})
    for name in ("text_config", "vision_config"):
        assert s.get(name).kind == "json"


def test_extra_keys_of_a_real_config_are_never_dropped(minilm_path):
    values = read_config_dict(minilm_path)
    s = schema_for(values)
    for key in ("gradient_checkpointing", "position_embedding_type"):
        spec = s.get(key)
        assert spec is not None and spec.source == "value"
    assert s.get("position_embedding_type").kind == "str"
    shown = effective_values(values, s)
    assert shown["hidden_size"] == 384 and shown["num_hidden_layers"] == 6
    assert shown["bos_token_id"] is None  # absent from the file: the class default


def test_unknown_model_type_uses_value_types():
    values = {"model_type": "my_own_net", "width": 64, "ratio": 0.5, "act": "relu",
              "flag": True, "stages": [1, 2, 2], "extra": None}
    s = schema_for(values)
    assert s.config_class is None
    kinds = {f.name: f.kind for f in s.fields}
    assert kinds == {"width": "int", "ratio": "float", "act": "str", "flag": "bool",
                     "stages": "json", "extra": "json"}
    assert all(f.source == "value" for f in s.fields)


class OldStyleConfig:
    """A config written before dataclasses.

    Args:
        width (`int`, *optional*, defaults to 64):
            Width of every layer.
        dropout (`float`, *optional*, defaults to 0.1):
            Dropout probability.
        act (`str`):
            Activation.
    """

    def __init__(self, width: int = 64, dropout: float = 0.1, act="gelu", sizes=None, **kwargs):
        self.width = width


def test_signature_fallback_for_classes_that_are_not_dataclasses():
    specs = {s.name: s for s in class_fields(OldStyleConfig)}
    assert set(specs) == {"width", "dropout", "act", "sizes"}
    assert specs["width"].kind == "int" and specs["width"].default == 64
    assert specs["dropout"].kind == "float" and specs["dropout"].group == "Regularisation"
    assert specs["act"].kind == "str"  # no annotation: from the default's type
    assert specs["sizes"].kind == "json" and specs["sizes"].optional
    assert specs["width"].source == "signature"
    assert "Width of every layer" in specs["width"].doc


def test_docstring_args_parsing():
    docs = parse_args_doc(OldStyleConfig.__doc__)
    assert docs["dropout"] == "(float, *optional*, defaults to 0.1) Dropout probability."
    assert set(docs) == {"width", "dropout", "act"}


def test_num_labels_edit_rewrites_label_maps():
    values = {"model_type": "bert"}
    s = schema_for(values)
    assert effective_values(values, s)["num_labels"] == 2
    edited = with_edit(values, "num_labels", 4)
    assert effective_values(edited, s)["num_labels"] == 4
    assert edited["label2id"] == {"LABEL_0": 0, "LABEL_1": 1, "LABEL_2": 2, "LABEL_3": 3}
    assert values == {"model_type": "bert"}  # the original is not modified
