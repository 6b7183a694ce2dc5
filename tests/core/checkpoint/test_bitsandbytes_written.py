"""Checkpoints written by the real bitsandbytes library (committed; see
tests/fixtures/make_bitsandbytes.py): inspection counts them as the unpacked model, finds no false
weights-check warnings, and say what to install to run them. bitsandbytes 0.50 writes 4-bit
without double quantization by default and a `weight_format` tensor for 8-bit, both unlike the
hand-written layouts in tests/fixtures/quantized.py, which these real files complement."""

from __future__ import annotations

import importlib.util

import pytest

from tests.fixtures.gguf_files import tiny_llama
from tests.fixtures.make_bitsandbytes import ROOT
from workbench.core.checkpoint.inspection import inspect_checkpoint
from workbench.core.errors import MissingDependencyError
from workbench.core.model.loading import load_model

WRITTEN = {"nf4": (4, "nf4"), "nf4-double": (4, "nf4"), "int8": (8, "int8")}  # -> bits, detail


@pytest.mark.parametrize("name", list(WRITTEN))
def test_library_written_checkpoint_counts_as_the_unpacked_model(name):
    source = tiny_llama(seed=0)
    info = inspect_checkpoint(ROOT / name)
    q = info.quantization
    assert (q.method, q.bits, q.detail) == ("bitsandbytes", *WRITTEN[name])
    assert len(q.quantized_modules) == 14  # every Linear of the 2 decoder layers
    assert q.logical_parameters == info.num_parameters == source.num_parameters()
    assert q.stored_bytes == info.total_bytes
    assert not [w for w in info.warnings if "mismatch" in w or "missing" in w], info.warnings
    assert not (info.comparison.missing or info.comparison.mismatched)
    assert len(info.comparison.matched) == len(dict(source.named_parameters()))


@pytest.mark.skipif(importlib.util.find_spec("bitsandbytes") is not None,
                    reason="bitsandbytes is installed here (it is not a test dependency)")
def test_loading_without_bitsandbytes_says_what_to_install():
    with pytest.raises(MissingDependencyError, match=r"pip install .*bitsandbytes"):
        load_model(ROOT / "nf4")
