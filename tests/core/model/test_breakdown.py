"""Parameter breakdown (embeddings / blocks / head / other), buffers apart, memory rows."""

from __future__ import annotations

from workbench.core.checkpoint.inspection import inspect_checkpoint
from workbench.core.checkpoint.tensors import TensorInfo
from workbench.core.model.architecture import tree_from_tensor_names
from workbench.core.model.breakdown import categorize, memory_rows, parameter_breakdown
from workbench.core.model.memory import estimate_memory


def test_minilm_parts_add_up_to_the_model_and_position_ids_is_a_buffer(minilm_path):
    info = inspect_checkpoint(str(minilm_path))
    b = parameter_breakdown(info.module_tree, info.tensors)
    assert b.parameters == info.module_tree.num_parameters == 22_713_216
    assert sum(v for _, v in b.parts()) == b.parameters
    assert b.num_blocks == 6 and b.blocks > 0 and b.embeddings > 0
    assert b.buffers == 512 and b.buffer_names == ("embeddings.position_ids",)
    assert b.stored_elements == info.num_parameters == b.parameters + b.buffers


def test_tree_from_names_gguf_and_hf_styles():
    tensors = [TensorInfo("token_embd.weight", "F32", (10, 4), "a"),
               TensorInfo("blk.0.attn_q.weight", "F32", (4, 4), "a"),
               TensorInfo("blk.1.attn_q.weight", "F32", (4, 4), "a"),
               TensorInfo("output_norm.weight", "F32", (4,), "a"),
               TensorInfo("output.weight", "F32", (10, 4), "a"),
               TensorInfo("embeddings.position_ids", "I64", (1, 8), "a")]
    b = parameter_breakdown(tree_from_tensor_names(tensors), tensors)
    assert (b.embeddings, b.blocks, b.head, b.other) == (40, 32, 40, 4)
    assert b.num_blocks == 2 and b.buffers == 8
    assert b.parameters + b.buffers == b.stored_elements == 124


def test_categories_of_common_names():
    assert categorize("model.layers.3.self_attn.q_proj.weight") == "blocks"
    assert categorize("encoder.layer.0.attention.output.dense.weight") == "blocks"
    assert categorize("transformer.wte.weight") == "embeddings"
    assert categorize("lm_head.weight") == "head"
    assert categorize("pooler.dense.weight") == "head"
    assert categorize("model.norm.weight") == "other"


def test_no_tree_no_breakdown():
    assert parameter_breakdown(None, []) is None


def test_memory_rows_against_device_memory():
    m = estimate_memory(1_000_000_000, stored_bytes=600_000_000)
    rows = memory_rows(m, [("CPU", 3_000_000_000), ("cuda:0", 1_500_000_000)], as_stored=True)
    by = {r.label: r for r in rows}
    assert [r.label for r in rows] == ["fp32", "bf16", "fp16", "int8", "int4", "as stored"]
    assert by["fp32"].bytes == 4_000_000_000 and by["fp32"].fits == ()
    assert by["bf16"].fits == ("CPU",) and by["int8"].fits == ("CPU", "cuda:0")
    assert by["as stored"].bytes == 600_000_000


def test_buffers_come_from_the_models_named_buffers_not_from_name_patterns(tmp_path):
    """BART stores `final_logits_bias`, a buffer no name pattern knows (it ends in "bias")."""
    import torch
    import transformers

    from tests.conftest import make_tiny_model

    info = inspect_checkpoint(str(make_tiny_model("bart", tmp_path / "bart")))
    b = parameter_breakdown(info.module_tree, info.tensors)
    with torch.device("meta"):
        model = transformers.BartForConditionalGeneration(
            transformers.BartConfig.from_pretrained(tmp_path / "bart"))
    buffers = {n: t.numel() for n, t in model.named_buffers()}
    assert b.buffers_from_model and "final_logits_bias" in buffers
    assert b.model_buffer_names == tuple(buffers) and b.model_buffers == sum(buffers.values())
    assert b.buffer_names == ("final_logits_bias",) and b.buffers == buffers["final_logits_bias"]
    assert b.parameters == sum(p.numel() for p in model.parameters())
    assert b.stored_elements == b.parameters + b.buffers  # tied embeddings stored once


def test_stored_buffers_match_across_the_base_model_prefix(minilm_path):
    """A BertModel's buffers, stored under a task model's `bert.` prefix, are still buffers."""
    info = inspect_checkpoint(str(minilm_path))
    tensors = [TensorInfo(f"bert.{t.name}", t.dtype, t.shape, t.shard) for t in info.tensors]
    b = parameter_breakdown(info.module_tree, tensors)
    assert b.buffer_names == ("bert.embeddings.position_ids",) and b.buffers == 512
