"""GGUF files written by llama.cpp's own `gguf` writer from a tiny random Llama, checked against
that model: counts, real bytes, metadata, the transformers mapping, and a dequantized forward."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import pytest
import torch

from tests.fixtures.gguf_files import CHAT_TEMPLATE, tiny_llama, write_llama_gguf
from workbench.cli import main
from workbench.core.checkpoint.inspection import inspect_checkpoint
from workbench.core.errors import NotACheckpointError
from workbench.core.model.loading import load_model, load_tokenizer


@pytest.fixture(scope="session")
def llama_source():
    return tiny_llama(seed=0)


@pytest.fixture(scope="session")
def gguf_files(tmp_path_factory, llama_source) -> dict:
    """{"F32" | "F16" | "Q8_0": path} of the same tiny Llama, each in its own folder."""
    root = tmp_path_factory.mktemp("gguf")
    out = {}
    for quant in ("F32", "F16", "Q8_0"):
        (root / quant).mkdir()
        out[quant] = write_llama_gguf(llama_source, root / quant / f"tiny-{quant}.gguf", quant)
    return out


def _stored(model) -> dict[str, torch.Tensor]:
    """What llama.cpp stores of a Llama: every parameter (the rotary tables are computed)."""
    return dict(model.named_parameters())


@pytest.mark.parametrize("quant", ["F32", "F16", "Q8_0"])
def test_counts_and_real_bytes_match_the_source_model(gguf_files, llama_source, quant):
    info = inspect_checkpoint(gguf_files[quant])
    params = _stored(llama_source)
    assert info.format == "gguf"
    assert info.num_tensors == len(params) == 21
    assert info.num_parameters == sum(p.numel() for p in params.values())
    shapes = {t.name: t.shape for t in info.tensors}
    assert shapes["token_embd.weight"] == tuple(params["model.embed_tokens.weight"].shape)
    assert shapes["blk.0.attn_k.weight"] == (32, 64)  # [out, in] in torch order
    # Real bytes: 1-D norms stay F32; 2-D weights take 4, 2 or 34/32 bytes per value.
    per_value = {"F32": 4, "F16": 2, "Q8_0": 34 / 32}[quant]
    expected = sum(p.numel() * (4 if p.dim() == 1 else per_value) for p in params.values())
    assert info.total_bytes == expected
    assert info.size_on_disk == gguf_files[quant].stat().st_size > info.total_bytes
    norms = sum(p.numel() for p in params.values() if p.dim() == 1)
    assert info.dtypes.get("F32") == (info.num_parameters if quant == "F32" else norms)
    assert info.gguf.tensor_types[quant] == (21 if quant == "F32" else 16)
    assert info.memory.fp32 == 4 * info.num_parameters
    assert info.memory.as_stored == info.total_bytes


def test_metadata_summary(gguf_files, llama_source):
    info = inspect_checkpoint(gguf_files["Q8_0"])
    g, cfg = info.gguf, llama_source.config
    assert (g.version, g.architecture, g.name) == (3, "llama", "tiny-llama")
    assert g.file_type == "MOSTLY_Q8_0"
    assert g.context_length == cfg.max_position_embeddings == 128
    assert (g.embedding_length, g.block_count) == (64, 2)
    assert g.rope == {"dimension_count": 16, "freq_base": 10000.0}
    assert (g.tokenizer_model, g.vocab_size) == ("llama", cfg.vocab_size)
    assert g.chat_template == CHAT_TEMPLATE
    assert info.metadata["llama.attention.head_count_kv"] == "2"
    assert info.metadata["tokenizer.ggml.tokens"] == "[96 x STRING]"  # summarised, not copied


def test_transformers_mapping_gives_the_real_module_tree(gguf_files, llama_source):
    info = inspect_checkpoint(gguf_files["Q8_0"])
    assert (info.model_type, info.architecture) == ("llama", "LlamaForCausalLM")
    assert info.module_tree.num_parameters == llama_source.num_parameters()
    assert info.module_tree.find("model.layers.1.self_attn.k_proj").class_name == "Linear"
    c = info.comparison
    assert len(c.matched) == 21 and not (c.missing or c.unexpected or c.mismatched)
    assert info.warnings == ()
    assert info.gguf.loadable and info.gguf.transformers_model_type == "llama"
    assert "Attention and Fine-tune work" in info.gguf.notes[0]


@pytest.mark.parametrize(("quant", "tolerance"), [("F32", 0.0), ("Q8_0", 0.05)])
def test_load_model_dequantizes_and_runs(gguf_files, llama_source, quant, tolerance):
    model = load_model(gguf_files[quant])
    assert type(model).__name__ == "LlamaForCausalLM"
    ids = torch.tensor([[1, 5, 7, 9, 11]])
    with torch.no_grad():
        got, want = model(ids).logits, llama_source(ids).logits
        other = tiny_llama(seed=1)(ids).logits
    err = (got - want).abs().max().item()
    assert err <= tolerance
    assert (other - want).abs().max().item() > 10 * max(tolerance, 1e-3)  # the check can fail


def test_folder_with_one_gguf_and_its_tokenizer(gguf_files):
    folder = gguf_files["F16"].parent
    info = inspect_checkpoint(folder)
    assert info.format == "gguf" and info.num_tensors == 21
    tokenizer = load_tokenizer(folder)
    assert len(tokenizer) == 96
    assert tokenizer("t4 t12")["input_ids"] == [1, 20, 28]  # BOS, "▁t4", "▁t12"
    assert tokenizer.bos_token_id == 1


def test_folder_with_several_gguf_files_says_which_to_open(tmp_path, gguf_files):
    for quant in ("F32", "Q8_0"):
        shutil.copy(gguf_files[quant], tmp_path)
    with pytest.raises(NotACheckpointError, match=r"holds 2 GGUF files.*open one of them"):
        inspect_checkpoint(tmp_path)


def test_unknown_architecture_still_opens_from_tensor_names(tmp_path):
    import gguf
    import numpy as np

    path = tmp_path / "odd.gguf"
    writer = gguf.GGUFWriter(str(path), "notanarch")
    writer.add_block_count(1)
    writer.add_tensor("blk.0.mix.weight", np.ones((8, 32), dtype=np.float32))
    writer.add_tensor("token_embd.weight", np.ones((10, 32), dtype=np.float16))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    info = inspect_checkpoint(path)
    assert info.num_parameters == 8 * 32 + 10 * 32
    assert info.total_bytes == 8 * 32 * 4 + 10 * 32 * 2
    assert info.architecture.startswith("notanarch (GGUF")
    assert not info.gguf.loadable
    assert any("Attention and Fine-tune are not available" in w or "not available" in w
               for w in info.warnings)
    assert info.module_tree.find("blk.0.mix").num_parameters == 256


def test_cli_inspect_gguf_json(gguf_files, capsys):
    assert main(["inspect", str(gguf_files["Q8_0"]), "--json", "--tensors"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["format"] == "gguf"
    assert data["gguf"]["file_type"] == "MOSTLY_Q8_0"
    q = next(t for t in data["tensors"] if t["name"] == "blk.0.attn_q.weight")
    assert (q["dtype"], q["shape"]) == ("Q8_0", [64, 64])
    assert q["bytes"] == math.prod([64, 64]) // 32 * 34


@pytest.mark.parametrize("quant", ["F16", "Q8_0"])
def test_header_reader_agrees_with_llama_cpps_gguf_reader(gguf_files, quant):
    """gguf.GGUFReader is the reference; ours must read the same tensors and metadata."""
    from gguf import GGUFReader, GGUFValueType

    from workbench.core.checkpoint.gguf_header import ArraySummary, read_gguf_header

    ours = read_gguf_header(gguf_files[quant])
    ref = GGUFReader(gguf_files[quant])
    assert ours.data_offset == ref.data_offset
    assert [(t.name, t.dtype, t.shape, t.nbytes) for t in ours.tensors] == [
        (t.name, t.tensor_type.name, tuple(int(d) for d in reversed(t.shape)), int(t.n_bytes))
        for t in ref.tensors]
    ref_fields = {k: f for k, f in ref.fields.items() if not k.startswith("GGUF.")}
    assert list(ours.metadata) == list(ref_fields)
    for key, f in ref_fields.items():
        value = ours.metadata[key]
        if isinstance(value, ArraySummary):
            assert (value.length, value.element_type) == (len(f.data), f.types[-1].name)
        elif f.types[0] == GGUFValueType.FLOAT32:
            assert value == pytest.approx(f.contents())
        else:
            assert value == f.contents()


def test_inconsistent_layer_count_is_not_built(tmp_path, llama_source):
    """A corrupt block_count (2**40) must not make the inspector build 2**40 layers."""
    import gguf

    path = write_llama_gguf(llama_source, tmp_path / "bad.gguf", "F32")
    data = bytearray(path.read_bytes())
    key = b"llama.block_count"
    at = data.index(key) + len(key) + 4  # past the key and its uint32 value type
    data[at:at + 4] = (2**31).to_bytes(4, "little")
    path.write_bytes(bytes(data))
    assert gguf.GGUFReader(path).fields["llama.block_count"].contents() == 2**31
    info = inspect_checkpoint(path)
    assert info.num_parameters == llama_source.num_parameters()
    assert any("metadata says 2,147,483,648 layers but the tensors hold 2" in w
               for w in info.warnings)


def test_attention_runs_on_a_quantized_gguf(gguf_files):
    """Attention works on the Q8_0 file, as inspect promised, and equals transformers' eager
    output_attentions on the same dequantized model."""
    import numpy as np
    from transformers import AutoModelForCausalLM

    from workbench.core.attention.compute import compute_attention_from_path

    path = gguf_files["Q8_0"]
    maps = compute_attention_from_path(path, "t1 t2 t3 t4")
    assert maps.maps["self"].shape == (2, 4, 5, 5)  # layers, heads, T, T (BOS + 4 words)
    reference = AutoModelForCausalLM.from_pretrained(
        path.parent, gguf_file=path.name, dtype=torch.float32, attn_implementation="eager")
    ids = load_tokenizer(path)("t1 t2 t3 t4", return_tensors="pt")["input_ids"]
    assert ids[0].tolist() == [1, 17, 18, 19, 20]
    with torch.no_grad():
        want = torch.stack(reference(ids, output_attentions=True).attentions)[:, 0].numpy()
    np.testing.assert_allclose(maps.maps["self"], want, atol=1e-6)


def test_fine_tune_starts_from_a_gguf(gguf_files, tmp_path):
    """A LoRA causal-LM run loads the GGUF through transformers and trains a few steps."""
    from tests.fixtures.training import Recorder, data_file
    from workbench.core.training.runner import run_training
    from workbench.core.training.spec import TrainSpec

    text = tmp_path / "lm.txt"
    text.write_text("\n".join(f"t{i} t{i + 1} t{i + 2} t{i + 3}" for i in range(40)) + "\n")
    assert data_file  # the shared data helpers stay importable; this run uses its own text
    spec = TrainSpec(model_path=str(gguf_files["Q8_0"]), task="causal-lm", method="lora",
                     train_file=str(text), eval_split=0.25, max_length=16, batch_size=8,
                     max_steps=3, logging_steps=1, learning_rate=1e-3,
                     output_dir=str(tmp_path / "run"))
    rec = Recorder()
    result = run_training(spec, rec)
    assert result.status == "finished", result.message
    assert len(rec.losses()) == 3
    saved = json.loads((Path(result.final_model_dir) / "config.json").read_text())
    assert "quantization_config" not in saved  # saved as the float model it was trained as


def test_graph_and_training_memory_plan_work_from_a_gguf(gguf_files, llama_source, tmp_path,
                                                         capsys):
    from workbench.core.training.memory_plan import estimate_training_memory
    from workbench.core.training.spec import TrainSpec

    assert main(["graph", str(gguf_files["Q8_0"]), "--json"]) == 0
    tree = json.loads(capsys.readouterr().out)["tree"]
    assert (tree["class"], tree["num_parameters"]) == ("LlamaForCausalLM", 86_336)
    text = tmp_path / "lm.txt"
    text.write_text("t1 t2\n")
    spec = TrainSpec(model_path=str(gguf_files["Q8_0"]), task="causal-lm", train_file=str(text),
                     output_dir=str(tmp_path / "run"))
    plan = estimate_training_memory(spec)
    assert plan.total_parameters == llama_source.num_parameters()
    assert plan.weights == 4 * plan.total_parameters  # the dequantized fp32 model is trained
