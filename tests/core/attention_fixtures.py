"""Tiny real models that share the MiniLM tokenizer (vocabulary 30522), for attention tests."""

from __future__ import annotations

import shutil
from pathlib import Path

VOCAB = 30522


def tiny_with_tokenizer(family: str, folder: Path, tokenizer_files: list[Path],
                        **overrides) -> Path:
    """A tiny `family` model (tests/conftest.py) with vocabulary 30522 and MiniLM's tokenizer."""
    import torch
    import transformers

    from tests.conftest import TINY_MODELS

    config_cls, model_cls, kwargs = TINY_MODELS[family]
    kwargs = dict(kwargs, vocab_size=VOCAB, **overrides)
    if family == "bart":
        kwargs.update(pad_token_id=0, bos_token_id=101, eos_token_id=102,
                      decoder_start_token_id=102)
    torch.manual_seed(0)
    config = getattr(transformers, config_cls)(**kwargs)
    getattr(transformers, model_cls)(config).save_pretrained(folder)
    for f in tokenizer_files:
        shutil.copy(f, folder / f.name)
    return folder
