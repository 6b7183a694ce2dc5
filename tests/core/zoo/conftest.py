"""The zoo, built once per test run: every entry saved with save_pretrained, then loaded back."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.fixtures.zoo import ZOO, build_entry, tiny_tokenizer


@pytest.fixture(scope="session")
def zoo_root(tmp_path_factory) -> dict[str, Path]:
    """{name: checkpoint folder} for every zoo entry."""
    root = tmp_path_factory.mktemp("zoo")
    return {e.name: build_entry(e, root / e.name) for e in ZOO}


@pytest.fixture(autouse=True)
def _one_thread():
    """Tiny models gain nothing from intra-op threads; on 2 busy cores they cost system time."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def zoo_loaded(zoo_root):
    """name -> (model loaded by transformers with eager attention, its loading info), cached."""
    import transformers

    cache: dict = {}

    def load(name: str):
        if name not in cache:
            entry = next(e for e in ZOO if e.name == name)
            cls = getattr(transformers, entry.model_class)
            model, info = cls.from_pretrained(zoo_root[name], attn_implementation="eager",
                                              output_loading_info=True)
            cache[name] = (model.eval(), info)
        return cache[name]

    return load


@pytest.fixture(scope="session")
def zoo_tokenizer():
    return tiny_tokenizer()
