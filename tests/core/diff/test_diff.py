"""Checkpoint diff on real tiny models: a perturbed layer, a head added, dtype, LoRA B@A."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from tests.conftest import make_tiny_model
from workbench.core.diff.weights import diff_checkpoints
from workbench.core.errors import WorkbenchError


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    return make_tiny_model("bert", tmp_path_factory.mktemp("diff") / "base")


def _perturbed(base, folder, layer: int, scale: float = 0.1):
    import transformers

    model = transformers.BertForMaskedLM.from_pretrained(base)
    with torch.no_grad():
        w = model.bert.encoder.layer[layer].attention.self.query.weight
        w.add_(scale * torch.randn_like(w))
    model.save_pretrained(folder)
    return folder


def test_only_the_perturbed_layer_moves(base, tmp_path):
    other = _perturbed(base, tmp_path / "b", layer=1)
    diff = diff_checkpoints(base, other)
    m = diff.matrix
    assert m.layers == ["bert.encoder.layer.0", "bert.encoder.layer.1"]
    moved = np.argwhere(np.nan_to_num(m.values) > 0)
    assert moved.tolist() == [[1, m.modules.index("attention.self.query")]]
    changed = [t for t in diff.tensors if t.status == "changed"]
    assert [t.name for t in changed] == ["bert.encoder.layer.1.attention.self.query.weight"]
    t = changed[0]
    # Reference: the same numbers computed in memory with torch.
    from safetensors.torch import load_file

    w0 = load_file(base / "model.safetensors")[t.name]
    w1 = load_file(other / "model.safetensors")[t.name]
    assert t.relative_change == pytest.approx(float((w1 - w0).norm() / w0.norm()), rel=1e-5)
    assert t.cosine == pytest.approx(float(torch.nn.functional.cosine_similarity(
        w0.flatten(), w1.flatten(), dim=0)), rel=1e-5)
    assert t.max_abs_diff == pytest.approx(float((w1 - w0).abs().max()), rel=1e-5)
    assert diff.config_diff == {}
    assert diff.summary()["changed"] == 1


def test_head_prefix_shape_and_config_differences(base, tmp_path):
    import transformers

    # The same encoder saved without the "bert." prefix (BertModel), with one more label head.
    encoder = transformers.BertModel.from_pretrained(base, add_pooling_layer=False)
    encoder.config.hidden_dropout_prob = 0.3
    encoder.save_pretrained(tmp_path / "enc")
    diff = diff_checkpoints(base, tmp_path / "enc")
    assert diff.name_prefix == "-bert."
    statuses = {t.name: t.status for t in diff.tensors}
    assert statuses["encoder.layer.0.attention.self.query.weight"] == "same"
    assert statuses["cls.predictions.bias"] == "only_a"
    assert diff.config_diff["hidden_dropout_prob"] == (0.1, 0.3)
    assert diff.config_diff["architectures"] == (["BertForMaskedLM"], ["BertModel"])


def test_shape_and_dtype_changes_are_reported(base, tmp_path):
    import transformers

    config = transformers.BertConfig.from_pretrained(base)
    config.intermediate_size = 48
    torch.manual_seed(0)
    transformers.BertForMaskedLM(config).save_pretrained(tmp_path / "narrow")
    diff = diff_checkpoints(base, tmp_path / "narrow")
    shape = {t.name: t for t in diff.tensors if t.status == "shape"}
    assert "bert.encoder.layer.0.intermediate.dense.weight" in shape
    assert shape["bert.encoder.layer.0.intermediate.dense.weight"].shape_b == (48, 32)
    assert diff.config_diff["intermediate_size"] == (64, 48)

    half = transformers.BertForMaskedLM.from_pretrained(base, dtype=torch.float16)
    half.save_pretrained(tmp_path / "half")
    diff = diff_checkpoints(base, tmp_path / "half")
    t = next(t for t in diff.tensors if t.name.endswith("layer.0.attention.self.query.weight"))
    assert (t.dtype_a, t.dtype_b, t.status) == ("F32", "F16", "changed")
    assert 0 < t.relative_change < 1e-3  # fp16 rounding only


def test_huge_tensor_is_streamed_in_chunks(tmp_path, monkeypatch):
    from safetensors.torch import save_file

    import workbench.core.checkpoint.tensor_stats as stats

    monkeypatch.setattr(stats, "CHUNK_ELEMENTS", 1000)  # force ~100 slices of a 100k tensor
    a = torch.randn(400, 250)
    b = a.clone()
    b[399] += 1.0  # only the last slice differs
    for name, t in (("a", a), ("b", b)):
        (tmp_path / name).mkdir()
        save_file({"w": t}, tmp_path / name / "model.safetensors")
    diff = diff_checkpoints(tmp_path / "a", tmp_path / "b")
    assert diff.tensors[0].relative_change == pytest.approx(float((b - a).norm() / a.norm()),
                                                            rel=1e-6)


def test_cancel_and_bad_input(base, tmp_path):
    import threading

    cancel = threading.Event()
    cancel.set()
    with pytest.raises(WorkbenchError, match="cancelled"):
        diff_checkpoints(base, base, cancel=cancel)
    with pytest.raises(WorkbenchError, match="does not exist"):
        diff_checkpoints(base, tmp_path / "nope")
    torch.save({"w": torch.zeros(2)}, tmp_path / "pytorch_model.bin")
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "bert"}))
    with pytest.raises(WorkbenchError, match="safetensors only"):
        diff_checkpoints(base, tmp_path)


def test_lora_adapter_update_norms(base, tmp_path):
    import peft
    import transformers

    model = transformers.BertForMaskedLM.from_pretrained(base)
    config = peft.LoraConfig(r=4, lora_alpha=8, target_modules=["query", "value"])
    lora = peft.get_peft_model(model, config)
    layer = lora.base_model.model.bert.encoder.layer[1].attention.self.query
    with torch.no_grad():
        layer.lora_B["default"].weight.normal_()  # peft starts B at zero: make layer 1 move
    lora.save_pretrained(tmp_path / "adapter")
    diff = diff_checkpoints(base, tmp_path / "adapter")
    by_module = {e["module"]: e for e in diff.lora}
    moved = [m for m, e in by_module.items() if e["update_norm"] > 0]
    assert moved == ["bert.encoder.layer.1.attention.self.query"]
    a = layer.lora_A["default"].weight.detach()
    b = layer.lora_B["default"].weight.detach()
    expected = float((2.0 * b @ a).norm())  # scale = alpha / r = 2
    assert by_module[moved[0]]["update_norm"] == pytest.approx(expected, rel=1e-5)
    w0 = layer.base_layer.weight.detach()
    assert by_module[moved[0]]["relative_change"] == pytest.approx(
        expected / float(w0.norm()), rel=1e-5)
    m = diff.matrix
    assert m.values[1, m.modules.index("attention.self.query")] > 0
    assert np.nansum(m.values) == pytest.approx(
        m.values[1, m.modules.index("attention.self.query")])
    # The adapter alone is diffed against the local base its config names.
    alone = diff_checkpoints(tmp_path / "adapter", None)
    assert math.isclose(alone.lora[0]["update_norm"], diff.lora[0]["update_norm"])


def test_cli_diff_json_and_text(base, tmp_path, capsys):
    from workbench.cli import main

    other = _perturbed(base, tmp_path / "b", layer=0)
    assert main(["diff", str(base), str(other), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["summary"]["changed"] == 1
    row = data["matrix"]["layers"].index("bert.encoder.layer.0")
    assert data["matrix"]["values"][row][data["matrix"]["modules"].index(
        "attention.self.query")] > 0
    assert main(["diff", str(base), str(other)]) == 0
    text = capsys.readouterr().out
    assert "bert.encoder.layer.0.attention.self.query" in text
    assert main(["diff", str(base), str(tmp_path / "missing"), "--json"]) == 1
    assert "does not exist" in json.loads(capsys.readouterr().out)["error"]


def test_short_labels_stay_unique():
    from workbench.core.diff.weights import short_labels

    kinds = ["attention.self.query", "attention.self.key", "attention.output.dense",
             "attention.output.LayerNorm", "intermediate.dense", "output.dense",
             "output.LayerNorm", "self_attn.q_proj", "mlp.gate_proj"]
    labels = short_labels(kinds)
    assert labels == ["query", "key", "attn.out.dense", "attn.out.LN", "inter.dense",
                      "output.dense", "out.LN", "q_proj", "gate_proj"]
    assert len(set(labels)) == len(kinds)


def test_config_keys_stored_on_one_side_count_as_their_defaults():
    from workbench.core.diff.weights import config_diff

    old = {"model_type": "bert", "hidden_size": 384, "torch_dtype": "float32"}
    new = {"model_type": "bert", "hidden_size": 384, "dtype": "float32", "is_decoder": False,
           "tie_word_embeddings": True, "add_cross_attention": False}
    assert config_diff(old, new) == {}  # defaults written by a newer transformers, renamed dtype
    assert config_diff(old, dict(new, is_decoder=True)) == {"is_decoder": (None, True)}
