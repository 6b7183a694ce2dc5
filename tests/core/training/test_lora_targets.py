"""LoRA default targets: one core function, equal to what peft itself picks and what trains."""

from __future__ import annotations

import pytest

from workbench.core.errors import WorkbenchError
from workbench.core.training.lora_targets import (
    default_targets,
    lora_choice,
    matches,
    tree_modules,
)

CLS = "sequence-classification"


def tiny_config(model_type: str):
    """A 2-layer config of `model_type`, small enough to build for real in milliseconds."""
    import transformers

    common = {"vocab_size": 100, "max_position_embeddings": 64, "pad_token_id": 0}
    sizes = {"hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 4,
             "intermediate_size": 64}
    special = {"gpt2": {"n_embd": 32, "n_layer": 2, "n_head": 4, "n_positions": 64},
               "distilbert": {"dim": 32, "n_layers": 2, "n_heads": 4, "hidden_dim": 64}}
    kwargs = {**common, **special.get(model_type, sizes)}
    if model_type == "gpt2":
        kwargs.pop("max_position_embeddings")
    return transformers.AutoConfig.for_model(model_type, **kwargs)


def adapted_leaf_names(peft_model) -> set[str]:
    """Leaf names of the modules peft actually wrapped with LoRA."""
    return {name.rsplit(".", 1)[-1] for name, module in peft_model.named_modules()
            if hasattr(module, "lora_A") and not name.endswith("lora_A")}


# deberta, deberta-v2 and phi are the model types where the old form table disagreed.
@pytest.mark.parametrize("model_type", ["deberta", "deberta-v2", "phi", "gpt2", "bert"])
def test_defaults_are_what_peft_itself_picks(model_type):
    import peft
    import torch
    import transformers

    from workbench.core.training.model_setup import default_lora_targets

    with torch.device("meta"):
        model = transformers.AutoModelForSequenceClassification.from_config(
            tiny_config(model_type))
    ours = default_lora_targets(model)
    by_peft = peft.get_peft_model(model, peft.LoraConfig(task_type="SEQ_CLS", r=2))
    assert set(ours) == adapted_leaf_names(by_peft)


@pytest.mark.parametrize("model_type", ["deberta", "phi", "distilbert"])
def test_training_adapts_the_defaults(model_type):
    import transformers

    from workbench.core.model.architecture import build_meta_model, module_tree
    from workbench.core.training.model_setup import apply_lora
    from workbench.core.training.spec import TrainSpec

    config = tiny_config(model_type)
    model = transformers.AutoModelForSequenceClassification.from_config(config)
    spec = TrainSpec(model_path="m", task=CLS, train_file="t.csv", method="lora", lora_r=2)
    trained = adapted_leaf_names(apply_lora(model, spec))
    shown = lora_choice(model_type, tree_modules(module_tree(build_meta_model(config))))
    assert trained == set(shown.defaults)
    assert trained <= set(shown.candidates)


def test_fallback_conventions_and_regex_defaults():
    modules = [("", "Net"), ("blocks.0.attn.q_lin", "Linear"), ("blocks.0.attn.v_lin", "Linear"),
               ("head", "Linear")]
    assert default_targets("unknown-type", modules) == ("q_lin", "v_lin")
    choice = lora_choice("unknown-type", modules)
    assert choice.candidates == ("q_lin", "v_lin")  # the head is outside the blocks
    with pytest.raises(WorkbenchError, match="lora_target_modules"):
        default_targets("unknown-type", [("blocks.0.mix", "Linear")])
    assert lora_choice("unknown-type", [("blocks.0.mix", "Linear")]).error
    regex = default_targets("gemma4", modules)  # peft stores a regex for this multimodal type
    assert isinstance(regex, str)
    assert matches(regex, "model.language_model.layers.0.self_attn.q_proj")
    assert not matches(regex, "model.vision_tower.layers.0.self_attn.q_proj")
    assert matches(("q_proj",), "a.b.q_proj") and not matches(("q_proj",), "a.b.k_proj")
