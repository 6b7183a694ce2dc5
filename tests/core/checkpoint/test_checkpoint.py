"""inspect_checkpoint on real saved models of several families, and every bad input."""

from __future__ import annotations

import json
import shutil
import struct
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from workbench.core.checkpoint.inspection import inspect_checkpoint
from workbench.core.errors import (
    CorruptCheckpointError,
    InvalidConfigError,
    InvalidIndexError,
    NotACheckpointError,
    PathNotFoundError,
    UnsafePickleError,
)


@pytest.mark.parametrize("family", ["bert", "gpt2", "llama", "t5", "bart"])
def test_tiny_family_matches_the_real_model(tiny_models, family):
    import transformers

    info = inspect_checkpoint(tiny_models[family])
    model = getattr(transformers, info.architecture).from_pretrained(tiny_models[family])
    stored = model.state_dict()  # what save_pretrained wrote, before tying dedup
    assert info.format == "hf-safetensors"
    assert info.model_type == family
    assert info.num_tensors == len(info.tensors) > 0
    assert info.num_parameters == sum(t.numel for t in info.tensors)
    assert info.total_bytes == sum(t.nbytes for t in info.tensors)
    assert set(info.dtypes) == {"F32"}
    unique = {id(p): p for p in model.parameters()}
    assert info.module_tree.num_parameters == sum(p.numel() for p in unique.values())
    assert {t.name for t in info.tensors} <= set(stored)
    assert info.comparison.missing == () and info.comparison.mismatched == ()
    assert not [w for w in info.warnings if "mismatch" in w]


def test_minilm_real_checkpoint(minilm_path):
    info = inspect_checkpoint(minilm_path)
    assert info.architecture == "BertModel"
    assert info.dtypes["F32"] == 22_713_216  # the published parameter count
    assert info.tokenizer.vocab_size == 30522
    assert info.tokenizer.special_tokens["cls_token"] == "[CLS]"
    assert info.module_tree.find("encoder.layer.5.attention") is not None
    assert info.memory.bf16 == 2 * info.num_parameters


def _shard_folder(src: Path, dst: Path, shards: int = 3) -> Path:
    """Re-save a model folder as a sharded safetensors checkpoint with an index."""
    from safetensors.torch import load_file

    dst.mkdir()
    shutil.copy(src / "config.json", dst / "config.json")
    state = load_file(src / "model.safetensors")
    names = sorted(state)
    weight_map = {}
    for i in range(shards):
        part = names[i::shards]
        fname = f"model-{i + 1:05d}-of-{shards:05d}.safetensors"
        save_file({n: state[n] for n in part}, dst / fname, metadata={"format": "pt"})
        weight_map.update(dict.fromkeys(part, fname))
    total = sum(t.numel() * t.element_size() for t in state.values())
    (dst / "model.safetensors.index.json").write_text(
        json.dumps({"metadata": {"total_size": total}, "weight_map": weight_map}))
    return dst


@pytest.fixture
def sharded(tiny_models, tmp_path):
    return _shard_folder(tiny_models["llama"], tmp_path / "sharded")


def test_sharded_checkpoint_equals_single_file(tiny_models, sharded):
    single = inspect_checkpoint(tiny_models["llama"])
    info = inspect_checkpoint(sharded)
    assert info.format == "hf-sharded-safetensors"
    assert len(info.shards) == 3
    assert info.num_parameters == single.num_parameters
    assert sorted(t.name for t in info.tensors) == sorted(t.name for t in single.tensors)
    by_index = inspect_checkpoint(sharded / "model.safetensors.index.json")
    assert by_index.format == "safetensors-index"
    assert by_index.num_parameters == single.num_parameters


def test_index_path_traversal_is_refused(sharded):
    index = json.loads((sharded / "model.safetensors.index.json").read_text())
    first = next(iter(index["weight_map"]))
    index["weight_map"][first] = "../../etc/passwd"
    (sharded / "model.safetensors.index.json").write_text(json.dumps(index))
    with pytest.raises(InvalidIndexError, match="outside the checkpoint folder"):
        inspect_checkpoint(sharded)


def test_index_absolute_path_is_refused(sharded):
    index = json.loads((sharded / "model.safetensors.index.json").read_text())
    index["weight_map"][next(iter(index["weight_map"]))] = "/tmp/x.safetensors"
    (sharded / "model.safetensors.index.json").write_text(json.dumps(index))
    with pytest.raises(InvalidIndexError, match="absolute path"):
        inspect_checkpoint(sharded)


def test_missing_shard(sharded):
    (sharded / "model-00002-of-00003.safetensors").unlink()
    with pytest.raises(InvalidIndexError, match="missing from"):
        inspect_checkpoint(sharded)


def test_index_key_not_in_shard(sharded):
    index = json.loads((sharded / "model.safetensors.index.json").read_text())
    index["weight_map"]["model.ghost.weight"] = "model-00001-of-00003.safetensors"
    (sharded / "model.safetensors.index.json").write_text(json.dumps(index))
    with pytest.raises(InvalidIndexError, match="does not contain them"):
        inspect_checkpoint(sharded)


def test_implausible_total_size_warns(sharded):
    index = json.loads((sharded / "model.safetensors.index.json").read_text())
    index["metadata"]["total_size"] = 10**15
    (sharded / "model.safetensors.index.json").write_text(json.dumps(index))
    info = inspect_checkpoint(sharded)
    assert any("total_size" in w for w in info.warnings)


def test_pytorch_bin_folder(tiny_models, tmp_path):
    folder = tmp_path / "bin"
    folder.mkdir()
    shutil.copy(tiny_models["gpt2"] / "config.json", folder)
    from safetensors.torch import load_file

    torch.save(load_file(tiny_models["gpt2"] / "model.safetensors"), folder / "pytorch_model.bin")
    info = inspect_checkpoint(folder)
    ref = inspect_checkpoint(tiny_models["gpt2"])
    assert info.format == "hf-pytorch"
    assert info.num_parameters == ref.num_parameters
    assert info.comparison.missing == ()
    assert inspect_checkpoint(folder / "pytorch_model.bin").format == "pytorch"


class _Payload:
    """A pickle that would create a file when unpickled unsafely."""

    def __init__(self, target: Path):
        self.target = target

    def __reduce__(self):
        import os

        return (os.system, (f"touch {self.target}",))


def test_malicious_pickle_is_refused_and_never_runs(tmp_path):
    target = tmp_path / "pwned"
    evil = tmp_path / "evil.bin"
    torch.save({"weight": torch.zeros(2), "x": _Payload(target)}, evil)
    with pytest.raises(UnsafePickleError, match=r"posix\.system|nt\.system"):
        inspect_checkpoint(evil)
    assert not target.exists()


def test_peft_adapter(tiny_models, tmp_path):
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(tiny_models["llama"])
    peft_model = get_peft_model(model, LoraConfig(r=4, lora_alpha=8,
                                                  target_modules=["q_proj", "v_proj"]))
    peft_model.save_pretrained(tmp_path / "adapter")
    info = inspect_checkpoint(tmp_path / "adapter")
    assert info.format == "peft-adapter"
    assert info.adapter.r == 4 and info.adapter.alpha == 8
    assert set(info.adapter.target_modules) == {"q_proj", "v_proj"}
    # 2 layers x 2 targets x (A: 4x32, B: 32x4 or 16x4)
    assert info.num_tensors == 8
    assert all("lora_" in t.name for t in info.tensors)


def test_single_safetensors_without_config_guesses_architecture(tiny_models, tmp_path):
    lone = tmp_path / "weights.safetensors"
    shutil.copy(tiny_models["llama"] / "model.safetensors", lone)
    info = inspect_checkpoint(lone)
    assert info.config is None
    assert info.guess.model_type == "llama"
    assert info.guess.num_layers == 2 and info.guess.hidden_size == 32
    assert info.guess.vocab_size == 120
    assert "guessed" in info.architecture
    assert info.module_tree.find("model.layers.1.self_attn.q_proj") is not None


def test_config_without_weights(tiny_models, tmp_path):
    folder = tmp_path / "cfg"
    folder.mkdir()
    shutil.copy(tiny_models["bert"] / "config.json", folder)
    info = inspect_checkpoint(folder)
    ref = inspect_checkpoint(tiny_models["bert"])
    assert info.format == "hf-config-only"
    assert not info.has_weights
    assert info.num_parameters == ref.module_tree.num_parameters
    assert any("no weights" in w for w in info.warnings)


def test_custom_code_is_never_run(tiny_models, tmp_path):
    folder = tmp_path / "custom"
    shutil.copytree(tiny_models["llama"], folder)
    config = json.loads((folder / "config.json").read_text())
    config["auto_map"] = {"AutoModelForCausalLM": "modeling_evil.EvilModel"}
    (folder / "config.json").write_text(json.dumps(config))
    marker = tmp_path / "ran"
    (folder / "modeling_evil.py").write_text(f"open({str(marker)!r}, 'w').write('x')\n")
    info = inspect_checkpoint(folder)
    assert info.custom_code
    assert any("custom code" in w and "not run" in w for w in info.warnings)
    assert info.num_tensors > 0
    assert not marker.exists()


def test_unknown_model_type_keeps_tensor_view(tiny_models, tmp_path):
    folder = tmp_path / "unknown"
    shutil.copytree(tiny_models["gpt2"], folder)
    config = json.loads((folder / "config.json").read_text())
    config["model_type"] = "zzz_future_arch"
    config["architectures"] = ["ZzzForCausalLM"]
    (folder / "config.json").write_text(json.dumps(config))
    info = inspect_checkpoint(folder)
    assert info.num_tensors > 0
    assert any("not known to this transformers version" in w for w in info.warnings)
    assert info.module_tree is not None  # from tensor names


def test_config_weights_mismatch_warns(tiny_models, tmp_path):
    folder = tmp_path / "mismatch"
    shutil.copytree(tiny_models["bert"], folder)
    config = json.loads((folder / "config.json").read_text())
    config["num_hidden_layers"] = 3
    config["intermediate_size"] = 48
    (folder / "config.json").write_text(json.dumps(config))
    info = inspect_checkpoint(folder)
    assert any(n.startswith(("encoder.layer.2", "bert.encoder.layer.2"))
               for n in info.comparison.missing)
    assert info.comparison.mismatched
    assert any("different shape" in w for w in info.warnings)


# -- bad input ---------------------------------------------------------------------------------
def test_path_does_not_exist(tmp_path):
    with pytest.raises(PathNotFoundError, match="does not exist"):
        inspect_checkpoint(tmp_path / "nope")


def test_not_a_checkpoint(tmp_path):
    (tmp_path / "readme.txt").write_text("hi")
    with pytest.raises(NotACheckpointError, match="not a checkpoint"):
        inspect_checkpoint(tmp_path)
    with pytest.raises(NotACheckpointError, match="not a checkpoint file"):
        inspect_checkpoint(tmp_path / "readme.txt")


def test_invalid_config_json(tiny_models, tmp_path):
    folder = tmp_path / "badcfg"
    shutil.copytree(tiny_models["bert"], folder)
    (folder / "config.json").write_text('{"model_type": "bert",,}')
    with pytest.raises(InvalidConfigError, match="not valid JSON"):
        inspect_checkpoint(folder)


@pytest.fixture
def good_file(tmp_path) -> Path:
    path = tmp_path / "good.safetensors"
    save_file({"a": torch.zeros(4, 4), "b": torch.ones(8)}, path)
    return path


def test_truncated_safetensors(good_file):
    data = good_file.read_bytes()
    good_file.write_bytes(data[:-10])
    with pytest.raises(CorruptCheckpointError, match="truncated"):
        inspect_checkpoint(good_file)


def test_tiny_file(tmp_path):
    (tmp_path / "x.safetensors").write_bytes(b"\x01\x02")
    with pytest.raises(CorruptCheckpointError, match="truncated"):
        inspect_checkpoint(tmp_path / "x.safetensors")


def test_absurd_header_size(tmp_path):
    path = tmp_path / "absurd.safetensors"
    path.write_bytes(struct.pack("<Q", 2**60) + b"{}")
    with pytest.raises(CorruptCheckpointError, match="absurd header size"):
        inspect_checkpoint(path)


def test_corrupt_header_json(good_file):
    data = bytearray(good_file.read_bytes())
    data[9] = ord("#")
    good_file.write_bytes(bytes(data))
    with pytest.raises(CorruptCheckpointError, match="not valid JSON"):
        inspect_checkpoint(good_file)


def _write_raw(path: Path, header: dict, data_len: int) -> None:
    raw = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(raw)) + raw + b"\0" * data_len)


def test_overlapping_offsets(tmp_path):
    path = tmp_path / "overlap.safetensors"
    _write_raw(path, {"a": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]},
                      "b": {"dtype": "F32", "shape": [4], "data_offsets": [8, 24]}}, 24)
    with pytest.raises(CorruptCheckpointError, match="overlaps"):
        inspect_checkpoint(path)


def test_offsets_disagree_with_shape(tmp_path):
    path = tmp_path / "size.safetensors"
    _write_raw(path, {"a": {"dtype": "F32", "shape": [4], "data_offsets": [0, 12]}}, 12)
    with pytest.raises(CorruptCheckpointError, match="needs 16"):
        inspect_checkpoint(path)


def test_unknown_dtype(tmp_path):
    path = tmp_path / "dtype.safetensors"
    _write_raw(path, {"a": {"dtype": "Q7", "shape": [4], "data_offsets": [0, 4]}}, 4)
    with pytest.raises(CorruptCheckpointError, match="unknown dtype"):
        inspect_checkpoint(path)


def test_our_reader_agrees_with_the_safetensors_library(tiny_models):
    from safetensors import safe_open

    from workbench.core.checkpoint.safetensors_header import read_safetensors_header

    path = tiny_models["t5"] / "model.safetensors"
    ours, meta = read_safetensors_header(path)
    with safe_open(path, "pt") as f:
        theirs = {k: tuple(f.get_slice(k).get_shape()) for k in f.keys()}
        assert meta == f.metadata()
    assert {t.name: t.shape for t in ours} == theirs


@pytest.mark.parametrize("wrap", ["state_dict", "model"])
def test_wrapped_pickle_state_dicts_are_unwrapped_by_one_loader(tiny_models, tmp_path, wrap):
    from safetensors.torch import load_file

    from workbench.core.checkpoint.pickle_weights import load_pickle_state_dict
    from workbench.core.checkpoint.tensor_stats import tensor_stats

    stored = load_file(tiny_models["gpt2"] / "model.safetensors")
    path = tmp_path / "w.bin"
    torch.save({wrap: stored, "optimizer": {"step": 3}}, path)
    loaded = load_pickle_state_dict(path)
    assert set(loaded) == set(stored)
    info = inspect_checkpoint(path)
    assert len(info.tensors) == len(stored)
    name = "transformer.wte.weight"
    [tensor] = [t for t in info.tensors if t.name == name]
    stats = tensor_stats(tmp_path, tensor)
    assert stats.count == stored[name].numel()
    assert stats.max == pytest.approx(float(stored[name].max()))
