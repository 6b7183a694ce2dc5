"""Each distinct block is traced once; the report is the same as a trace of every layer."""

from __future__ import annotations

import contextlib

import pytest

from workbench.core.graph import repeats
from workbench.core.graph.dataflow import trace_config
from workbench.core.graph.folding import build_graph
from workbench.core.model.architecture import build_meta_model, config_from_dict, module_tree

TINY = {"hidden_size": 32, "num_attention_heads": 4, "intermediate_size": 64,
        "vocab_size": 100, "max_position_embeddings": 64}
CONFIGS = {
    "llama-80": {"model_type": "llama", **TINY, "num_hidden_layers": 80,
                 "num_key_value_heads": 2},
    # sliding / global alternation: two distinct kinds of layer with the same weights
    "gemma2-6": {"model_type": "gemma2", **TINY, "num_hidden_layers": 6,
                 "num_key_value_heads": 2, "head_dim": 8, "sliding_window": 8},
    # T5's first block owns the relative position bias: distinct from the others
    "t5-4": {"model_type": "t5", "d_model": 32, "d_kv": 8, "d_ff": 64, "num_layers": 4,
             "num_heads": 4, "vocab_size": 100, "decoder_start_token_id": 0},
}


def _report(values, monkeypatch, every_layer: bool):
    if every_layer:
        monkeypatch.setattr(repeats, "trace_distinct_blocks",
                            lambda _model: contextlib.nullcontext(set()))
    trace = trace_config(values)
    tree = module_tree(build_meta_model(config_from_dict(values)))
    monkeypatch.undo()
    return trace, build_graph(tree, trace.forward).to_json()


@pytest.mark.parametrize("name", CONFIGS)
def test_report_equals_a_trace_of_every_layer(name, monkeypatch):
    fast, fast_json = _report(CONFIGS[name], monkeypatch, every_layer=False)
    full, full_json = _report(CONFIGS[name], monkeypatch, every_layer=True)
    assert fast.error is None and fast_json == full_json
    assert [b.to_json() for b in fast.blocks] == [b.to_json() for b in full.blocks]
    assert fast.forward.shapes.keys() <= full.forward.shapes.keys()


def test_only_distinct_layers_run(monkeypatch):
    trace, _ = _report(CONFIGS["llama-80"], monkeypatch, every_layer=False)
    order = trace.forward.order  # of LlamaModel: no `architectures`, so the base model
    assert "layers.0.self_attn" in order and "norm" in order
    assert all(f"layers.{i}" in order for i in range(80))  # each layer still called ...
    assert not any(f"layers.{i}.self_attn" in order for i in range(1, 80))  # ... replayed

    trace, _ = _report(CONFIGS["gemma2-6"], monkeypatch, every_layer=False)
    order = trace.forward.order
    assert "layers.1.self_attn" in order  # the first global layer runs for real
    assert not any(f"layers.{i}.self_attn" in order for i in range(2, 6))


def test_block_key_ignores_the_layer_index_but_not_the_window():
    model = build_meta_model(config_from_dict(CONFIGS["gemma2-6"]))
    keys = [repeats.block_key(b) for b in model.layers]
    assert keys[0] == keys[2] == keys[4] and keys[1] == keys[3] == keys[5]
    assert keys[0] != keys[1]
    assert all("forward" not in vars(b) for b in model.layers)  # nothing left patched
