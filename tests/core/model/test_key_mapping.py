"""Stored names are mapped the way from_pretrained maps them (transformers v5 conversions)."""

from __future__ import annotations

import json

import pytest
import torch

from tests.fixtures.zoo import ZOO, build_entry
from workbench.cli import main
from workbench.core.checkpoint.inspection import inspect_checkpoint
from workbench.core.model.architecture import build_meta_model, config_from_dict
from workbench.core.model.key_mapping import plan_keys

# embed_out -> lm_head; experts stored per expert, fused on load; ViT's renamed layers
RENAMED = ("gpt_neox", "mixtral", "qwen3_moe", "qwen2_moe", "vit")
ENTRIES = {e.name: e for e in ZOO}


@pytest.fixture(scope="module")
def renamed(tmp_path_factory):
    root = tmp_path_factory.mktemp("renamed")
    return {name: build_entry(ENTRIES[name], root / name) for name in RENAMED}


def _loading_info(name, folder):
    import transformers

    cls = getattr(transformers, ENTRIES[name].model_class)
    model, info = cls.from_pretrained(folder, output_loading_info=True)
    return model, info


@pytest.mark.parametrize("name", RENAMED)
def test_weights_check_agrees_with_from_pretrained(renamed, name):
    folder = renamed[name]
    model, reference = _loading_info(name, folder)
    assert not reference["missing_keys"] and not reference["unexpected_keys"]
    info = inspect_checkpoint(folder)
    check = info.comparison
    assert (check.missing, check.unexpected, check.mismatched) == ((), (), ())
    assert not [w for w in info.warnings if "mismatch" in w]
    # every parameter transformers loaded is matched, under the model's own name
    assert set(check.matched) >= {n for n, _ in model.named_parameters()}


def test_the_plan_really_renames_and_fuses(renamed):
    cfg = config_from_dict(json.loads((renamed["mixtral"] / "config.json").read_text()))
    model = build_meta_model(cfg)
    info = inspect_checkpoint(renamed["mixtral"], build_tree=False)
    plan = plan_keys(model, list(info.tensors))
    fused = "model.layers.0.mlp.experts.gate_up_proj"
    sources = plan.sources[fused]
    assert len(sources) == 2 * 4  # w1 and w3 of 4 experts
    assert all(".block_sparse_moe.experts." in s for s in sources)
    assert plan.shapes[fused] == tuple(model.get_parameter(fused).shape)

    cfg = config_from_dict(json.loads((renamed["gpt_neox"] / "config.json").read_text()))
    info = inspect_checkpoint(renamed["gpt_neox"], build_tree=False)
    plan = plan_keys(build_meta_model(cfg), list(info.tensors))
    assert plan.sources["lm_head.weight"] == ("embed_out.weight",)


@pytest.mark.parametrize("name", RENAMED)
def test_config_from_weights_loads_every_stored_tensor(renamed, name, tmp_path, capsys):
    out = tmp_path / "rebuilt"
    code = main(["config", str(renamed[name]), "--from-weights", "--out", str(out), "--json"])
    data = json.loads(capsys.readouterr().out)
    assert code == 0, data
    assert (data["missing"], data["unexpected"], data["mismatched"]) == ([], [], [])
    source, _ = _loading_info(name, renamed[name])
    rebuilt, info = _loading_info(name, out)
    assert not info["missing_keys"]
    a, b = source.state_dict(), rebuilt.state_dict()
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a), [k for k in a if not torch.equal(a[k], b[k])]


def test_marian_sinusoidal_tables_are_not_missing(tmp_path):
    """They are never stored; the model lists them in _keys_to_ignore_on_load_missing."""
    folder = build_entry(ENTRIES["marian"], tmp_path / "marian")
    info = inspect_checkpoint(folder)
    assert info.comparison.missing == () and not info.warnings
    assert "model.encoder.embed_positions.weight" not in {t.name for t in info.tensors}


def test_weights_check_puts_every_stored_minilm_tensor_in_exactly_one_list(minilm_path):
    """MiniLM stores 104 tensors: 103 parameters and the position_ids buffer (issue 12)."""
    info = inspect_checkpoint(minilm_path)
    check = info.comparison
    lists = [check.matched, check.unexpected, check.ignored, [n for n, _, _ in check.mismatched]]
    stored = {t.name for t in info.tensors}
    assert sum(len(x) for x in lists) == len(stored) == info.num_tensors
    assert set().union(*map(set, lists)) == stored
    assert [n for n in check.ignored if n.endswith("position_ids")] == list(check.ignored) != []
    assert info.to_json()["weights_check"]["ignored"] == list(check.ignored)
    assert not [w for w in info.warnings if "not used" in w]
