"""A run that cannot fit is refused before the model is loaded, with the figures."""

from __future__ import annotations

import shutil

import pytest

from tests.fixtures.training import Recorder, data_file
from workbench.core.errors import InsufficientMemoryError
from workbench.core.training.runner import run_training
from workbench.core.training.spec import TrainSpec


def test_a_70b_shaped_run_is_refused_before_loading(tmp_path):
    import transformers

    from workbench.core.model.loading import demo_checkpoint_path

    folder = tmp_path / "huge"
    transformers.LlamaConfig(hidden_size=8192, intermediate_size=28672, num_hidden_layers=80,
                             num_attention_heads=64, num_key_value_heads=8,
                             vocab_size=30522).save_pretrained(folder)
    for name in ("tokenizer.json", "tokenizer_config.json", "vocab.txt"):
        if (demo_checkpoint_path() / name).is_file():
            shutil.copy(demo_checkpoint_path() / name, folder / name)
    spec = TrainSpec(model_path=str(folder), task="sequence-classification",
                     train_file=str(data_file("sequence-classification")), max_steps=1,
                     max_length=16, output_dir=str(tmp_path / "run"))
    recorder = Recorder()
    with pytest.raises(InsufficientMemoryError) as refused:
        run_training(spec, recorder)
    message = str(refused.value)
    assert "needs about" in message and "free there" in message and "lora" in message
    assert not any("loading model" in e.message for e in recorder.events)  # refused first
