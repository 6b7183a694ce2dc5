"""Statistics of one stored tensor, read alone from safetensors or a .bin."""

from __future__ import annotations

import threading

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from workbench.core.checkpoint import tensor_stats as ts
from workbench.core.checkpoint.inspection import inspect_checkpoint
from workbench.core.checkpoint.tensor_stats import find_stored, tensor_stats
from workbench.core.errors import CancelledError


def _check(stats, ref: torch.Tensor):
    ref = ref.double().reshape(-1)
    assert stats.count == ref.numel()
    assert stats.mean == pytest.approx(ref.mean().item(), abs=1e-6)
    assert stats.std == pytest.approx(ref.std(unbiased=False).item(), rel=1e-4)
    assert stats.min == pytest.approx(ref.min().item())
    assert stats.max == pytest.approx(ref.max().item())
    assert stats.zeros == pytest.approx((ref == 0).double().mean().item())
    assert stats.counts.sum() == ref.numel()
    assert len(stats.edges) == len(stats.counts) + 1


def test_safetensors_stats_match_the_data(tmp_path):
    torch.manual_seed(0)
    a = torch.randn(300, 40)
    a[:10] = 0
    save_file({"a": a, "b": torch.arange(7, dtype=torch.float32)}, tmp_path / "w.safetensors")
    info = inspect_checkpoint(tmp_path / "w.safetensors")
    stats = tensor_stats(info.root, find_stored(info.tensors, "a"), bins=20)
    _check(stats, a)
    assert stats.zeros == pytest.approx(10 / 300)
    hist, _ = np.histogram(a.numpy(), bins=20, range=(stats.min, stats.max))
    assert np.abs(stats.counts - hist).sum() <= 2  # float edge rounding only


def test_chunked_reading_gives_the_same_result(tmp_path, monkeypatch):
    torch.manual_seed(1)
    a = torch.randn(64, 33).to(torch.bfloat16)
    save_file({"a": a}, tmp_path / "w.safetensors")
    info = inspect_checkpoint(tmp_path / "w.safetensors")
    whole = tensor_stats(info.root, info.tensors[0])
    monkeypatch.setattr(ts, "CHUNK_ELEMENTS", 100)  # several row slices
    monkeypatch.setattr(ts, "KEEP_ELEMENTS", 0)  # and a second reading pass
    chunked = tensor_stats(info.root, info.tensors[0])
    _check(chunked, a)
    assert np.array_equal(whole.counts, chunked.counts)


def test_nan_and_inf_are_counted_not_averaged(tmp_path):
    a = torch.tensor([1.0, 3.0, float("nan"), float("inf"), 0.0])
    save_file({"a": a}, tmp_path / "w.safetensors")
    info = inspect_checkpoint(tmp_path / "w.safetensors")
    stats = tensor_stats(info.root, info.tensors[0])
    assert stats.nonfinite == 2
    assert stats.mean == pytest.approx(4 / 3)
    assert (stats.min, stats.max) == (0.0, 3.0)


def test_pickled_bin_is_read_with_weights_only(tmp_path):
    torch.manual_seed(2)
    w = torch.randn(50, 8)
    torch.save({"layer.weight": w}, tmp_path / "pytorch_model.bin")
    info = inspect_checkpoint(tmp_path / "pytorch_model.bin")
    _check(tensor_stats(info.root, find_stored(info.tensors, "layer.weight")), w)


def test_real_minilm_weight(minilm_path):
    info = inspect_checkpoint(minilm_path)
    name = "encoder.layer.0.attention.self.query.weight"
    stored = find_stored(info.tensors, name) or find_stored(info.tensors, "bert." + name)
    stats = tensor_stats(info.root, stored)
    assert stats.count == 384 * 384 and 0 < stats.std < 1 and stats.zeros < 0.01


def test_find_stored_tolerates_a_prefix(tiny_models):
    info = inspect_checkpoint(tiny_models["bert"])
    assert find_stored(info.tensors, "bert.embeddings.word_embeddings.weight") is not None
    assert find_stored(info.tensors, "embeddings.word_embeddings.weight").name == \
        "bert.embeddings.word_embeddings.weight"
    assert find_stored(info.tensors, "no.such.weight") is None


def test_cancel_stops_reading(tmp_path, monkeypatch):
    save_file({"a": torch.randn(100, 10)}, tmp_path / "w.safetensors")
    info = inspect_checkpoint(tmp_path / "w.safetensors")
    monkeypatch.setattr(ts, "CHUNK_ELEMENTS", 10)
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(CancelledError):
        tensor_stats(info.root, info.tensors[0], cancel=cancel)
