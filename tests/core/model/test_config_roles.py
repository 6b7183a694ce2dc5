"""Config roles come from transformers' own aliases, so every family is read the same way."""

from __future__ import annotations

import pytest
import transformers

from workbench.core.config.rules import validate
from workbench.core.config.schema import schema_for
from workbench.core.model.config_roles import (
    config_sizes,
    head_dim_is_independent,
    role_field,
    role_value,
)


@pytest.mark.parametrize(("values", "role", "field"), [
    ({"model_type": "gpt2", "n_embd": 64}, "hidden", "n_embd"),
    ({"model_type": "t5", "d_kv": 8}, "head_dim", "d_kv"),
    ({"model_type": "xlm", "emb_dim": 64}, "hidden", "emb_dim"),
    ({"model_type": "xglm", "attention_heads": 4}, "heads", "attention_heads"),
    ({"model_type": "dbrx", "max_seq_len": 16}, "max_positions", "max_seq_len"),
    ({"model_type": "bart", "encoder_ffn_dim": 77}, "intermediate", "encoder_ffn_dim"),
    ({"model_type": "no_such_family", "hidden_size": 8}, "hidden", "hidden_size"),
])
def test_role_field_follows_the_config_class(values, role, field):
    assert role_field(values, role) == field
    assert role_value(values, role) == values[field]


def test_sizes_of_config_objects_and_dicts_agree():
    kwargs = {"d_model": 64, "d_kv": 8, "num_heads": 4, "num_layers": 3, "d_ff": 99}
    from_object = config_sizes(transformers.T5Config(**kwargs))
    assert from_object == config_sizes({"model_type": "t5", **kwargs})
    assert (from_object.hidden, from_object.heads, from_object.head_dim, from_object.layers,
            from_object.intermediate) == (64, 4, 8, 3, 99)
    assert head_dim_is_independent(transformers.T5Config)
    assert not head_dim_is_independent({"model_type": "llama"})


def test_unknown_sizes_stay_unknown():
    sizes = config_sizes(transformers.MambaConfig(hidden_size=32, num_hidden_layers=2))
    assert sizes.heads is None and sizes.kv_heads is None and sizes.head_dim is None
    assert sizes.hidden == 32 and sizes.layers == 2
    assert config_sizes({"model_type": "no_such_family"}).hidden is None


def test_validator_checks_families_by_their_own_names():
    """XLM calls the hidden size emb_dim and the heads n_heads; XGLM says attention_heads."""
    xlm = {"model_type": "xlm", "emb_dim": 100, "n_heads": 3}
    result = validate(xlm, schema_for(xlm))
    assert any("emb_dim (100) is not divisible by n_heads (3)" in i.message
               for i in result.for_field("emb_dim"))
    xglm = {"model_type": "xglm", "attention_heads": 0}
    [issue] = validate(xglm, schema_for(xglm)).for_field("attention_heads")
    assert "attention_heads must be at least 1" in issue.message


def test_graph_fallback_shrinks_every_width_the_family_names():
    from workbench.core.graph.dataflow_fallback import tiny_config

    t5 = tiny_config(transformers.T5Config(d_model=512, d_kv=64, d_ff=2048, num_heads=8,
                                           num_layers=6, num_decoder_layers=6))
    assert (t5.d_model, t5.d_kv, t5.d_ff, t5.num_layers, t5.num_decoder_layers) == \
        (64, 8, 128, 2, 2)
    bart = tiny_config(transformers.BartConfig(d_model=256, encoder_attention_heads=4,
                                               decoder_attention_heads=4, encoder_ffn_dim=1024,
                                               decoder_ffn_dim=1024, encoder_layers=4,
                                               decoder_layers=4))
    assert (bart.encoder_ffn_dim, bart.decoder_ffn_dim, bart.decoder_layers) == (64, 64, 2)
