"""select_map: every MapMode of an AttentionMaps selection, computed in core (no Qt)."""

from __future__ import annotations

import numpy as np
import pytest

from workbench.core.attention.aggregate import (
    MapMode,
    MapSelection,
    rollout_layers,
    select_map,
    selection_cost,
)
from workbench.core.attention.compute import AttentionMaps, Token


def _maps(layers=(0, 1, 2), num_layers=3, t=7, heads=4) -> AttentionMaps:
    rng = np.random.default_rng(1)
    w = rng.random((len(layers), heads, t, t), dtype=np.float32)
    w /= w.sum(-1, keepdims=True)
    tokens = tuple(Token(f"t{i}", i, False) for i in range(t))
    return AttentionMaps("bert", False, False, tokens, (), {"self": w}, {"self": tuple(layers)},
                         {"self": num_layers}, (), w.nbytes)


def test_each_mode_matches_its_definition():
    maps = _maps()
    w = maps.maps["self"]
    head, title, causal = select_map(maps, MapSelection("self", 1, MapMode.HEAD, 2))
    np.testing.assert_array_equal(head, w[1, 2])
    assert title == "Self-attention, layer 1, head 2" and causal is False
    np.testing.assert_allclose(select_map(maps, MapSelection("self", 2, "mean"))[0],
                               w[2].mean(0), rtol=1e-6)
    np.testing.assert_array_equal(select_map(maps, MapSelection("self", 0, "max"))[0],
                                  w[0].max(0))
    rolled = select_map(maps, MapSelection("self", 1, MapMode.ROLLOUT))[0]
    # the definition, with the whole stack in float64 at once (what rollout_layers used to do)
    joint = np.eye(7)
    for a in w[:2].astype(np.float64).mean(axis=1):
        a = a + np.eye(7)
        joint = (a / a.sum(-1, keepdims=True)) @ joint
    np.testing.assert_allclose(rolled, joint, rtol=1e-6)
    np.testing.assert_allclose(rolled.sum(1), 1.0, atol=1e-5)
    assert selection_cost(maps, MapSelection("self", 2, MapMode.ROLLOUT)) > \
        selection_cost(maps, MapSelection("self", 2, MapMode.MEAN))


def test_unavailable_selections_say_why():
    partial = _maps(layers=(1,), num_layers=3)
    matrix, reason, _ = select_map(partial, MapSelection("self", 1, MapMode.ROLLOUT))
    assert matrix is None and "every layer" in reason
    assert select_map(partial, MapSelection("self", 0))[:2] == (None, "Layer not captured.")
    with pytest.raises(ValueError, match="average"):
        MapMode("average")
    assert rollout_layers(_maps().maps["self"], "max").shape == (3, 7, 7)


def test_comparison_diff_and_mismatched_shapes():
    from workbench.core.attention.aggregate import compare_selection

    a, b = _maps(), _maps(t=7)
    b.maps["self"][:] = np.flip(b.maps["self"], -1)
    result = compare_selection(a, b, MapSelection("self", 1, MapMode.MEAN))
    np.testing.assert_allclose(result.diff, result.a - result.b)
    assert result.span == pytest.approx(float(np.abs(result.a - result.b).max()))
    other = compare_selection(a, _maps(t=5), MapSelection("self", 1))
    assert other.diff is None and other.a.shape == (7, 7) and other.b.shape == (5, 5)
