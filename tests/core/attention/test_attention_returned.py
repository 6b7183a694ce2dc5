"""Attention of models without recordable modules, and of models that share one layer."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tests.fixtures.zoo import ZOO, build_entry, tiny_tokenizer, zoo_text
from workbench.core.attention.aggregate import rollout
from workbench.core.attention.capture import find_attention_modules
from workbench.core.attention.compute import compute_attention

ENTRIES = {e.name: e for e in ZOO}
RETURNED = ("bloom", "falcon", "gpt_neo", "deberta", "deberta_v2", "mpnet")


@pytest.fixture(scope="module")
def tokenizer():
    return tiny_tokenizer()


def _model(name, tmp_path):
    import transformers

    folder = build_entry(ENTRIES[name], tmp_path / name)
    cls = getattr(transformers, ENTRIES[name].model_class)
    return cls.from_pretrained(folder, attn_implementation="eager").eval()


def _eager(model, tokenizer):
    enc = tokenizer(zoo_text(), return_tensors="pt")
    with torch.no_grad():
        out = model(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"],
                    output_attentions=True)
    return np.stack([a[0].numpy() for a in out.attentions])  # (layers, heads, T, T)


@pytest.mark.parametrize("name", RETURNED)
def test_models_that_only_return_attentions_match_eager(name, tmp_path, tokenizer):
    model = _model(name, tmp_path)
    assert not find_attention_modules(model)  # the case under test: nothing to hook
    maps = compute_attention(model, tokenizer, zoo_text())
    reference = _eager(model, tokenizer)
    np.testing.assert_array_equal(maps.maps["self"], reference)
    assert maps.layers["self"] == tuple(range(len(reference)))
    last = compute_attention(model, tokenizer, zoo_text(), layers=[-1])
    np.testing.assert_array_equal(last.maps["self"], reference[-1:])


def test_a_shared_layer_gives_one_map_per_application(tmp_path, tokenizer):
    model = _model("albert", tmp_path)  # one layer applied num_hidden_layers = 3 times
    assert len(find_attention_modules(model)["self"]) == 1
    maps = compute_attention(model, tokenizer, zoo_text())
    reference = _eager(model, tokenizer)
    assert maps.maps["self"].shape[0] == len(reference) == 3
    np.testing.assert_array_equal(maps.maps["self"], reference)
    assert maps.num_layers["self"] == 3 and not maps.partial
    assert not np.array_equal(reference[0], reference[1])  # really three different passes
    np.testing.assert_allclose(rollout(maps.maps["self"]), rollout(reference), rtol=0, atol=0)
    middle = compute_attention(model, tokenizer, zoo_text(), layers=[1])
    np.testing.assert_array_equal(middle.maps["self"], reference[1:2])
