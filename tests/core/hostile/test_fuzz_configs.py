"""Fuzz: MiniLM's real config.json with one field replaced by a hostile value, through inspect
(meta build included) and the config editor's analysis. Only WorkbenchError may escape."""

from __future__ import annotations

import json
import random

import pytest

from tests.core.hostile.mutations import HOSTILE_VALUES
from workbench.core.checkpoint.inspection import inspect_checkpoint
from workbench.core.config.schema import schema_for
from workbench.core.errors import WorkbenchError
from workbench.core.model.architecture import read_config_dict
from workbench.core.model.builder import analyze

EXTRA_KEYS = ("text_config", "layer_types", "rope_scaling", "id2label", "auto_map", "num_labels",
              "dtype", "tie_word_embeddings", "num_local_experts", "head_dim")
EXTRA_VALUES = ('{"num_hidden_layers": 100000}', '{"0": 1}', "[1, 2]", "2147483647", "100000",
                '{"__float__": "NaN"}', '"bert"', '["BertModel", 1]')


def test_hostile_config_values(tmp_path, minilm_path):
    base = json.loads((minilm_path / "config.json").read_text())
    keys = [*base, *EXTRA_KEYS]
    values = [v for v in HOSTILE_VALUES if len(v) < 2000] + list(EXTRA_VALUES)
    folder = tmp_path / "m"
    folder.mkdir()
    rng = random.Random(2)
    for _ in range(120):
        key, value = rng.choice(keys), rng.choice(values)
        text = json.dumps({**base, key: "@@X@@"}).replace('"@@X@@"', value)
        (folder / "config.json").write_text(text)
        try:
            json.dumps(inspect_checkpoint(folder).to_json())
            config = read_config_dict(folder)
            analyze(config, schema_for(config)).to_json()
        except WorkbenchError:
            pass


@pytest.mark.parametrize("labels", [2**64, 10**7])
def test_num_labels_is_bounded_before_transformers_names_each(tmp_path, minilm_path, labels):
    from workbench.core.errors import InvalidConfigError
    from workbench.core.model.architecture import config_from_dict

    data = {**json.loads((minilm_path / "config.json").read_text()), "num_labels": labels}
    with pytest.raises(InvalidConfigError, match="above the limit of 1,000,000 labels"):
        config_from_dict(data)


def test_set_num_labels_is_bounded_before_the_label_maps_are_built():
    from workbench.core.config.schema import with_edit
    from workbench.core.errors import InvalidConfigError

    with pytest.raises(InvalidConfigError, match="num_labels = 1,000,000,000,000"):
        with_edit({"model_type": "bert"}, "num_labels", 10**12)
    assert len(with_edit({"model_type": "bert"}, "num_labels", 3)["id2label"]) == 3
