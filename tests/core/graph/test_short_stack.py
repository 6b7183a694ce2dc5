"""A stack of identical blocks traced from a short build gives the very trace of a full build."""

from __future__ import annotations

import pytest

from workbench.core.graph import short_stack
from workbench.core.graph.dataflow import trace_config
from workbench.core.graph.folding import build_graph
from workbench.core.model.architecture import build_meta_model, config_from_dict, module_tree

TINY = {"hidden_size": 32, "num_attention_heads": 4, "intermediate_size": 64,
        "vocab_size": 100, "max_position_embeddings": 64}
# name: (config, whether the short build may be used)
CONFIGS = {
    "llama-80": ({"model_type": "llama", **TINY, "num_hidden_layers": 80,
                  "num_key_value_heads": 2, "architectures": ["LlamaForCausalLM"]}, True),
    "mistral-sliding-9": ({"model_type": "mistral", **TINY, "num_hidden_layers": 9,
                           "num_key_value_heads": 2, "sliding_window": 8}, True),
    "gpt2-7": ({"model_type": "gpt2", "n_embd": 32, "n_head": 4, "n_layer": 7,
                "vocab_size": 100, "n_positions": 64}, True),
    "bert-8": ({"model_type": "bert", **TINY, "num_hidden_layers": 8,
                "architectures": ["BertForMaskedLM"]}, True),
    # sliding / global alternation in layer_types: the blocks differ, build them all
    "gemma2-8": ({"model_type": "gemma2", **TINY, "num_hidden_layers": 8,
                  "num_key_value_heads": 2, "head_dim": 8, "sliding_window": 8}, False),
    # dense first layers, MoE after: a per-layer count below N
    "deepseek-v3-first-k-dense-6": ({"model_type": "deepseek_v3", **TINY, "num_hidden_layers": 6,
                                     "num_key_value_heads": 4, "first_k_dense_replace": 5,
                                     "n_routed_experts": 4, "num_experts_per_tok": 2,
                                     "moe_intermediate_size": 16, "kv_lora_rank": 8,
                                     "q_lora_rank": 8, "qk_rope_head_dim": 4,
                                     "qk_nope_head_dim": 4, "v_head_dim": 8, "n_group": 1,
                                     "topk_group": 1}, False),
    # one dense layer among MoE ones, named by index
    "qwen2-moe-mlp-only-6": ({"model_type": "qwen2_moe", **TINY, "num_hidden_layers": 6,
                              "num_key_value_heads": 2, "num_experts": 4,
                              "num_experts_per_tok": 2, "moe_intermediate_size": 16,
                              "shared_expert_intermediate_size": 16,
                              "mlp_only_layers": [5]}, False),
}


@pytest.mark.parametrize("name", CONFIGS)
def test_short_build_gives_the_full_trace(name):
    values, shortened = CONFIGS[name]
    tree = module_tree(build_meta_model(config_from_dict(values)))
    plan = short_stack.short_config(values, config_from_dict(values), tree)
    assert (plan is not None) == shortened
    full = trace_config(values)
    short = trace_config(values, tree=tree)
    assert short.error == full.error and short.note == full.note
    assert full.error is None or not shortened  # (MoE kernels may not run on meta: no trace)
    if full.forward is not None:
        assert short.forward.order == full.forward.order  # every layer's call, same places
        assert short.forward.shapes == full.forward.shapes
    assert [b.to_json() for b in short.blocks] == [b.to_json() for b in full.blocks]
    assert build_graph(tree, short.forward) == build_graph(tree, full.forward)


def test_a_tree_whose_blocks_differ_is_built_in_full():
    values = CONFIGS["llama-80"][0]
    tree = module_tree(build_meta_model(config_from_dict({**values, "num_hidden_layers": 6})))
    # a tree of 6 blocks does not vouch for a config of 80
    assert short_stack.short_config(values, config_from_dict(values), tree) is None
    values6 = {**values, "num_hidden_layers": 6}
    layers = next(s for s in short_stack.stacks(tree))
    odd = layers.children[3].__class__(**{**vars(layers.children[3]), "class_name": "Other"})
    from dataclasses import replace

    bent = replace(layers, children=(*layers.children[:3], odd, *layers.children[4:]))
    model = replace(tree.children[0], children=tuple(bent if c.path == layers.path else c
                                                     for c in tree.children[0].children))
    bent_tree = replace(tree, children=(model, *tree.children[1:]))
    assert short_stack.short_config(values6, config_from_dict(values6), bent_tree) is None
