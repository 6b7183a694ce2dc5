"""Configs without `architectures` get the class transformers itself would pick."""

from __future__ import annotations

import json

import pytest

from workbench.core.checkpoint.inspection import inspect_checkpoint
from workbench.core.model.architecture import config_from_dict, model_class_for

TEXT = {"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 1,
        "num_attention_heads": 4, "vocab_size": 100, "max_position_embeddings": 32}
VISION = {"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 1,
          "num_attention_heads": 4, "image_size": 16, "patch_size": 8}
CASES = {
    # in AutoModel's mapping
    "clip_text_model": (TEXT, "CLIPTextModel"),
    # in no Auto mapping: the model class of its own modeling module that declares the config
    "kosmos_2_vision_model": (VISION, "Kosmos2VisionModel"),
    # AutoModel maps it to a tuple of classes (FunnelModel, FunnelBaseModel): the first
    "funnel": ({"d_model": 32, "n_head": 4, "d_head": 8, "d_inner": 64, "block_sizes": [1, 1],
                "vocab_size": 100}, "FunnelModel"),
}


@pytest.mark.parametrize("model_type", CASES)
def test_subconfig_without_architectures_builds(model_type, tmp_path):
    kwargs, expected = CASES[model_type]
    values = {"model_type": model_type, **kwargs}
    cls = model_class_for(config_from_dict(values))
    assert cls.__name__ == expected
    (tmp_path / "config.json").write_text(json.dumps(values))
    info = inspect_checkpoint(tmp_path)
    assert info.structure_error is None and info.module_tree.class_name == expected
    reference = cls(config_from_dict(values))  # a real build, as transformers would make it
    assert info.num_parameters == sum(p.numel() for p in reference.parameters())


def test_a_config_no_class_declares_says_so():
    from workbench.core.errors import ModelBuildError

    config = config_from_dict({"model_type": "sam_prompt_encoder"})
    with pytest.raises(ModelBuildError, match="no Auto class knows it"):
        model_class_for(config)
