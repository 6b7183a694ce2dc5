"""Fuzz: a real shard index (tiny GPT-2 saved in shards) with hostile metadata, shard names,
weight maps and tensor names. Only WorkbenchError may escape inspect_checkpoint."""

from __future__ import annotations

import json
import random

from tests.core.hostile.mutations import HOSTILE_NAMES, HOSTILE_VALUES
from workbench.core.checkpoint.inspection import inspect_checkpoint
from workbench.core.errors import WorkbenchError


def test_hostile_shard_indexes(tmp_path):
    import transformers

    folder = tmp_path / "sharded"
    config = transformers.GPT2Config(n_embd=32, n_head=4, n_layer=2, vocab_size=120,
                                     n_positions=64)
    transformers.GPT2LMHeadModel(config).save_pretrained(folder, max_shard_size="20KB")
    index = folder / "model.safetensors.index.json"
    base = json.loads(index.read_text())
    assert len(set(base["weight_map"].values())) > 1
    names = list(base["weight_map"])
    values = [v for v in HOSTILE_VALUES if len(v) < 2000]
    rng = random.Random(1)
    refused = 0
    for _ in range(200):
        data = json.loads(json.dumps(base))
        kind, value = rng.randrange(5), rng.choice(values)
        if kind == 0:
            data["metadata"] = "@@X@@"
        elif kind == 1:
            data["weight_map"][rng.choice(names)] = "@@X@@"
        elif kind == 2:
            data["metadata"]["total_size"] = "@@X@@"
        elif kind == 3:
            data["weight_map"] = "@@X@@"
        else:
            name = rng.choice(names)
            data["weight_map"][rng.choice(HOSTILE_NAMES)] = data["weight_map"].pop(name)
        text = json.dumps(data, ensure_ascii=False).replace('"@@X@@"', value)
        index.write_text(text, encoding="utf-8", errors="surrogatepass")
        try:
            json.dumps(inspect_checkpoint(folder).to_json())
        except WorkbenchError:
            refused += 1
    assert refused > 100
