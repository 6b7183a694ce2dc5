"""merge_lora: the merged folder is a complete model, tokenizer files included."""

from __future__ import annotations

import json
import shutil

import torch

from tests.fixtures.training import tiny_model, tiny_spec
from workbench.core.checkpoint.tokenizer_info import TOKENIZER_FILES
from workbench.core.training.runs import FINAL_NAME, SPEC_NAME
from workbench.core.training.session import merge_lora


def _bpe_files(folder):
    """A real byte-level BPE (GPT-2 style) trained in-process: vocab.json + merges.txt."""
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel()
    tok.train_from_iterator(["a good day and a bad day"] * 20,
                            trainers.BpeTrainer(vocab_size=300, show_progress=False))
    tok.model.save(str(folder))  # writes vocab.json and merges.txt
    tok.save(str(folder / "tokenizer.json"))


def test_merge_copies_every_tokenizer_file(tmp_path):
    import peft
    from transformers import AutoModelForCausalLM

    base_path = tiny_model("gpt2")
    run = tmp_path / "run"
    final = run / FINAL_NAME
    final.mkdir(parents=True)
    tiny_spec("causal-lm", tmp_path / "unused", method="lora").save(run / SPEC_NAME)
    torch.manual_seed(0)
    base = AutoModelForCausalLM.from_pretrained(base_path)
    lora = peft.get_peft_model(base, peft.LoraConfig(r=2, target_modules=["c_attn"],
                                                     init_lora_weights=False))
    lora.save_pretrained(final)
    config = json.loads((final / "adapter_config.json").read_text())
    assert config["base_model_name_or_path"] == str(base_path)
    _bpe_files(final)
    (final / "tokenizer.model").write_bytes(b"\x0a\x04demo")  # a sentencepiece-style name
    shutil.copy(base_path / "tokenizer_config.json", final)
    present = [n for n in TOKENIZER_FILES if (final / n).is_file()]
    assert {"vocab.json", "merges.txt", "tokenizer.model", "tokenizer.json"} <= set(present)

    merged = merge_lora(run)
    for name in present:
        assert (merged / name).read_bytes() == (final / name).read_bytes(), name
    state = AutoModelForCausalLM.from_pretrained(merged).state_dict()
    assert not any("lora" in n for n in state)
    expected = lora.merge_and_unload().state_dict()["transformer.h.0.attn.c_attn.weight"]
    torch.testing.assert_close(state["transformer.h.0.attn.c_attn.weight"], expected)
