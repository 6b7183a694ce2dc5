"""Every validation rule, with real transformers configs as the final judge."""

from __future__ import annotations

import pytest

from workbench.core.config.rules import (
    check_field,
    library_check,
    parse_assignments,
    parse_value,
    validate,
)
from workbench.core.config.schema import schema_for
from workbench.core.errors import InvalidConfigError, WorkbenchError

LLAMA = {"model_type": "llama", "hidden_size": 128, "num_attention_heads": 8,
         "num_key_value_heads": 2, "intermediate_size": 256, "num_hidden_layers": 2,
         "vocab_size": 1000, "bos_token_id": 1, "eos_token_id": 2}


def issues(values, **kw):
    return validate(values, schema_for(values), **kw).issues


def messages_for(values, name, **kw):
    return [i.message for i in issues(values, **kw) if i.field == name]


def test_a_valid_config_has_no_issues_and_builds():
    assert issues(LLAMA) == ()
    model, lib = library_check(LLAMA, schema_for(LLAMA))
    assert lib == [] and type(model).__name__ == "LlamaModel"


@pytest.mark.parametrize(("name", "value", "needle"), [
    ("hidden_size", "abc", "whole number"),
    ("hidden_size", 12.0, "write 12"),
    ("use_cache", "yes", "true or false"),
    ("rms_norm_eps", "small", "number such as"),
    ("hidden_act", 3, "must be text"),
    ("problem_type", "ranking", "must be one of"),
    ("vocab_size", None, "cannot be empty"),
])
def test_type_errors_name_the_field(name, value, needle):
    spec = schema_for(LLAMA).get(name)
    found = check_field(spec, value)
    assert len(found) == 1 and found[0].field == name and needle in found[0].message
    assert found[0].severity == "error"


@pytest.mark.parametrize(("name", "value"), [
    ("num_hidden_layers", 0), ("vocab_size", -5), ("num_attention_heads", 0),
    ("attention_dropout", 1.5), ("attention_dropout", -0.1), ("rms_norm_eps", 0.0),
    ("initializer_range", -0.02), ("max_position_embeddings", 2**40),
])
def test_range_errors(name, value):
    values = {**LLAMA, name: value}
    assert messages_for(values, name), f"{name}={value} should be rejected"


def test_optional_fields_accept_none():
    spec = schema_for(LLAMA).get("num_key_value_heads")
    assert check_field(spec, None) == []


def test_hidden_size_divisible_by_heads_with_fixes_that_work():
    values = {**LLAMA, "hidden_size": 100, "num_attention_heads": 12, "num_key_value_heads": 4}
    [msg] = messages_for(values, "hidden_size")
    assert "not divisible by num_attention_heads (12)" in msg
    # the suggested divisors really divide 100 and the suggested sizes are multiples of 12
    assert "divisor such as 4, 5, 10" in msg and "hidden_size to 96 or 108" in msg
    assert all(100 % d == 0 for d in (4, 5, 10)) and 96 % 12 == 0 and 108 % 12 == 0
    by_heads = validate(values, schema_for(values)).for_field("num_attention_heads")
    assert by_heads, "the error is also shown next to the other field"


def test_divisibility_uses_each_family_names():
    gpt2 = {"model_type": "gpt2", "n_embd": 100, "n_head": 3}
    assert "n_embd (100) is not divisible by n_head (3)" in messages_for(gpt2, "n_embd")[0]
    bart = {"model_type": "bart", "d_model": 64, "encoder_attention_heads": 4,
            "decoder_attention_heads": 5}
    [msg] = messages_for(bart, "d_model")
    assert "decoder_attention_heads (5)" in msg
    t5 = {"model_type": "t5", "d_model": 100, "num_heads": 3, "d_kv": 32}
    assert issues(t5) == ()  # T5 sizes heads with d_kv: no divisibility needed


def test_heads_divisible_by_kv_heads():
    values = {**LLAMA, "num_key_value_heads": 3}
    [msg] = messages_for(values, "num_key_value_heads")
    assert "num_attention_heads (8) is not divisible by num_key_value_heads (3)" in msg
    assert "Set num_key_value_heads to 1, 2, 4" in msg
    values = {**LLAMA, "num_key_value_heads": 16}
    assert "cannot exceed" in messages_for(values, "num_key_value_heads")[0]


def test_head_dim_consistency_and_rotary_parity():
    values = {**LLAMA, "head_dim": 32}
    [issue] = [i for i in issues(values) if i.field == "head_dim"]
    assert issue.severity == "warning" and "(32) x num_attention_heads (8) = 256" in issue.message
    odd = {**LLAMA, "hidden_size": 120, "num_attention_heads": 8,
           "rope_parameters": {"rope_type": "default", "rope_theta": 10000.0}}
    assert any("rotary" in m for m in messages_for(odd, "hidden_size"))


@pytest.mark.parametrize("model_type", ["gptj", "codegen"])
def test_a_rotary_part_larger_than_the_head_is_an_error(model_type):
    """GPT-J and CodeGen rotate the first rotary_dim dimensions of each head; more than the
    head holds and the model fails on its first input (a size mismatch inside its code)."""
    values = {"model_type": model_type, "n_embd": 64, "n_head": 4, "n_layer": 1,
              "vocab_size": 100, "rotary_dim": 64}
    [message] = messages_for(values, "rotary_dim")
    assert message.startswith("rotary_dim (64) is larger than the head size (16)")
    assert not messages_for({**values, "rotary_dim": 16}, "rotary_dim")


def test_expert_routing_the_model_cannot_run_is_an_error():
    """Each of these fails inside the model's code on its first input (measured)."""
    mixtral = {"model_type": "mixtral", "hidden_size": 64, "num_attention_heads": 4,
               "num_local_experts": 2, "num_experts_per_tok": 4}
    assert "exceeds num_local_experts (2)" in messages_for(mixtral, "num_experts_per_tok")[0]
    assert not messages_for({**mixtral, "num_experts_per_tok": 2}, "num_experts_per_tok")
    deepseek = {"model_type": "deepseek_v3", "n_routed_experts": 8, "n_group": 8,
                "topk_group": 4, "num_experts_per_tok": 2}
    [message] = messages_for(deepseek, "n_group")
    assert "equal groups of at least 2 experts" in message and "Set n_group to 1, 2, 4." in message
    assert not messages_for({**deepseek, "n_group": 4, "topk_group": 2}, "n_group")
    assert messages_for({**deepseek, "n_group": 4, "topk_group": 5}, "topk_group")


def test_token_ids_inside_the_vocabulary():
    values = {**LLAMA, "pad_token_id": 1000, "eos_token_id": [2, 5000], "bos_token_id": -1}
    assert "outside the vocabulary (vocab_size = 1000, ids 0..999)" in \
        messages_for(values, "pad_token_id")[0]
    assert "Set vocab_size to at least 5001" in messages_for(values, "eos_token_id")[0]
    assert "negative" in messages_for(values, "bos_token_id")[0]


def test_tokenizer_larger_than_vocab():
    [msg] = messages_for(LLAMA, "vocab_size", tokenizer_vocab_size=30522)
    assert "tokenizer has 30,522 tokens" in msg and "at least 30,522" in msg
    assert not messages_for(LLAMA, "vocab_size", tokenizer_vocab_size=800)


def test_sliding_window_longer_than_positions_is_a_warning():
    values = {"model_type": "mistral", "sliding_window": 8192, "max_position_embeddings": 2048}
    [issue] = [i for i in issues(values) if i.field == "sliding_window"]
    assert issue.severity == "warning"


def test_the_library_has_the_final_word():
    values = {**LLAMA, "hidden_act": "not_an_activation"}
    result = validate(values, schema_for(values))
    assert result.ok  # only a warning from the fast rules...
    model, lib = library_check(values, schema_for(values))
    assert model is None and lib[0].severity == "error"  # ...but transformers cannot build it
    assert lib[0].field == "hidden_act" and "transformers rejects" in lib[0].message
    rope = {**LLAMA, "rope_parameters": {"rope_type": "linear", "rope_theta": 10000.0}}
    _model, lib = library_check(rope, schema_for(rope))
    assert lib[0].field == "rope_parameters" and "factor" in lib[0].message


def test_unknown_model_type_is_a_warning_not_an_error():
    values = {"model_type": "my_own_net", "width": 3}
    model, lib = library_check(values, schema_for(values))
    assert model is None and lib[0].severity == "warning" and "my_own_net" in lib[0].message


def test_parse_values_like_the_command_line():
    s = schema_for({"model_type": "llama"})
    got = parse_assignments(['rope_scaling={"type":"linear","factor":2}', "hidden_act=gelu",
                             "num_hidden_layers=3", "pad_token_id=null", "rms_norm_eps=1",
                             "use_cache=false", "eos_token_id=[2,3]"], s)
    assert got == {"rope_scaling": {"type": "linear", "factor": 2}, "hidden_act": "gelu",
                   "num_hidden_layers": 3, "pad_token_id": None, "rms_norm_eps": 1.0,
                   "use_cache": False, "eos_token_id": [2, 3]}
    assert isinstance(got["rms_norm_eps"], float)
    assert parse_value(s.get("hidden_act"), "123") == "123"  # a string field keeps text
    gpt2 = schema_for({"model_type": "gpt2"})
    assert parse_assignments(["hidden_size=64"], gpt2) == {"n_embd": 64}  # attribute_map
    with pytest.raises(WorkbenchError, match="not valid JSON"):
        parse_value(s.get("rope_parameters"), "{type: linear")
    with pytest.raises(InvalidConfigError, match="key=value"):
        parse_assignments(["num_hidden_layers"], s)


def test_raise_if_errors_lists_every_error():
    values = {**LLAMA, "num_hidden_layers": 0, "num_key_value_heads": 3}
    with pytest.raises(InvalidConfigError, match=r"2 problem\(s\)") as info:
        validate(values, schema_for(values)).raise_if_errors()
    assert "num_hidden_layers must be at least 1" in str(info.value)


# -- what transformers itself writes is valid (issue 10, item 4) ---------------------------------
@pytest.mark.parametrize("config_class", ["DebertaV2Config", "Qwen2MoeConfig", "Mamba2Config"])
def test_configs_as_transformers_writes_them_are_accepted(config_class):
    import transformers

    kwargs = {"Mamba2Config": {"time_step_rank": 4}}.get(config_class, {})
    values = getattr(transformers, config_class)(**kwargs).to_dict()
    assert not [i.message for i in issues(values) if i.severity == "error"]


def test_zero_sizes_only_where_transformers_means_them():
    assert messages_for({"model_type": "deberta-v2", "type_vocab_size": 0}, "type_vocab_size") \
        == []
    assert messages_for({"model_type": "bert", "type_vocab_size": 0}, "type_vocab_size")
    off = {"model_type": "qwen2_moe", "sliding_window": 0, "use_sliding_window": False}
    assert messages_for(off, "sliding_window") == []
    assert messages_for({**off, "use_sliding_window": True}, "sliding_window")


def test_str_or_int_fields_take_both():
    schema = schema_for({"model_type": "mamba2"})
    spec = schema.get("time_step_rank")
    assert parse_value(spec, "4") == 4 and parse_value(spec, "auto") == "auto"
    assert check_field(spec, 4) == [] and check_field(spec, "auto") == []
    [issue] = check_field(spec, 4.5)
    assert "text or a whole number" in issue.message
