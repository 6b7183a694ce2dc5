"""Every zoo architecture at 9 layers: the graph trace from a short build (graph/short_stack.py)
equals the trace of the whole model, call order and shapes of every layer included."""

from __future__ import annotations

import pytest
import transformers

from tests.fixtures.zoo import ZOO, ZooEntry
from workbench.core.graph import short_stack
from workbench.core.graph.dataflow import trace_config
from workbench.core.graph.folding import build_graph
from workbench.core.model.architecture import build_meta_model, config_from_dict, module_tree

pytestmark = pytest.mark.zoo
LAYERS = 9  # more than short_stack.SHORT, not a multiple of a period of 2 or 3


def _nine_layers(entry: ZooEntry) -> dict | None:
    cls = getattr(transformers, entry.config_class)
    key = getattr(cls, "attribute_map", {}).get("num_hidden_layers", "num_hidden_layers")
    kwargs = dict(entry.kwargs)
    if key not in kwargs and "num_hidden_layers" not in kwargs:
        return None  # encoder-decoders count their layers otherwise
    kwargs[key if key in kwargs else "num_hidden_layers"] = LAYERS
    for name, value in list(kwargs.items()):  # per-layer lists of the 2-layer zoo, repeated
        if isinstance(value, list) and len(value) == 2:
            kwargs[name] = (value * LAYERS)[:LAYERS]
    try:
        return {**cls(**kwargs).to_dict(), "architectures": [entry.model_class]}
    except Exception:  # a config that cannot have 9 layers this way (GPT-Neo): not tested
        return None


SHORTENED = {"llama", "mistral", "gpt2", "bert", "vit", "mixtral", "deberta"}
STACKED = [(e, v) for e in ZOO if (v := _nine_layers(e)) is not None]


@pytest.mark.parametrize(("entry", "values"), STACKED, ids=[e.name for e, _ in STACKED])
def test_short_trace_equals_the_full_trace(entry, values):
    cfg = config_from_dict(values)
    tree = module_tree(build_meta_model(cfg))
    plan = short_stack.short_config(values, cfg, tree)
    if entry.name in SHORTENED:
        assert plan is not None
    if entry.name in ("gemma2", "albert"):  # alternating / shared layers: built in full
        assert plan is None
    full, short = trace_config(values), trace_config(values, tree=tree)
    assert short.error == full.error and short.note == full.note
    assert [b.to_json() for b in short.blocks] == [b.to_json() for b in full.blocks]
    if full.forward is not None:
        assert short.forward.order == full.forward.order
        assert short.forward.shapes == full.forward.shapes
        assert build_graph(tree, short.forward) == build_graph(tree, full.forward)
