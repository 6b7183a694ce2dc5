"""Quantized checkpoints in each method's documented layout, checked against the unpacked model:
logical parameter count, quantized modules, metadata, real bytes, weights check, memory, and a
clear error where running needs a library or GPU that is not here."""

from __future__ import annotations

import json

import pytest
import torch

from tests.fixtures.gguf_files import tiny_llama
from tests.fixtures.quantized import CONFIGS, write_quantized
from workbench.core.checkpoint.inspection import inspect_checkpoint
from workbench.core.checkpoint.quantization import read_quantization
from workbench.core.errors import InvalidConfigError, MissingDependencyError
from workbench.core.model.loading import load_model

EXPECTED = {  # method -> (reported method, bits, group size, detail)
    "gptq": ("gptq", 4, 32, "gptq"),
    "awq": ("awq", 4, 32, "gemm"),
    "bnb-4bit": ("bitsandbytes", 4, None, "nf4"),
    "bnb-8bit": ("bitsandbytes", 8, None, "int8"),
    "fp8": ("fp8", 8, None, "e4m3"),
    "compressed-tensors": ("compressed-tensors", 4, 32, "pack-quantized"),
}


@pytest.fixture(scope="module")
def source():
    return tiny_llama(seed=0)


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory, source) -> dict:
    root = tmp_path_factory.mktemp("quantized")
    return {m: write_quantized(source, root / m, m) for m in CONFIGS}


@pytest.mark.parametrize("method", list(CONFIGS))
def test_counts_match_the_unpacked_model(checkpoints, source, method):
    from safetensors import safe_open

    folder, quantized = checkpoints[method]
    info = inspect_checkpoint(folder)
    q = info.quantization
    assert (q.method, q.bits, q.group_size, q.detail) == EXPECTED[method]
    assert set(q.quantized_modules) == quantized and len(quantized) == 14
    # The logical count is the unquantized model's, parameter for parameter.
    assert q.logical_parameters == info.num_parameters == source.num_parameters() == 86_336
    with safe_open(str(folder / "model.safetensors"), "pt") as f:
        stored = {k: f.get_slice(k) for k in f.keys()}
        numel = {k: int(torch.tensor(s.get_shape()).prod()) for k, s in stored.items()}
        nbytes = {k: numel[k] * getattr(torch, _torch_dtype(s.get_dtype())).itemsize
                  for k, s in stored.items()}
    assert q.stored_elements == sum(numel.values())
    # Metadata: whatever is neither a parameter of the model nor a packed weight.
    params = set(source.state_dict())
    metadata = [k for k in numel if k not in params and not k.endswith((".qweight",
                                                                          ".weight_packed"))]
    assert metadata and q.metadata_elements == sum(numel[k] for k in metadata)
    assert q.stored_bytes == info.total_bytes == sum(nbytes.values())
    assert info.memory.as_stored == info.total_bytes
    assert info.memory.bf16 == 2 * source.num_parameters()
    # No false weights-check warnings for packed tensors, scales and zeros.
    assert not [w for w in info.warnings if "mismatch" in w], info.warnings
    assert not (info.comparison.missing or info.comparison.mismatched)
    assert len(info.comparison.matched) == len(dict(source.named_parameters()))


def _torch_dtype(code: str) -> str:
    return {"F16": "float16", "F32": "float32", "I32": "int32", "I64": "int64", "U8": "uint8",
            "I8": "int8", "F8_E4M3": "float8_e4m3fn"}[code]


def test_packed_layout_that_disagrees_with_its_config_is_reported(checkpoints, tmp_path):
    """The same GPTQ tensors under a config claiming 8 bits unpack to half the weights."""
    import shutil

    folder, _ = checkpoints["gptq"]
    bad = tmp_path / "bad"
    shutil.copytree(folder, bad)
    config = json.loads((bad / "config.json").read_text())
    config["quantization_config"]["bits"] = 8
    (bad / "config.json").write_text(json.dumps(config))
    info = inspect_checkpoint(bad)
    assert info.quantization.bits == 8
    assert info.num_parameters < 86_336
    assert any("14 weight(s) have a different shape" in w for w in info.warnings)


def test_unquantized_checkpoint_has_no_quantization(tiny_models):
    assert inspect_checkpoint(tiny_models["llama"]).quantization is None


@pytest.mark.parametrize(("method", "package"), [
    ("gptq", "gptqmodel"), ("awq", "gptqmodel"), ("bnb-4bit", "bitsandbytes"),
    ("bnb-8bit", "bitsandbytes")])
def test_running_without_the_library_says_what_to_install(checkpoints, method, package):
    import importlib.util

    if importlib.util.find_spec(package) is not None:
        pytest.skip(f"{package} is installed here")
    folder, _ = checkpoints[method]
    with pytest.raises(MissingDependencyError, match=r"pip install .*Inspect, the tensor table"):
        load_model(folder)


def test_fp8_is_dequantized_on_cpu_and_runs(checkpoints, source):
    """transformers dequantizes fp8 weights to bf16 where no GPU is present; the model runs."""
    folder, _ = checkpoints["fp8"]
    model = load_model(folder, dtype="float32")
    ids = torch.tensor([[1, 5, 7, 9]])
    with torch.no_grad():
        got = model(ids).logits.float()
        want = source(ids).logits
    assert (got - want).abs().max().item() < 0.25 * want.abs().max().item()
    assert not torch.equal(got, want)  # it really went through fp8


@pytest.mark.parametrize(("change", "message"), [
    ({"quant_method": None}, "no quant_method"),
    ({"bits": "four"}, "bits is 'four', not a whole number"),
    ({"bits": 99}, "between 1 and 16"),
    ({"group_size": 0}, "use a positive size"),
    ({"modules_to_not_convert": [1, 2]}, "not a list of names"),
])
def test_malformed_quantization_config(change, message):
    config = {"quantization_config": dict(CONFIGS["gptq"], **change)}
    with pytest.raises(InvalidConfigError, match=message) as e:
        read_quantization(config, [])
    assert "config.json" in str(e.value) and "Restore config.json" in str(e.value)


def test_malformed_config_is_a_warning_in_inspect(checkpoints, tmp_path):
    import shutil

    folder, _ = checkpoints["awq"]
    bad = tmp_path / "bad"
    shutil.copytree(folder, bad)
    config = json.loads((bad / "config.json").read_text())
    config["quantization_config"]["bits"] = -3
    (bad / "config.json").write_text(json.dumps(config))
    info = inspect_checkpoint(bad)
    assert info.quantization is None
    assert any("quantization bits is -3" in w for w in info.warnings)


def test_compressed_tensors_loads_through_the_library_and_equals_the_reference(checkpoints,
                                                                               source):
    """compressed-tensors (CPU) unpacks the checkpoint; the result equals the model rebuilt
    from the same int4 codes and scales by hand, so the layout written is the library's."""
    from tests.fixtures.gguf_files import tiny_llama
    from tests.fixtures.quantized import GROUP, symmetric_int4

    folder, quantized = checkpoints["compressed-tensors"]
    model = load_model(folder)
    reference = tiny_llama(seed=0)
    with torch.no_grad():
        for name, p in reference.named_parameters():
            if name.removesuffix(".weight") in quantized:
                codes, scale = symmetric_int4(p.float())
                grouped = codes.float().reshape(p.shape[0], -1, GROUP)
                p.copy_((grouped * scale.half().float()[..., None]).reshape(p.shape))
            else:
                p.copy_(p.half().float())  # stored in float16
        ids = torch.tensor([[1, 5, 7, 9]])
        got, want = model(ids).logits.float(), reference(ids).logits
    torch.testing.assert_close(got, want, rtol=0, atol=1e-5)
    assert not torch.allclose(got, source(ids).logits, atol=1e-3)  # it is the 4-bit model


def test_quantized_layout_the_loader_does_not_recognise_is_refused(checkpoints, tmp_path):
    """Without quantization_status "compressed" compressed-tensors expects other tensors and
    transformers would initialise those weights randomly; load_model refuses instead."""
    import shutil

    from workbench.core.errors import ModelBuildError

    folder, _ = checkpoints["compressed-tensors"]
    bad = tmp_path / "bad"
    shutil.copytree(folder, bad)
    config = json.loads((bad / "config.json").read_text())
    del config["quantization_config"]["quantization_status"]
    (bad / "config.json").write_text(json.dumps(config))
    with pytest.raises(ModelBuildError, match=r"weight\(s\) missing .*random weights"):
        load_model(bad)
