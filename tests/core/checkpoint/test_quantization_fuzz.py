"""Mutated quantization_config values: only InvalidConfigError may escape the reader."""

from __future__ import annotations

import copy
import json
import random

import pytest

from tests.fixtures.gguf_files import tiny_llama
from tests.fixtures.quantized import CONFIGS, write_quantized
from workbench.core.checkpoint.inspection import inspect_checkpoint
from workbench.core.checkpoint.quantization import read_quantization, to_model_names
from workbench.core.checkpoint.safetensors_header import read_safetensors_header
from workbench.core.errors import InvalidConfigError, WorkbenchError

WEIRD = [None, True, False, 0, -1, 1, 3, 8, 16, 17, 2**63, -(2**63), 1.5, float("nan"), "",
         "4", "nf4", "gptq", [], [1], ["lm_head"], [None], {}, {"a": 1}, {"weights": None},
         {"g": {"weights": {"num_bits": "x"}}}, {"g": {"weights": {"num_bits": 4}}}]
KEYS = ["quant_method", "bits", "group_size", "version", "checkpoint_format", "load_in_4bit",
        "load_in_8bit", "bnb_4bit_quant_type", "modules_to_not_convert", "ignore",
        "llm_int8_skip_modules", "weight_block_size", "fmt", "config_groups", "format"]


@pytest.fixture(scope="module")
def layouts(tmp_path_factory):
    """{method: (folder, tensors)} for every layout, and the source model."""
    model = tiny_llama(seed=0)
    root = tmp_path_factory.mktemp("qfuzz")
    out = {}
    for method in CONFIGS:
        folder, _ = write_quantized(model, root / method, method)
        out[method] = (folder, read_safetensors_header(folder / "model.safetensors")[0])
    return out, model


def _mutate(qc: dict, rng: random.Random) -> object:
    if rng.random() < 0.05:
        return rng.choice(WEIRD)  # the whole quantization_config replaced
    qc = copy.deepcopy(qc)
    for _ in range(rng.randint(1, 3)):
        key = rng.choice(KEYS + list(qc))
        if rng.random() < 0.15:
            qc.pop(key, None)
        else:
            qc[key] = rng.choice(WEIRD)
    return qc


def test_thousands_of_mutated_quantization_configs(layouts):
    (by_method, model), rng = layouts, random.Random(7)
    ok, errors = 0, []
    for i in range(3000):
        method = list(CONFIGS)[i % len(CONFIGS)]
        _, tensors = by_method[method]
        config = {"quantization_config": _mutate(CONFIGS[method], rng)}
        try:
            info = read_quantization(config, tensors)
            to_model_names(model, tensors, config)
            ok += 1
            assert info is None or info.stored_elements == sum(t.numel for t in tensors)
        except InvalidConfigError as e:
            errors.append(str(e))
    assert all("config.json" in m and "Restore" in m for m in errors)
    assert ok > 300 and len(errors) > 300, (ok, len(errors))


def test_mutated_configs_through_the_whole_inspector(layouts):
    (by_method, _), rng = layouts, random.Random(11)
    messages = []
    for i in range(24):
        method = list(CONFIGS)[i % len(CONFIGS)]
        folder, _ = by_method[method]
        config = json.loads((folder / "config.json").read_text())
        original = copy.deepcopy(config)
        config["quantization_config"] = _mutate(CONFIGS[method], rng)
        (folder / "config.json").write_text(json.dumps(config))
        try:
            info = inspect_checkpoint(folder)
            assert info.num_tensors > 0
        except WorkbenchError as e:
            messages.append(str(e))
        finally:
            (folder / "config.json").write_text(json.dumps(original))
    assert all("config" in m for m in messages)
