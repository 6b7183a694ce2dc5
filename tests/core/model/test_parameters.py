"""One parameter count, one return type, for the size estimate, the builder and training."""

from __future__ import annotations

import torch
import transformers

from workbench.core.model.builder import analyze
from workbench.core.model.parameters import ParameterCount, count_parameters


def test_tied_weights_count_once_and_frozen_ones_do_not_train():
    config = transformers.GPT2Config(n_embd=32, n_head=2, n_layer=1, vocab_size=100,
                                     n_positions=16)
    model = transformers.GPT2LMHeadModel(config)
    assert model.lm_head.weight is model.transformer.wte.weight
    unique = {id(p): p.numel() for p in model.parameters()}
    count = count_parameters(model)
    assert isinstance(count, ParameterCount)
    assert count == (sum(unique.values()), sum(unique.values()))
    model.transformer.wte.weight.requires_grad_(False)
    assert count_parameters(model) == (count.total - 100 * 32, count.total)


def test_the_config_estimate_counts_what_the_built_model_has():
    values = {"model_type": "gpt2", "n_embd": 32, "n_head": 2, "n_layer": 1, "vocab_size": 100,
              "n_positions": 16, "bos_token_id": 0, "eos_token_id": 0}
    estimate = analyze(values).estimate
    torch.manual_seed(0)
    built = transformers.GPT2Model(transformers.GPT2Config(**values))
    assert estimate.model_class == "GPT2Model"
    assert estimate.num_parameters == count_parameters(built).total
