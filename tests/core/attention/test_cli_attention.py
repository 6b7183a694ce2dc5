"""`workbench attention` writes the documented files and a JSON summary; errors exit 1."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tests.fixtures.attention import tiny_with_tokenizer
from workbench.cli import main
from workbench.core.attention.export import read_png_size


def _run(capsys, *argv) -> tuple[int, dict]:
    code = main(["attention", *map(str, argv), "--json"])
    return code, json.loads(capsys.readouterr().out)


def test_minilm_writes_files_and_summary(minilm_path, tmp_path, capsys):
    code, data = _run(capsys, minilm_path, "--text", "Attention is all you need.",
                      "--pair", "注意力就是一切", "--out", tmp_path)
    assert code == 0
    arr = np.load(tmp_path / "attentions.npy")
    t = len(data["tokens"])
    assert arr.dtype == np.float32
    assert arr.shape == (6, 12, t, t)
    assert data["shapes"] == {"self": [6, 12, t, t]}
    np.testing.assert_allclose(arr.sum(-1), 1.0, atol=1e-5)
    tokens = json.loads((tmp_path / "tokens.json").read_text(encoding="utf-8"))["tokens"]
    assert [x["text"] for x in tokens] == [x["text"] for x in data["tokens"]]
    assert any(x["text"] == "注" or x["unknown"] for x in tokens)
    rolled = np.load(tmp_path / "rollout.npy")
    assert rolled.shape == (t, t)
    np.testing.assert_allclose(rolled.sum(-1), 1.0, atol=1e-5)
    assert read_png_size(tmp_path / "mean_heads_layer5.png")[0] >= 512
    entropy = np.asarray(data["entropy"]["self"])
    assert entropy.shape == (6, 12)
    assert (entropy >= 0).all()
    assert (entropy <= np.log(t)).all()


def test_encoder_decoder_writes_one_file_per_kind(tmp_path, minilm_tokenizer_files, capsys):
    model = tiny_with_tokenizer("t5", tmp_path / "t5", minilm_tokenizer_files)
    out = tmp_path / "out"
    code, data = _run(capsys, model, "--text", "translate: the house is small",
                      "--target", "das Haus ist klein", "--out", out, "--layers", "1")
    assert code == 0
    t_src, t_tgt = len(data["tokens"]), len(data["target_tokens"])
    assert np.load(out / "attentions_encoder.npy").shape == (1, 4, t_src, t_src)
    assert np.load(out / "attentions_decoder.npy").shape == (1, 4, t_tgt, t_tgt)
    assert np.load(out / "attentions_cross.npy").shape == (1, 4, t_tgt, t_src)
    assert not (out / "rollout.npy").exists()  # one layer of two: no rollout, and it says so
    assert any("rollout" in n for n in data["notes"])


def test_checkpoint_without_tokenizer_fails_cleanly(tiny_models, tmp_path, capsys):
    code, data = _run(capsys, tiny_models["gpt2"], "--text", "hi", "--out", tmp_path / "o")
    assert code == 1
    assert "tokenizer" in data["error"]
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("bad", [["--layers", "x"], ["--layers", "9"]])
def test_bad_layers(minilm_path, tmp_path, capsys, bad):
    code, data = _run(capsys, minilm_path, "--text", "hi", "--out", tmp_path, *bad)
    assert code == 1
    assert "layer" in data["error"].lower()
