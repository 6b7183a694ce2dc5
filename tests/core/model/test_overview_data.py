"""The numbers behind the Overview's charts: parameter parts, dtype mix, memory bars against
device lines, for the real MiniLM, the 70B-shaped checkpoint, a config-only folder, GGUF, GPTQ.

Expected values come from elsewhere than the code under test: the model transformers builds
(its named_parameters / named_buffers), the safetensors and GGUF readers, the config's shapes.
"""

from __future__ import annotations

import json

import pytest

from tests.bench import fake_70b
from tests.fixtures.gguf_files import tiny_llama, write_llama_gguf
from tests.fixtures.quantized import write_quantized
from workbench.core.checkpoint.inspection import inspect_checkpoint
from workbench.core.devices import DeviceInfo, ram_device
from workbench.core.model.overview_data import overview_data, segments

GIB = 2**30


def _meta_model(folder):
    import torch
    import transformers

    config = transformers.AutoConfig.from_pretrained(folder)
    with torch.device("meta"):
        return transformers.AutoModel.from_config(config)


def test_minilm_parts_dtypes_and_buffers_agree_with_transformers_and_safetensors(minilm_path):
    from safetensors import safe_open

    model = _meta_model(minilm_path)  # BertModel, as the config says
    by_part = {"embeddings": 0, "blocks": 0, "head": 0}
    for name, p in model.named_parameters():
        part = ("embeddings" if name.startswith("embeddings.") else
                "blocks" if name.startswith("encoder.layer.") else "head")  # the pooler
        by_part[part] += p.numel()
    stored: dict[str, int] = {}
    with safe_open(str(minilm_path / "model.safetensors"), "pt") as f:
        for key in f.keys():
            s = f.get_slice(key)
            size = {"F32": 4, "I64": 8}[s.get_dtype()]
            for d in s.get_shape():
                size *= d
            stored[s.get_dtype()] = stored.get(s.get_dtype(), 0) + size

    d = overview_data(inspect_checkpoint(minilm_path), [ram_device()])
    assert [(s.label, s.value) for s in d.parameter_parts] == list(by_part.items())
    assert d.parameters == sum(by_part.values()) == 22_713_216
    assert sum(s.share for s in d.parameter_parts) == pytest.approx(1.0)
    assert {s.label: s.value for s in d.dtype_bytes} == stored
    assert [s.label for s in d.dtype_bytes] == ["F32", "I64"]  # largest first
    b = d.breakdown
    assert b.buffers_from_model
    assert b.model_buffer_names == tuple(n for n, _ in model.named_buffers())
    assert b.buffer_names == ("embeddings.position_ids",) and b.buffers == 512
    assert b.num_blocks == model.config.num_hidden_layers
    assert [r.label for r in d.memory] == ["fp32", "bf16", "fp16", "int8", "int4"]  # not packed
    assert [x.name for x in d.devices] == ["RAM"]
    assert all(r.fits == ("RAM",) for r in d.memory)  # 87 MB fits any machine running tests


def test_70b_shaped_checkpoint_against_ram_and_two_gpus(tmp_path):
    folder = fake_70b.make_fake_llama70b(tmp_path / "llama70b")
    h, v, layers = fake_70b.HIDDEN, fake_70b.VOCAB, fake_70b.LAYERS
    total = sum(_numel(shape) for _, shape in fake_70b.llama70b_tensors())
    devices = [DeviceInfo("cpu", "CPU", 64 * GIB),
               DeviceInfo("cuda:0", "NVIDIA A100 (80 GiB)", 80 * GIB),
               DeviceInfo("cuda:1", "NVIDIA H200 (141 GiB)", 141 * GIB)]
    d = overview_data(inspect_checkpoint(folder), devices)

    parts = {s.label: s.value for s in d.parameter_parts}
    assert parts["embeddings"] == v * h and parts["head"] == v * h and parts["other"] == h
    assert parts["blocks"] == total - 2 * v * h - h and d.breakdown.num_blocks == layers
    assert [(s.label, s.value) for s in d.dtype_bytes] == [("BF16", 2 * total)]
    assert [(x.name, x.total) for x in d.devices] == [
        ("RAM", 64 * GIB), ("cuda:0", 80 * GIB), ("cuda:1", 141 * GIB)]
    fits = {r.label: r.fits for r in d.memory}
    assert fits["fp32"] == ()  # 4 bytes x 70.6 B = 263 GiB
    assert fits["bf16"] == fits["fp16"] == ("cuda:1",)  # 131 GiB
    assert fits["int8"] == ("cuda:0", "cuda:1")  # 66 GiB: not the 64 GiB of RAM
    assert fits["int4"] == ("RAM", "cuda:0", "cuda:1")
    assert d.exceeds(next(r for r in d.memory if r.label == "int8")) == ("RAM",)
    assert {r.label: r.bytes for r in d.finetune} == {"AdamW fp32": 16 * total,
                                                      "AdamW mixed": 16 * total}
    assert all(r.fits == () for r in d.finetune)


def _numel(shape) -> int:
    n = 1
    for x in shape:
        n *= x
    return n


def test_config_only_folder_has_parts_and_memory_but_no_dtype_mix(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps(
        {"model_type": "llama", "architectures": ["LlamaForCausalLM"], "hidden_size": 64,
         "num_hidden_layers": 2,
         "num_attention_heads": 4, "num_key_value_heads": 2, "intermediate_size": 128,
         "vocab_size": 100, "tie_word_embeddings": False}))
    info = inspect_checkpoint(tmp_path)
    d = overview_data(info, [ram_device()])
    parts = {s.label: s.value for s in d.parameter_parts}
    assert parts["embeddings"] == parts["head"] == 100 * 64 and parts["other"] == 64
    assert d.parameters == sum(parts.values()) == info.num_parameters
    assert d.dtype_bytes == () and d.dtype_elements == {}
    assert [r.label for r in d.memory] == ["fp32", "bf16", "fp16", "int8", "int4"]
    assert d.memory[0].bytes == 4 * d.parameters


def test_gguf_dtype_mix_is_the_files_block_types_and_as_stored_is_shown(tmp_path):
    import gguf

    path = write_llama_gguf(tiny_llama(), tmp_path / "tiny.gguf", "Q8_0")
    by_type: dict[str, int] = {}
    for t in gguf.GGUFReader(str(path)).tensors:
        by_type[t.tensor_type.name] = by_type.get(t.tensor_type.name, 0) + int(t.n_bytes)
    info = inspect_checkpoint(path)
    d = overview_data(info, [ram_device()])
    assert {s.label: s.value for s in d.dtype_bytes} == by_type
    assert [s.label for s in d.dtype_bytes] == ["Q8_0", "F32"]
    assert [r.label for r in d.memory][-1] == "as stored"
    assert d.memory[-1].bytes == sum(by_type.values())
    assert {s.label for s in d.parameter_parts} == {"embeddings", "blocks", "head", "other"}


def test_gptq_counts_logical_parameters_and_packed_bytes(tmp_path):
    model = tiny_llama()
    folder, quantized = write_quantized(model, tmp_path / "gptq", "gptq")
    d = overview_data(inspect_checkpoint(folder), [ram_device()])
    assert d.parameters == sum(p.numel() for p in model.parameters())  # unpacked, no scales
    assert {s.label for s in d.dtype_bytes} == {"I32", "F16"}  # packed codes, fp16 rest
    stored = next(r for r in d.memory if r.label == "as stored")
    assert stored.bytes < d.memory[1].bytes  # 4-bit packed is smaller than bf16
    assert len(quantized) > 0


def test_segments_leave_zeros_out_and_share_the_whole():
    s = segments([("a", 3), ("b", 0), ("c", 1)])
    assert [(x.label, x.value, x.share) for x in s] == [("a", 3, 0.75), ("c", 1, 0.25)]
    assert segments([]) == ()
