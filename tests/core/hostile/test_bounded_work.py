"""Bounded work (issue 11): configs that ask for absurd structure are refused before any model
is built, divisor suggestions take O(sqrt n), and real allocations are checked against the
device's free memory first, leaving nothing behind."""

from __future__ import annotations

import json
import shutil

import pytest

from workbench.core.errors import InsufficientMemoryError, InvalidConfigError
from workbench.core.model.limits import MAX_LAYERS, ensure_fits, free_memory


@pytest.fixture
def demo_copy(tmp_path, minilm_path):
    folder = tmp_path / "demo"
    folder.mkdir()
    shutil.copy(minilm_path / "config.json", folder / "config.json")
    return folder


def _set(folder, **changes):
    data = json.loads((folder / "config.json").read_text())
    data.update(changes)
    (folder / "config.json").write_text(json.dumps(data))


@pytest.mark.parametrize("layers", [10_000, 1_000_000])
def test_inspect_refuses_to_build_absurd_layer_counts(demo_copy, layers):
    from workbench.core.checkpoint.inspection import inspect_checkpoint

    _set(demo_copy, num_hidden_layers=layers)
    info = inspect_checkpoint(demo_copy)
    assert info.module_tree is None
    assert any(f"num_hidden_layers = {layers:,} is above the limit of {MAX_LAYERS}" in w
               for w in info.warnings)


def test_graph_says_why_there_is_no_structure(demo_copy, capsys):
    from workbench.cli import main

    _set(demo_copy, num_hidden_layers=10_000)
    assert main(["graph", str(demo_copy), "--json"]) == 1
    assert "above the limit of 512 layers" in json.loads(capsys.readouterr().out)["error"]


def test_config_dry_run_refuses_a_million_layers(minilm_path, capsys):
    from workbench.cli import main

    assert main(["config", str(minilm_path), "--set", "num_hidden_layers=1000000",
                 "--dry-run", "--json"]) == 1
    assert "num_hidden_layers = 1,000,000" in json.loads(capsys.readouterr().out)["error"]


def test_new_refuses_ten_thousand_layers(tmp_path, capsys):
    from workbench.cli import main

    out = tmp_path / "new"
    assert main(["new", "llama", "--set", "num_hidden_layers=10000", "--out", str(out),
                 "--json"]) == 1
    assert "above the limit" in json.loads(capsys.readouterr().out)["error"]
    assert list(tmp_path.iterdir()) == []


def test_nested_sub_config_layers_are_bounded_too():
    from workbench.core.model.limits import check_structure

    with pytest.raises(InvalidConfigError, match=r"text_config\.num_hidden_layers"):
        check_structure({"model_type": "llava", "text_config": {"num_hidden_layers": 5000}})
    check_structure({"text_config": {"num_hidden_layers": 126}, "num_local_experts": 256})


def test_form_shows_the_layer_limit_on_the_field():
    from workbench.core.config.rules import validate
    from workbench.core.config.schema import schema_for
    from workbench.core.model.builder import family_values

    values = {**family_values("llama"), "num_hidden_layers": 600}
    issues = validate(values, schema_for(values)).for_field("num_hidden_layers")
    assert any("limit of 512 layers" in i.message for i in issues)


def test_divisors_are_found_in_sqrt_time():
    from workbench.core.config.rules import _near_divisors, divisors

    for n in range(1, 2000):
        assert divisors(n) == [d for d in range(1, n + 1) if n % d == 0]
    assert divisors(1_000_000_007) == [1, 1_000_000_007]  # prime: ~31,623 steps, not 10**9
    assert _near_divisors(2**31 - 2, 12) == [9, 11, 14]  # 2 x 3^2 x 7 x 11 x 31 x 151 x 331


def test_hidden_size_prime_gets_suggestions_fast(minilm_path, capsys):
    from workbench.cli import main

    assert main(["config", str(minilm_path), "--set", "hidden_size=1000000007",
                 "--dry-run", "--json"]) == 1
    error = json.loads(capsys.readouterr().out)["error"]
    assert "hidden_size to 999999996 or 1000000008" in error


def test_new_with_70b_like_sizes_checks_memory_first(tmp_path):
    """Sizes far beyond any machine's memory (~55 TB): refused with both figures, no folder."""
    from workbench.core.model.builder import build_new_model, family_values

    values = {**family_values("llama"), "hidden_size": 65536, "intermediate_size": 262144,
              "num_hidden_layers": 200, "num_attention_heads": 64, "num_key_value_heads": 8,
              "vocab_size": 128256}
    with pytest.raises(InsufficientMemoryError, match=r"needs about .*TiB on cpu, but only "
                                                      r".* is free there"):
        build_new_model(values, tmp_path / "big")
    assert list(tmp_path.iterdir()) == []  # no .partial folder left


def test_build_from_weights_checks_memory_first(tmp_path, tiny_models):
    from workbench.core.model.architecture import read_config_dict
    from workbench.core.model.builder import build_from_weights

    values = {**read_config_dict(tiny_models["bert"]), "hidden_size": 65536,
              "intermediate_size": 262144, "num_hidden_layers": 200, "vocab_size": 500000,
              "num_attention_heads": 64}
    with pytest.raises(InsufficientMemoryError, match="is free there"):
        build_from_weights(values, tiny_models["bert"], tmp_path / "out")
    assert list(tmp_path.iterdir()) == []


def test_free_memory_is_read_and_checked():
    free = free_memory("cpu")
    assert free is not None and free > 0
    ensure_fits(1024, "cpu", "A tiny buffer", "-")
    with pytest.raises(InsufficientMemoryError, match="A huge buffer needs about"):
        ensure_fits(free * 2, "cpu", "A huge buffer", "Use less.")


def test_graph_copy_is_never_wider_than_the_config():
    import transformers

    from workbench.core.graph.dataflow_fallback import tiny_config

    # 1,024 heads of width 1: a fixed head size of 8 would make the copy 8x wider
    cfg = transformers.DebertaV2Config(hidden_size=1024, num_attention_heads=1024,
                                       intermediate_size=4096, num_hidden_layers=24,
                                       pooler_hidden_size=1024)
    tiny = tiny_config(cfg)
    assert tiny.hidden_size <= cfg.hidden_size
    assert tiny.pooler_hidden_size <= cfg.hidden_size
    assert tiny.num_hidden_layers == 2


def test_attention_capture_checks_memory(minilm_path, monkeypatch):
    """The capture estimate is checked against free memory before the forward pass."""
    from workbench.core.attention import compute
    from workbench.core.model import limits
    from workbench.core.model.loading import load_model, load_tokenizer

    model = load_model(minilm_path, attn_implementation="eager")
    tokenizer = load_tokenizer(minilm_path)
    monkeypatch.setattr(limits, "free_memory", lambda device="cpu": 1000)  # a full machine
    with pytest.raises(InsufficientMemoryError, match=r"Attention of .* tokens needs about"):
        compute.compute_attention(model, tokenizer, "a short text to look at")
