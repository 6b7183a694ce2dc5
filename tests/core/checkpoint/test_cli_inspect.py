"""The `workbench inspect` / `workbench cache` contract: JSON keys, exit codes, no tracebacks."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import make_fake_hub_cache
from workbench.cli import main

REQUIRED_KEYS = {"path", "format", "model_type", "architecture", "num_parameters", "num_tensors",
                 "total_bytes", "dtypes", "shards", "config", "warnings"}


def test_inspect_json(minilm_path, capsys):
    assert main(["inspect", str(minilm_path), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert REQUIRED_KEYS <= set(data)
    assert data["num_parameters"] == 22_713_728  # all stored elements, position_ids included
    assert data["dtypes"] == {"I64": 512, "F32": 22_713_216}
    assert data["shards"] == ["model.safetensors"]
    assert data["config"]["model_type"] == "bert"
    assert data["total_bytes"] == 512 * 8 + 22_713_216 * 4


def test_inspect_text(minilm_path, capsys):
    assert main(["inspect", str(minilm_path)]) == 0
    out = capsys.readouterr().out
    assert "BertModel" in out and "22.7 M" in out


def test_inspect_error_json_and_text(tmp_path, capsys):
    assert main(["inspect", str(tmp_path / "missing"), "--json"]) == 1
    captured = capsys.readouterr()
    assert json.loads(captured.out) == {"error": f"{tmp_path / 'missing'} does not exist. "
                                                 "Check the path, or pick the folder with "
                                                 "File > Open."}
    assert main(["inspect", str(tmp_path / "missing")]) == 1
    captured = capsys.readouterr()
    assert captured.err.startswith("error: ") and "Traceback" not in captured.err


def test_corrupt_file_in_a_subprocess_has_no_traceback(tmp_path):
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"\xff" * 20)
    proc = subprocess.run([sys.executable, "-m", "workbench", "inspect", str(bad), "--json"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1
    assert "Traceback" not in proc.stdout + proc.stderr
    assert "absurd header size" in json.loads(proc.stdout)["error"]


def test_cache_listing_and_opening_a_snapshot(tiny_models, tmp_path, monkeypatch, capsys):
    cache = tmp_path / "hf_home" / "hub"
    snap = make_fake_hub_cache(cache, tiny_models["gpt2"], "tiny/gpt2")
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf_home"))
    assert main(["cache", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["cache_dir"] == str(cache)
    [model] = data["models"]
    assert model["repo_id"] == "tiny/gpt2"
    assert model["refs"] == ["main"]
    assert model["size_on_disk"] > 0
    assert Path(model["snapshot_path"]) == snap
    assert main(["inspect", model["snapshot_path"], "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["model_type"] == "gpt2"


def test_cache_honours_hf_hub_cache(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "elsewhere"))
    assert main(["cache", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data == {"cache_dir": str(tmp_path / "elsewhere"), "models": []}


@pytest.mark.parametrize("argv", [["--version"]])
def test_version(argv, capsys):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 0
    assert "workbench" in capsys.readouterr().out


def test_load_tokenizer_refuses_a_folder_without_vocabulary(tiny_models):
    """transformers v5 builds a specials-only tokenizer from a bare config; we say so instead."""
    from workbench.core.errors import WorkbenchError
    from workbench.core.model.loading import load_tokenizer

    with pytest.raises(WorkbenchError, match="no tokenizer files") as exc:
        load_tokenizer(tiny_models["bert"])
    message = str(exc.value)
    assert message.startswith("This checkpoint has no tokenizer files") and "\n" not in message


def test_a_specials_only_tokenizer_is_refused(tiny_models, tmp_path):
    import shutil

    from workbench.core.errors import WorkbenchError
    from workbench.core.model.loading import load_tokenizer

    folder = shutil.copytree(tiny_models["bert"], tmp_path / "bert")
    (folder / "tokenizer_config.json").write_text('{"tokenizer_class": "BertTokenizer"}')
    with pytest.raises(WorkbenchError, match=r"no tokenizer vocabulary|no usable tokenizer"):
        load_tokenizer(folder)


def test_a_model_type_without_tokenizer_mapping_gets_our_advice_first(tmp_path):
    """Marian has no AutoTokenizer mapping: transformers lists ~300 config classes."""
    from tests.fixtures.zoo import ZOO, build_entry
    from workbench.core.errors import WorkbenchError
    from workbench.core.model.loading import load_tokenizer

    folder = build_entry(next(e for e in ZOO if e.name == "marian"), tmp_path / "marian")
    (folder / "tokenizer_config.json").write_text("{}")
    with pytest.raises(WorkbenchError) as exc:
        load_tokenizer(folder)
    message = str(exc.value)
    assert message.startswith("This checkpoint has no usable tokenizer. Copy the tokenizer")
    assert "\n" not in message and len(message) < 500


def test_load_tokenizer_on_the_demo_model(minilm_path):
    from workbench.core.model.loading import load_tokenizer

    assert len(load_tokenizer(minilm_path)) == 30522
