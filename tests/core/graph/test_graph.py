"""The folded layer graph and the traced block dataflow, on tiny real models."""

from __future__ import annotations

import json

import pytest

from workbench.core.checkpoint.inspection import inspect_checkpoint
from workbench.core.graph.dataflow import graph_report, trace_config
from workbench.core.graph.folding import build_graph, count_nodes, find_node, instance
from workbench.core.graph.layout import (
    all_expandable_keys,
    default_expanded,
    layout_dataflow,
    layout_graph,
)
from workbench.core.model import architecture as arch


@pytest.fixture(scope="module")
def infos(tiny_models):
    return {family: inspect_checkpoint(path) for family, path in tiny_models.items()}


@pytest.fixture(scope="module")
def traces(infos):
    return {family: trace_config(info.config) for family, info in infos.items()}


def _folds(root):
    return [n for n in root.walk() if n.repeat > 1]


def test_two_layer_llama_folds_into_one_group(infos):
    root = build_graph(infos["llama"].module_tree)
    folds = _folds(root)
    assert len(folds) == 1
    layers = folds[0]
    assert (layers.name, layers.class_name, layers.repeat) == ("layers", "LlamaDecoderLayer", 2)
    assert layers.instances == ("model.layers.0", "model.layers.1")
    tree_layers = infos["llama"].module_tree.find("model.layers")
    assert layers.num_parameters == tree_layers.num_parameters
    assert layers.each_parameters == tree_layers.children[0].num_parameters
    box = layout_graph(root, default_expanded(root)).box("model.layers")  # what a user sees
    assert box.title == "layers: LlamaDecoderLayer × 2" and not box.expanded


def test_layers_that_differ_do_not_fold(infos):
    import torch

    cfg = arch.config_from_dict(infos["llama"].config)
    model = arch.build_meta_model(cfg)
    with torch.device("meta"):  # make layer 1's MLP wider than layer 0's
        model.model.layers[1].mlp.up_proj = torch.nn.Linear(32, 96, bias=False)
    root = build_graph(arch.module_tree(model))
    assert _folds(root) == []
    layers = find_node(root, "model.layers")
    assert [c.name for c in layers.children] == ["0", "1"]


def test_t5_first_block_differs_by_its_position_bias(infos):
    root = build_graph(infos["t5"].module_tree)
    encoder_blocks = find_node(root, "encoder.block")
    assert [c.repeat for c in encoder_blocks.children] == [1, 1]  # block 0 owns the bias table


def test_instances_and_find_node_unfold_paths(infos):
    root = build_graph(infos["llama"].module_tree)
    layers = find_node(root, "model.layers")
    second = instance(layers, 1)
    assert second.path == "model.layers.1" and second.repeat == 1
    assert {c.path for c in second.children} >= {"model.layers.1.self_attn",
                                                 "model.layers.1.mlp"}
    q = find_node(root, "model.layers.1.self_attn.q_proj")
    assert q is not None and q.params[0].shape == (32, 32)
    assert count_nodes(root, unfold=True) > count_nodes(root)


def test_kinds_for_colouring(infos):
    root = build_graph(infos["llama"].module_tree)
    kinds = {n.path: n.kind for n in root.walk()}
    assert kinds["model.embed_tokens"] == "embedding"
    assert kinds["model.norm"] == "norm"
    assert kinds["lm_head"] == "head"
    assert kinds["model.layers.0.self_attn"] == "attention"
    assert kinds["model.layers.0.mlp"] == "mlp"
    assert kinds["model.layers"] == "block"


def _order(flow, *kinds):
    return [next(n.id for n in flow.nodes if n.kind == k) for k in kinds]


@pytest.mark.parametrize("family", ["bert", "gpt2", "llama", "t5", "bart"])
def test_dataflow_has_residual_bypasses_and_attention_before_mlp(traces, family):
    trace = traces[family]
    assert trace.error is None, trace.error
    flow = trace.blocks[0]
    kinds = [n.kind for n in flow.nodes]
    assert kinds[0] == "input" and kinds[-1] == "output"
    attention, mlp = _order(flow, "attention", "mlp")
    assert attention < mlp
    adds = [n.id for n in flow.nodes if n.kind == "op" and n.name == "add"]
    residual = [e for e in flow.edges if e.kind == "residual"]
    assert len(adds) >= 2 and len(residual) >= 2
    # the first residual carries the block input (pre-norm) or goes around attention (post-norm)
    first = min(residual, key=lambda e: e.target)
    assert first.source < attention < first.target
    second = max(residual, key=lambda e: e.target)
    assert second.source < mlp < second.target
    # every edge points forward in call order
    assert all(e.source < e.target for e in flow.edges)


def test_dataflow_orders_norms_as_the_code_does(traces):
    llama = [n.kind for n in traces["llama"].blocks[0].nodes]
    assert llama == ["input", "norm", "attention", "op", "norm", "mlp", "op", "output"]
    bert = [n.kind for n in traces["bert"].blocks[0].nodes if n.kind in ("attention", "op",
                                                                          "norm", "mlp")]
    assert bert[:3] == ["attention", "op", "norm"]  # post-norm: add, then LayerNorm


def test_attention_and_mlp_annotations(traces):
    nodes = {n.kind: n for n in traces["llama"].blocks[0].nodes}
    assert nodes["attention"].attrs == {"heads": 4, "kv_heads": 2, "head_dim": 8}
    assert nodes["mlp"].attrs["inner_size"] == 64
    assert "SiLU" in nodes["mlp"].attrs["activation"]
    assert nodes["attention"].output_shape == (1, 16, 32)


def test_decoder_cross_attention_reads_the_encoder(traces, infos):
    for family in ("t5", "bart"):
        blocks = {b.block: b for b in traces[family].blocks}
        decoder = next(b for path, b in blocks.items() if "decoder" in path)
        cross = [e for e in decoder.edges if e.kind == "cross"]
        assert cross, family
        target = decoder.nodes[cross[0].target]
        assert target.kind == "attention" and target.attrs.get("cross")
        assert decoder.nodes[cross[0].source].name == "encoder_hidden_states"
    root = graph_report(infos["bart"].module_tree, infos["bart"].config).root
    assert find_node(root, "model.decoder.layers").reads_from == "model.encoder"
    lay = layout_graph(root, default_expanded(root))
    assert any(link.kind == "cross" for link in lay.links)


def test_trace_gives_output_shapes_and_call_order(infos):
    report = graph_report(infos["llama"].module_tree, infos["llama"].config, seq_len=5)
    model = find_node(report.root, "model")
    assert [c.name for c in model.children][:3] == ["embed_tokens", "rotary_emb", "layers"]
    assert find_node(report.root, "lm_head").output_shape == (1, 5, 120)


def test_without_config_the_hierarchy_stays_and_says_why(infos):
    report = graph_report(infos["llama"].module_tree, None)
    assert report.trace.blocks == () and "config" in report.trace.error
    assert _folds(report.root)


def test_json_shape(infos):
    data = json.loads(json.dumps(graph_report(infos["gpt2"].module_tree,
                                              infos["gpt2"].config).to_json()))
    tree = data["tree"]
    assert {"name", "class", "num_parameters", "repeat", "children"} <= set(tree)
    fold = next(n for n in _walk_json(tree) if n["repeat"] > 1)
    assert fold["class"] == "GPT2Block" and fold["repeat"] == 2
    flow = data["dataflow"]
    assert {"nodes", "edges"} <= set(flow)
    assert {"id", "name", "kind"} <= set(flow["nodes"][0])
    assert {"source", "target", "kind"} <= set(flow["edges"][0])


def _walk_json(node):
    yield node
    for c in node["children"]:
        yield from _walk_json(c)


def test_layouts_place_every_box_inside_its_parent(traces, infos):
    root = build_graph(infos["bart"].module_tree, traces["bart"].forward)
    lay = layout_graph(root, all_expandable_keys(root))
    by_key = {b.key: b for b in lay.boxes}
    for b in lay.boxes:
        parent = by_key.get(b.key.rsplit(".", 1)[0]) if "." in b.key else None
        if parent is not None and parent.expanded:
            assert parent.x <= b.x and b.x + b.w <= parent.x + parent.w + 1e-6
            assert parent.y <= b.y and b.y + b.h <= parent.y + parent.h + 1e-6
    flow = layout_dataflow(traces["bart"].blocks[1])
    assert any(link.kind == "residual" for link in flow.links)


@pytest.mark.parametrize("model_type", ["mixtral", "deberta-v2"])
def test_code_that_fake_tensors_cannot_run_is_traced_on_a_tiny_copy(model_type):
    from transformers import CONFIG_MAPPING

    # Mixtral's grouped expert matmul and DeBERTa's `.item()` fail on fake tensors.
    kv = {"num_key_value_heads": 2} if model_type == "mixtral" else {}
    config = CONFIG_MAPPING[model_type](hidden_size=64, num_attention_heads=4,
                                        intermediate_size=128, num_hidden_layers=3,
                                        vocab_size=300, **kv).to_dict()
    trace = trace_config(config)
    assert trace.error is None and "tiny copy" in trace.note
    flow = trace.blocks[0]
    assert sum(e.kind == "residual" for e in flow.edges) >= 2
    attention = next(n for n in flow.nodes if n.kind == "attention")
    assert attention.attrs["heads"] == 4 and attention.attrs["head_dim"] == 16  # the real model's
    assert all(n.output_shape is None for n in flow.nodes)  # the copy's shapes are not shown
