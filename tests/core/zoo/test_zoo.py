"""Every zoo architecture against transformers itself: counts, weights check, graph, attention,
build-from-weights. See tests/fixtures/zoo.py for the entries."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tests.fixtures.zoo import ZOO, ZooEntry, zoo_text
from workbench.core.attention.capture import find_attention_modules
from workbench.core.attention.compute import compute_attention
from workbench.core.checkpoint.inspection import inspect_checkpoint
from workbench.core.graph.dataflow import graph_report
from workbench.core.model.architecture import read_config_dict
from workbench.core.model.builder import build_from_weights

pytestmark = pytest.mark.zoo
IDS = [e.name for e in ZOO]
# Their shape-only pass cannot run on fake tensors (data-dependent code, bf16-only grouped
# matmuls, weight-norm convolutions); the dataflow then comes from a tiny CPU copy.
TINY_COPY = {"mixtral", "qwen2_moe", "qwen3_moe", "deberta", "deberta_v2", "megatron_bert",
             "convbert", "wav2vec2"}


def test_the_zoo_covers_what_it_should():
    kinds = {e.kind for e in ZOO}
    assert len(ZOO) >= 40 and kinds == {"decoder", "encoder", "seq2seq", "vision", "audio"}
    names = set(IDS)
    assert {"mixtral", "qwen2_moe", "mistral", "gemma2", "albert", "vit"} <= names


@pytest.mark.parametrize("entry", ZOO, ids=IDS)
def test_counts_and_weights_check_agree_with_transformers(entry: ZooEntry, zoo_root,
                                                          zoo_loaded):
    model, loading = zoo_loaded(entry.name)
    assert not loading["missing_keys"] and not loading["unexpected_keys"]
    info = inspect_checkpoint(zoo_root[entry.name])
    assert info.module_tree.num_parameters == sum(p.numel() for p in model.parameters())
    check = info.comparison
    assert (check.missing, check.unexpected, check.mismatched) == ((), (), ()), info.warnings
    assert not info.warnings


@pytest.mark.parametrize("entry", ZOO, ids=IDS)
def test_graph_folds_and_traces(entry: ZooEntry, zoo_root):
    info = inspect_checkpoint(zoo_root[entry.name])
    report = graph_report(info.module_tree, info.config)
    assert report.trace.error is None, report.trace.error
    assert report.trace.blocks and all(b.nodes for b in report.trace.blocks)
    assert (report.trace.note is not None) == (entry.name in TINY_COPY), report.trace.note
    folds = [n for n in report.root.walk() if n.repeat > 1]
    assert folds or entry.name == "albert"  # ALBERT has one shared layer, nothing to fold
    if entry.name not in TINY_COPY:
        assert report.trace.forward.shapes  # real output shapes from the shape-only pass


@pytest.mark.parametrize("entry", [e for e in ZOO if e.text], ids=[e.name for e in ZOO if e.text])
def test_attention_equals_eager_output_attentions(entry: ZooEntry, zoo_loaded, zoo_tokenizer):
    model, _ = zoo_loaded(entry.name)
    target = zoo_text(4) if entry.kind == "seq2seq" else None
    maps = compute_attention(model, zoo_tokenizer, zoo_text(), target=target)
    enc = zoo_tokenizer(zoo_text(), return_tensors="pt")
    kwargs = {"input_ids": enc["input_ids"], "attention_mask": enc["attention_mask"]}
    fields = {"self": "attentions"}
    if entry.kind == "seq2seq":
        labels = zoo_tokenizer(text_target=target, return_tensors="pt")["input_ids"]
        start = torch.full_like(labels[:, :1], model.config.decoder_start_token_id)
        kwargs["decoder_input_ids"] = torch.cat([start, labels[:, :-1]], dim=1)
        fields = {"encoder": "encoder_attentions", "decoder": "decoder_attentions",
                  "cross": "cross_attentions"}
    with torch.no_grad():
        out = model(**kwargs, output_attentions=True)
    assert set(maps.maps) == set(fields)
    for kind, field in fields.items():
        reference = np.stack([a[0].float().numpy() for a in getattr(out, field)])
        np.testing.assert_array_equal(maps.maps[kind], reference, err_msg=kind)


@pytest.mark.parametrize("entry", ZOO, ids=IDS)
def test_build_from_weights_keeps_every_tensor(entry: ZooEntry, zoo_root, zoo_loaded,
                                               tmp_path):
    import transformers

    source = zoo_root[entry.name]
    result = build_from_weights(read_config_dict(source), source, tmp_path / "rebuilt")
    report = result.report
    assert (report.missing, report.unexpected, report.mismatched) == ((), (), ())
    original, _ = zoo_loaded(entry.name)
    rebuilt = getattr(transformers, entry.model_class).from_pretrained(tmp_path / "rebuilt")
    a, b = original.state_dict(), rebuilt.state_dict()
    assert a.keys() == b.keys()
    assert [k for k in a if not torch.equal(a[k], b[k])] == []


NON_TEXT = [e for e in ZOO if not e.text]


def _non_text_inputs(entry: ZooEntry, model) -> dict:
    torch.manual_seed(0)
    if entry.kind == "vision":
        size = model.config.image_size
        return {"pixel_values": torch.randn(1, model.config.num_channels, size, size)}
    if entry.name == "wav2vec2":
        return {"input_values": torch.randn(1, 400)}
    frames = 2 * model.config.max_source_positions  # Whisper's conv stride 2
    return {"input_features": torch.randn(1, model.config.num_mel_bins, frames),
            "decoder_input_ids": torch.tensor([[model.config.decoder_start_token_id, 5, 6]])}


@pytest.mark.parametrize("entry", NON_TEXT, ids=[e.name for e in NON_TEXT])
def test_capture_on_image_and_audio_models_equals_eager_output_attentions(entry, zoo_loaded):
    """The capture machinery the inspector uses (module hooks) on real image/audio inputs gives
    transformers' own attentions, layer for layer, for every kind the model has."""
    from workbench.core.attention.capture import AttentionCapture, layer_counts

    model, _ = zoo_loaded(entry.name)
    modules = find_attention_modules(model)
    counts = layer_counts(model, modules)
    capture = AttentionCapture(modules, {k: tuple(range(n)) for k, n in counts.items()})
    with torch.no_grad():
        with capture:
            model(**_non_text_inputs(entry, model))
        out = model(**_non_text_inputs(entry, model), output_attentions=True)
    fields = ({"encoder": "encoder_attentions", "decoder": "decoder_attentions",
               "cross": "cross_attentions"} if model.config.is_encoder_decoder
              else {"self": "attentions"})
    sizes = {kind: tuple(getattr(out, name)[0].shape[-2:]) for kind, name in fields.items()}
    maps, _, not_maps = capture.arrays(sizes)
    assert set(maps) == set(fields) and not not_maps  # every layer's weights read as maps
    for kind, name in fields.items():
        reference = np.stack([a[0].float().numpy() for a in getattr(out, name)])
        np.testing.assert_array_equal(maps[kind], reference, err_msg=kind)


@pytest.mark.parametrize("entry", NON_TEXT, ids=[e.name for e in NON_TEXT])
def test_image_and_audio_models_get_a_true_message_not_tokenizer_advice(entry, zoo_root,
                                                                        zoo_loaded):
    from workbench.core.attention.compute import (
        AttentionUnavailableError,
        check_text_checkpoint,
    )

    kind = "images" if entry.kind == "vision" else "audio"
    with pytest.raises(AttentionUnavailableError, match=f"reads {kind} .*not text"):
        check_text_checkpoint(zoo_root[entry.name])
    model, _ = zoo_loaded(entry.name)
    with pytest.raises(AttentionUnavailableError, match="Inspect, Graph and Config work"):
        compute_attention(model, None, "hello")
