"""Fuzz: damaged torch.save files (zip and legacy formats): flipped bytes, cuts, insertions.
Only WorkbenchError may escape read_pickle_tensors."""

from __future__ import annotations

import io
import random

from workbench.core.checkpoint.pickle_weights import read_pickle_tensors
from workbench.core.errors import WorkbenchError


def test_damaged_torch_saves(tmp_path):
    import torch

    state = {"a.weight": torch.zeros(4, 4), "b.bias": torch.ones(3)}
    sources = []
    for zipped in (True, False):
        buffer = io.BytesIO()
        torch.save(state, buffer, _use_new_zipfile_serialization=zipped)
        sources.append(buffer.getvalue())
    rng = random.Random(4)
    path = tmp_path / "w.bin"
    refused = 0
    for _ in range(600):
        data = bytearray(rng.choice(sources))
        kind = rng.randrange(3)
        if kind == 0:
            for _ in range(rng.randint(1, 4)):
                data[rng.randrange(len(data))] = rng.randrange(256)
        elif kind == 1:
            data = data[:rng.randrange(len(data))]
        else:
            at = rng.randrange(len(data))
            data[at:at] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 16)))
        path.write_bytes(bytes(data))
        try:
            read_pickle_tensors(path)
        except WorkbenchError:
            refused += 1
    assert refused > 100
