"""`workbench new` and `workbench config`: same validation as the form, JSON out, exit status."""

from __future__ import annotations

import json
import shutil

from workbench.cli import main
from workbench.core.config.rules import validate
from workbench.core.config.schema import schema_for
from workbench.core.model.architecture import read_config_dict


def run(capsys, *argv):
    code = main(list(argv))
    out = capsys.readouterr().out
    return code, json.loads(out) if out.strip().startswith("{") else out


def test_new_builds_a_model_and_prints_its_size(capsys, tmp_path):
    from transformers import AutoModelForCausalLM

    code, data = run(capsys, "new", "llama", "--set", "num_hidden_layers=1", "--set",
                     "vocab_size=500", "--set", 'rope_scaling={"type":"linear","factor":2}',
                     "--out", str(tmp_path / "m"), "--seed", "3", "--json")
    assert code == 0, data
    model = AutoModelForCausalLM.from_pretrained(tmp_path / "m")
    assert data["num_parameters"] == sum(p.numel() for p in model.parameters())
    assert model.config.rope_parameters["factor"] == 2
    assert data["seed"] == 3 and "model.safetensors" in data["files"]


def test_new_rejects_invalid_config_with_the_form_message(capsys, tmp_path):
    code, data = run(capsys, "new", "gpt2", "--set", "n_embd=100", "--set", "n_head=3",
                     "--out", str(tmp_path / "bad"), "--json")
    assert code == 1 and not (tmp_path / "bad").exists()
    values = {"model_type": "gpt2", "n_embd": 100, "n_head": 3}
    [issue] = validate(values, schema_for(values)).errors
    assert issue.message in data["error"]


def test_config_from_weights_reports_four_lists(capsys, tmp_path, tiny_models):
    code, data = run(capsys, "config", str(tiny_models["bert"]), "--set", "num_hidden_layers=1",
                     "--set", "max_position_embeddings=96", "--from-weights", "--out",
                     str(tmp_path / "small"), "--json")
    assert code == 0, data
    assert {"loaded", "missing", "unexpected", "mismatched"} <= set(data)
    assert data["missing"] == []
    assert all(n.startswith("bert.encoder.layer.1.") for n in data["unexpected"])
    assert len(data["unexpected"]) == 16
    [m] = data["mismatched"]
    assert m["name"] == "bert.embeddings.position_embeddings.weight"
    assert m["stored_shape"] == [64, 32] and m["new_shape"] == [96, 32]
    assert data["num_parameters"] < data["original_num_parameters"]
    assert read_config_dict(tmp_path / "small")["num_hidden_layers"] == 1


def test_config_in_place_dry_run_and_errors(capsys, tmp_path, tiny_models):
    folder = tmp_path / "llama"
    shutil.copytree(tiny_models["llama"], folder)
    before = (folder / "config.json").read_text()
    code, data = run(capsys, "config", str(folder), "--set", "num_hidden_layers=4",
                     "--dry-run", "--json")
    assert code == 0 and data["saved"] is None and data["changed"] == {
        "num_hidden_layers": [2, 4]}
    assert data["num_parameters"] > data["original_num_parameters"]
    assert len([n for n in data["weights_fit"]["missing"] if ".layers." in n]) == 18
    assert (folder / "config.json").read_text() == before
    code, data = run(capsys, "config", str(folder), "--set", "num_key_value_heads=3", "--json")
    assert code == 1 and "not divisible by num_key_value_heads (3)" in data["error"]
    code, data = run(capsys, "config", str(folder), "--set", "rms_norm_eps=1e-5", "--json")
    assert code == 0 and data["backup"]
    assert read_config_dict(folder)["rms_norm_eps"] == 1e-5
    assert (folder / "config.json.bak").read_text() == before
    code, data = run(capsys, "config", str(folder), "--from-weights", "--json")
    assert code == 1 and "--out" in data["error"]


def test_human_output(capsys, tiny_models):
    code, text = run(capsys, "config", str(tiny_models["t5"]), "--set", "num_layers=1",
                     "--dry-run")
    assert code == 0 and "num_layers: 2 -> 1" in text and "parameters" in text


def test_unknown_model_type_can_be_edited_but_not_built(capsys, tmp_path):
    folder = tmp_path / "custom"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"model_type": "my_net", "width": 3}))
    code, data = run(capsys, "config", str(folder), "--set", "width=4", "--json")
    assert code == 0, data
    assert data["num_parameters"] is None and "my_net" in data["warnings"][0]
    assert read_config_dict(folder) == {"model_type": "my_net", "width": 4}
    code, data = run(capsys, "config", str(folder), "--set", "width=4", "--from-weights",
                     "--out", str(tmp_path / "x"), "--json")
    assert code == 1 and "error" in data


def test_config_from_weights_reads_a_wrapped_state_dict_bin(capsys, tmp_path, tiny_models):
    """A .bin saved as {"state_dict": ...} (training-script style) builds like a bare one."""
    import torch
    from safetensors.torch import load_file

    folder = tmp_path / "wrapped"
    folder.mkdir()
    shutil.copy(tiny_models["bert"] / "config.json", folder)
    stored = load_file(tiny_models["bert"] / "model.safetensors")
    torch.save({"state_dict": stored, "epoch": 3}, folder / "pytorch_model.bin")
    code, data = run(capsys, "config", str(folder), "--from-weights", "--out",
                     str(tmp_path / "rebuilt"), "--json")
    assert code == 0, data
    assert data["missing"] == [] and data["mismatched"] == [] and data["unexpected"] == []
    assert len(data["loaded"]) >= len(stored)
    rebuilt = load_file(tmp_path / "rebuilt" / "model.safetensors")
    name = "bert.encoder.layer.0.attention.self.query.weight"
    assert torch.equal(rebuilt[name], stored[name])
