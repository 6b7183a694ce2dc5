"""LinkTable: each head's (and the mean's) strongest links per query, as a brute force finds."""

from __future__ import annotations

import numpy as np

from workbench.core.attention.links import MEAN, link_table


def _brute(m: np.ndarray, top_k: int, floor: float) -> set[tuple[int, int, int]]:
    """(head, query, key) of every query's top_k keys at or above the floor, by definition."""
    out = set()
    heads = [*range(m.shape[0]), MEAN]
    for h in heads:
        rows = m.mean(axis=0) if h == MEAN else m[h]
        for q, row in enumerate(rows):
            keys = [k for k in np.argsort(-row, kind="stable") if row[k] >= floor][:top_k]
            out |= {(h, q, int(k)) for k in keys}
    return out


def test_link_table_matches_the_definition_and_slices():
    rng = np.random.default_rng(3)
    logits = rng.normal(size=(3, 11, 13)) * 2.5
    m = (np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)).astype(np.float32)
    table = link_table(m, top_k=4, min_weight=0.05)
    every = table.links([0, 1, 2, MEAN])
    got = set(zip(every.head.tolist(), every.query.tolist(), every.key.tolist(), strict=True))
    assert got == _brute(m, 4, 0.05)
    mean = m.mean(axis=0)
    for h, q, k, w in zip(every.head, every.query, every.key, every.weight, strict=True):
        assert w == np.float32(mean[q, k] if h == MEAN else m[h, q, k])
    rows = table.links([1], range(3, 6))  # a slice of rows, as the view asks while painting
    assert set(rows.query.tolist()) <= {3, 4, 5} and set(rows.head.tolist()) == {1}
    assert len(rows) == sum(1 for h, q, _k in got if h == 1 and 3 <= q < 6)
    into = table.links([0, MEAN], None, key=2)  # the queries whose strongest keys include 2
    assert set(into.key.tolist()) == {2}
    assert len(into) == sum(1 for h, _q, k in got if h in (0, MEAN) and k == 2)
    capped = table.links([0, 1, 2, MEAN], limit=5)
    assert len(capped) == 5 and capped.weight.min() >= np.sort(every.weight)[-5]
    assert len(table.links([])) == 0 and len(table.links([7])) == 0  # none, or no such head
