"""A PEFT adapter folder loads as its base model with the adapter merged (for views that hook
modules: attention), and an adapter whose base is not on this machine is refused clearly."""

from __future__ import annotations

import json

import pytest


@pytest.fixture(scope="module")
def gpt2_adapter(tmp_path_factory):
    """A tiny GPT-2 base and a LoRA adapter over it whose B is not zero (the merge matters)."""
    import peft
    import torch
    import transformers

    root = tmp_path_factory.mktemp("adapter")
    torch.manual_seed(0)
    config = transformers.GPT2Config(n_embd=32, n_layer=2, n_head=4, vocab_size=96, n_positions=32)
    transformers.GPT2LMHeadModel(config).save_pretrained(root / "base")
    model = transformers.GPT2LMHeadModel.from_pretrained(root / "base")
    lora = peft.LoraConfig(r=4, lora_alpha=8, target_modules=["c_attn"], task_type="CAUSAL_LM",
                           init_lora_weights=False)
    peft.get_peft_model(model, lora).save_pretrained(root / "adapter")
    return root


def test_an_adapter_loads_merged_and_answers_like_peft(gpt2_adapter):
    import peft
    import torch
    import transformers

    from workbench.core.model.loading import load_model

    merged = load_model(gpt2_adapter / "adapter")
    assert type(merged) is transformers.GPT2LMHeadModel  # the task_type's class, merged
    assert not any("lora" in name for name, _ in merged.named_parameters())
    base = transformers.GPT2LMHeadModel.from_pretrained(gpt2_adapter / "base").eval()
    unmerged = peft.PeftModel.from_pretrained(
        transformers.GPT2LMHeadModel.from_pretrained(gpt2_adapter / "base"),
        str(gpt2_adapter / "adapter")).eval()
    ids = torch.tensor([[1, 5, 9, 14, 2]])
    with torch.no_grad():
        got, want, before = merged(ids).logits, unmerged(ids).logits, base(ids).logits
    assert torch.allclose(got, want, atol=1e-5)
    assert (got - before).abs().max() > 1e-3  # the adapter changed the model


def test_an_adapter_without_its_base_on_this_machine_is_refused(gpt2_adapter, tmp_path):
    import shutil

    from workbench.core.errors import WorkbenchError
    from workbench.core.model.loading import load_model

    moved = shutil.copytree(gpt2_adapter / "adapter", tmp_path / "adapter")
    config = json.loads((moved / "adapter_config.json").read_text())
    config["base_model_name_or_path"] = "meta-llama/Llama-3.2-1B"
    (moved / "adapter_config.json").write_text(json.dumps(config))
    with pytest.raises(WorkbenchError, match="not a folder on this machine"):
        load_model(moved)
    del config["base_model_name_or_path"]
    (moved / "adapter_config.json").write_text(json.dumps(config))
    with pytest.raises(WorkbenchError, match="does not name its base model"):
        load_model(moved)
