"""Estimates, diffs and real model builds from edited configs (tiny models + the real MiniLM)."""

from __future__ import annotations

import json
import re
import shutil
import threading

import pytest

from workbench.core.checkpoint.inspection import inspect_checkpoint
from workbench.core.errors import CancelledError, InvalidConfigError, WorkbenchError
from workbench.core.model.architecture import read_config_dict
from workbench.core.model.builder import (
    analyze,
    build_from_weights,
    build_new_model,
    export_json,
    family_values,
    save_config,
    save_config_as,
)

SENTENCE = "The config editor rebuilds a smaller model from the same weights."


def _state(folder):
    from safetensors.torch import load_file

    return load_file(str(folder / "model.safetensors"))


@pytest.fixture(scope="module")
def minilm_three_layers(minilm_path, tmp_path_factory):
    values = read_config_dict(minilm_path)
    values["num_hidden_layers"] = 3
    out = tmp_path_factory.mktemp("rebuilt") / "minilm-3"
    return build_from_weights(values, minilm_path, out, seed=0)


def test_minilm_with_three_layers_keeps_exactly_the_first_three(minilm_path,
                                                                 minilm_three_layers):
    import torch
    from transformers import AutoTokenizer, BertModel

    report = minilm_three_layers.report
    stored = [t.name for t in inspect_checkpoint(minilm_path, build_tree=False).tensors]
    dropped = sorted(n for n in stored if re.match(r"encoder\.layer\.[345]\.", n))
    assert len(dropped) == 48
    assert sorted(report.unexpected) == dropped
    assert report.missing == () and report.mismatched == ()
    assert len(report.loaded) == 55

    tok = AutoTokenizer.from_pretrained(minilm_path)
    batch = tok(SENTENCE, return_tensors="pt")
    original = BertModel.from_pretrained(minilm_path).eval()
    rebuilt = BertModel.from_pretrained(minilm_three_layers.path).eval()
    assert rebuilt.config.num_hidden_layers == 3
    with torch.no_grad():
        want = original(**batch, output_hidden_states=True).hidden_states[3]  # after layer 3
        got = rebuilt(**batch).last_hidden_state
    assert got.shape == want.shape
    assert torch.allclose(got, want, atol=1e-5)
    assert not torch.allclose(got, original(**batch).last_hidden_state, atol=1e-3)
    assert "tokenizer.json" in minilm_three_layers.files


def test_estimate_matches_a_real_model(tmp_path):
    import transformers

    values = family_values("llama", {"num_hidden_layers": 2, "vocab_size": 1000})
    analysis = analyze(values)
    assert analysis.validation.ok and analysis.estimate is not None
    config = transformers.LlamaConfig(**{k: v for k, v in values.items() if k != "model_type"})
    real = transformers.LlamaForCausalLM(config)
    assert analysis.estimate.num_parameters == sum(p.numel() for p in real.parameters())
    assert analysis.estimate.model_class == "LlamaForCausalLM"
    assert analysis.estimate.memory.bf16 == 2 * analysis.estimate.num_parameters


def test_analysis_reports_changes_and_weights_that_no_longer_fit(tiny_models):
    folder = tiny_models["bert"]
    original = read_config_dict(folder)
    stored = inspect_checkpoint(folder, build_tree=False).tensors
    values = {**original, "vocab_size": 150, "num_hidden_layers": 3}
    a = analyze(values, original=original, stored=stored)
    assert {c.name: (c.old, c.new) for c in a.changes} == {"vocab_size": (120, 150),
                                                           "num_hidden_layers": (2, 3)}
    mismatched = {n: (s, e) for n, s, e in a.comparison.mismatched}
    assert mismatched["bert.embeddings.word_embeddings.weight"] == ((120, 32), (150, 32))
    assert any(n.startswith("bert.encoder.layer.2.") for n in a.comparison.missing)
    unchanged = analyze(original, original=original, stored=stored)
    assert unchanged.changes == () and not unchanged.comparison.mismatched
    assert analyze({**original, "hidden_size": 30}).estimate is None  # errors: no estimate


def test_new_model_is_seeded_and_complete(tmp_path, minilm_path):
    import torch
    from transformers import AutoModel, AutoTokenizer

    values = family_values("bert", {"hidden_size": 64, "num_hidden_layers": 2,
                                    "intermediate_size": 128})
    a = build_new_model(values, tmp_path / "a", seed=7, tokenizer_from=minilm_path)
    build_new_model(values, tmp_path / "b", seed=7)
    build_new_model(values, tmp_path / "c", seed=8)
    assert {"config.json", "model.safetensors", "tokenizer.json", "vocab.txt"} <= set(a.files)
    sa, sb, sc = _state(tmp_path / "a"), _state(tmp_path / "b"), _state(tmp_path / "c")
    key = "bert.encoder.layer.0.attention.self.query.weight"
    assert torch.equal(sa[key], sb[key]) and not torch.equal(sa[key], sc[key])
    model = AutoModel.from_pretrained(tmp_path / "a")
    assert sum(p.numel() for p in model.parameters()) <= a.num_parameters
    assert AutoTokenizer.from_pretrained(tmp_path / "a").vocab_size == 30522
    assert not list(tmp_path.glob(".*partial"))


def test_build_refuses_bad_configs_and_existing_folders(tmp_path):
    with pytest.raises(InvalidConfigError, match="not divisible"):
        build_new_model(family_values("gpt2", {"n_embd": 100, "n_head": 3}), tmp_path / "x")
    assert not (tmp_path / "x").exists()
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "keep.txt").write_text("mine")
    with pytest.raises(WorkbenchError, match="not empty"):
        build_new_model(family_values("llama", {"num_hidden_layers": 1}), tmp_path / "full")
    assert (tmp_path / "full" / "keep.txt").read_text() == "mine"


def test_cancel_leaves_nothing_behind(tmp_path):
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(CancelledError):
        build_new_model(family_values("llama", {"num_hidden_layers": 1}), tmp_path / "m",
                        cancel=cancel)
    assert list(tmp_path.iterdir()) == []


def test_new_classification_head_and_longer_positions(tiny_models, tmp_path):
    import torch

    folder = tiny_models["bert"]
    values = {**read_config_dict(folder), "architectures": ["BertForSequenceClassification"],
              "max_position_embeddings": 128, "id2label": {"0": "a", "1": "b", "2": "c"},
              "label2id": {"a": 0, "b": 1, "c": 2}}
    result = build_from_weights(values, folder, tmp_path / "cls", seed=1)
    r = result.report
    # the MLM checkpoint has no pooler and no classifier: both are initialised fresh
    assert set(r.missing) == {"classifier.weight", "classifier.bias",
                              "bert.pooler.dense.weight", "bert.pooler.dense.bias"}
    assert "zeros" in r.how["classifier.bias"] and "random" in r.how["classifier.weight"]
    assert "bert.encoder.layer.0.attention.self.query.weight" in r.loaded  # prefix aligned
    assert "cls.predictions.transform.dense.weight" in r.unexpected  # MLM head dropped
    [(name, stored, new)] = r.mismatched
    assert name == "bert.embeddings.position_embeddings.weight"
    assert stored == (64, 32) and new == (128, 32)
    assert "64 x 32 block copied" in r.how[name]
    old, rebuilt = _state(folder), _state(tmp_path / "cls")
    assert torch.equal(rebuilt[name][:64], old[name])
    assert json.loads((tmp_path / "cls" / "config.json").read_text())["max_position_embeddings"] \
        == 128


def test_save_in_place_keeps_a_backup_and_round_trips(tiny_models, tmp_path):
    folder = tmp_path / "llama"
    shutil.copytree(tiny_models["llama"], folder)
    original_text = (folder / "config.json").read_text()
    values = {**read_config_dict(folder), "rms_norm_eps": 1e-5}
    saved = save_config(values, folder)
    assert read_config_dict(folder) == values
    assert (folder / "config.json.bak").read_text() == original_text
    save_config({**values, "rms_norm_eps": 1e-4}, folder)
    assert (folder / "config.json.bak").read_text() == original_text  # first original kept
    assert saved.backup.endswith("config.json.bak")
    assert not [p for p in folder.iterdir() if p.name.endswith(".tmp")]


def test_save_as_leaves_the_original_untouched(tiny_models, tmp_path):
    folder = tiny_models["llama"]
    before = (folder / "config.json").read_bytes()
    values = read_config_dict(folder)
    same = save_config_as({**values, "attention_dropout": 0.1}, folder, tmp_path / "same")
    assert same.weights_copied and (tmp_path / "same" / "model.safetensors").is_file()
    other = save_config_as({**values, "num_hidden_layers": 1}, folder, tmp_path / "other")
    assert not other.weights_copied and not (tmp_path / "other" / "model.safetensors").exists()
    assert read_config_dict(tmp_path / "other")["num_hidden_layers"] == 1
    assert (folder / "config.json").read_bytes() == before
    assert not (folder / "config.json.bak").exists()
    path = export_json(values, tmp_path / "exported" / "llama.json")
    assert json.loads(open(path).read()) == values


def test_dropped_tensors_keep_their_stored_names(tiny_models, tmp_path):
    folder = tiny_models["bert"]  # BertForMaskedLM: tensors stored under "bert."
    values = {**read_config_dict(folder), "architectures": ["BertModel"],
              "num_hidden_layers": 1}
    r = build_from_weights(values, folder, tmp_path / "base").report
    stored = {t.name for t in inspect_checkpoint(folder, build_tree=False).tensors}
    assert set(r.unexpected) <= stored
    assert any(n.startswith("bert.encoder.layer.1.") for n in r.unexpected)
    assert "encoder.layer.0.attention.self.query.weight" in r.loaded  # prefix stripped


def test_sharded_pickled_and_tied_checkpoints(tiny_models, tmp_path):
    import torch
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(tiny_models["llama"])
    model.save_pretrained(tmp_path / "sharded", max_shard_size="20KB")
    assert (tmp_path / "sharded" / "model.safetensors.index.json").is_file()
    values = {**read_config_dict(tmp_path / "sharded"), "num_hidden_layers": 1}
    r = build_from_weights(values, tmp_path / "sharded", tmp_path / "from-shards").report
    assert r.missing == () and all(".layers.1." in n for n in r.unexpected)

    pickled = tmp_path / "pickled"
    pickled.mkdir()
    shutil.copy2(tiny_models["llama"] / "config.json", pickled / "config.json")
    torch.save(model.state_dict(), pickled / "pytorch_model.bin")  # read with weights_only
    r = build_from_weights(values, pickled, tmp_path / "from-bin").report
    assert r.missing == () and len(r.loaded) == 1 + 9 + 2  # embed, one layer, norm, lm_head

    gpt2 = {**read_config_dict(tiny_models["gpt2"]), "bos_token_id": 0, "eos_token_id": 0}
    result = build_from_weights(gpt2, tiny_models["gpt2"], tmp_path / "gpt2")
    assert result.report.missing == ()  # lm_head is tied to wte, stored once
    rebuilt = AutoModelForCausalLM.from_pretrained(tmp_path / "gpt2")
    assert rebuilt.lm_head.weight.data_ptr() == rebuilt.transformer.wte.weight.data_ptr()
    assert torch.equal(rebuilt.transformer.wte.weight, _state(tiny_models["gpt2"])[
        "transformer.wte.weight"])
