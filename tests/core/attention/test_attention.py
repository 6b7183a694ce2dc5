"""Attention capture, aggregations and exports on real (tiny and pretrained) models."""

from __future__ import annotations

import json
import threading

import numpy as np
import pytest

from tests.fixtures.attention import tiny_with_tokenizer
from workbench.core.attention.aggregate import (
    head_entropy,
    masked_future,
    max_over_heads,
    mean_over_heads,
    rollout,
    rollout_layers,
    sink_heads,
)
from workbench.core.attention.compute import (
    AttentionUnavailableError,
    compute_attention,
    compute_attention_from_path,
)
from workbench.core.attention.export import (
    read_png_size,
    save_csv,
    save_npy,
    save_png,
    save_svg,
    save_tokens_json,
)
from workbench.core.errors import CancelledError, WorkbenchError
from workbench.core.model.loading import load_model, load_tokenizer

SENTENCE = "The quick brown fox jumps over the lazy dog near the river bank."


@pytest.fixture(scope="module")
def models(tmp_path_factory, minilm_tokenizer_files):
    root = tmp_path_factory.mktemp("attn_models")
    return {f: tiny_with_tokenizer(f, root / f, minilm_tokenizer_files)
            for f in ("bert", "gpt2", "llama", "t5", "bart")}


@pytest.fixture(scope="module")
def tokenizer(minilm_path):
    return load_tokenizer(minilm_path)


def _reference(path, text, target=None, tokenizer=None):
    """An independent eager forward with output_attentions=True, straight from transformers."""
    import torch
    import transformers

    config = transformers.AutoConfig.from_pretrained(path)
    cls = getattr(transformers, config.architectures[0])
    model = cls.from_pretrained(path, attn_implementation="eager").eval()
    enc = tokenizer(text, return_tensors="pt")
    kwargs = {"input_ids": enc["input_ids"], "attention_mask": enc["attention_mask"]}
    if config.is_encoder_decoder:
        labels = tokenizer(text_target=target, return_tensors="pt")["input_ids"]
        kwargs["decoder_input_ids"] = model.prepare_decoder_input_ids_from_labels(labels=labels)
    with torch.no_grad():
        out = model(**kwargs, output_attentions=True)
    stack = lambda ts: np.stack([t[0].numpy() for t in ts])  # noqa: E731
    if config.is_encoder_decoder:
        return {"encoder": stack(out.encoder_attentions), "decoder": stack(out.decoder_attentions),
                "cross": stack(out.cross_attentions)}
    return {"self": stack(out.attentions)}


@pytest.mark.parametrize("family", ["bert", "gpt2", "llama", "t5", "bart"])
def test_values_equal_independent_eager_forward(models, tokenizer, family):
    target = "Le renard saute." if family in ("t5", "bart") else None
    maps = compute_attention_from_path(models[family], SENTENCE, target=target)
    ref = _reference(models[family], SENTENCE, target, tokenizer)
    assert set(maps.kinds) == set(ref)
    for kind, expected in ref.items():
        assert maps.maps[kind].dtype == np.float32
        assert maps.maps[kind].flags.c_contiguous
        np.testing.assert_allclose(maps.maps[kind], expected, atol=1e-6)
        np.testing.assert_allclose(maps.maps[kind].sum(-1), 1.0, atol=1e-5)  # rows sum to 1


@pytest.mark.parametrize(("family", "kind"), [("gpt2", "self"), ("llama", "self"),
                                              ("t5", "decoder"), ("bart", "decoder")])
def test_causal_masking_respected(models, family, kind):
    maps = compute_attention_from_path(models[family], SENTENCE, target="one two three four")
    assert maps.is_causal
    assert kind in maps.causal
    upper = np.triu(np.ones(maps.maps[kind].shape[-2:], dtype=bool), k=1)
    assert np.all(maps.maps[kind][..., upper] == 0)
    assert np.all(maps.maps[kind][..., ~upper] >= 0)
    assert maps.maps[kind][..., 1, 0].max() > 0  # the past is seen
    masked = masked_future(maps.maps[kind][0, 0])
    assert np.isnan(masked[upper]).all()
    assert not np.isnan(masked[~upper]).any()


def test_encoder_models_are_not_causal(models):
    maps = compute_attention_from_path(models["bert"], SENTENCE)
    assert not maps.is_causal
    assert maps.causal == ()
    assert maps.maps["self"][0, 0, 0, -1] > 0  # the first token sees the last one


@pytest.mark.parametrize("family", ["t5", "bart"])
def test_encoder_decoder_cross_attention_shapes(models, family):
    maps = compute_attention_from_path(models[family], SENTENCE, target="Ein Fuchs springt.")
    t_src, t_tgt = len(maps.tokens), len(maps.target_tokens)
    assert maps.is_encoder_decoder
    assert maps.kinds == ("encoder", "decoder", "cross")
    assert maps.maps["encoder"].shape == (2, 4, t_src, t_src)
    assert maps.maps["decoder"].shape == (2, 4, t_tgt, t_tgt)
    assert maps.maps["cross"].shape == (2, 4, t_tgt, t_src)
    queries, keys = maps.axis_tokens("cross")
    assert (len(queries), len(keys)) == (t_tgt, t_src)
    assert "cross" not in maps.causal


def test_real_minilm_on_a_real_sentence(minilm_path, tokenizer):
    maps = compute_attention_from_path(minilm_path, SENTENCE)
    ref = _reference(minilm_path, SENTENCE, tokenizer=tokenizer)["self"]
    t = len(maps.tokens)
    assert maps.maps["self"].shape == (6, 12, t, t)
    assert [tok.text for tok in maps.tokens[:3]] == ["[CLS]", "the", "quick"]
    assert maps.tokens[0].special
    assert maps.tokens[-1].special
    assert not maps.tokens[1].special
    np.testing.assert_allclose(maps.maps["self"], ref, atol=1e-5)
    # Pretrained BERT-family heads are known to park attention on [CLS]/[SEP]: some must.
    special = [tok.special for tok in maps.tokens]
    assert len(sink_heads(maps.maps["self"], special)) > 0


def test_pair_segments_and_chinese_tokens(minilm_path, tmp_path):
    maps = compute_attention_from_path(minilm_path, "The weather is nice.", pair="天气很好")
    texts = [t.text for t in maps.tokens]
    assert texts.count("[SEP]") == 2
    assert {t.segment for t in maps.tokens} == {0, 1}
    chinese = [t for t in maps.tokens if t.segment == 1 and not t.special]
    assert len(chinese) == 4  # one token per character; MiniLM's vocabulary lacks some
    assert "天" in texts
    assert any(t.unknown for t in chinese)
    m = maps.matrix("self", 5, 0)
    save_png(tmp_path / "zh.png", m)
    assert read_png_size(tmp_path / "zh.png")[0] >= 512
    save_svg(tmp_path / "zh.svg", m, texts, texts, title="天气很好")
    svg = (tmp_path / "zh.svg").read_text(encoding="utf-8")
    assert "天气很好" in svg
    assert svg.count("<rect") >= len(texts) ** 2


def test_selected_layers_match_full_capture(models):
    full = compute_attention_from_path(models["llama"], SENTENCE)
    part = compute_attention_from_path(models["llama"], SENTENCE, layers=[1])
    assert part.layers["self"] == (1,)
    assert part.partial
    assert not full.partial
    np.testing.assert_array_equal(part.maps["self"][0], full.maps["self"][1])
    np.testing.assert_array_equal(part.matrix("self", 1, 2), full.matrix("self", 1, 2))
    with pytest.raises(WorkbenchError, match="No such layer"):
        compute_attention_from_path(models["llama"], SENTENCE, layers=[7])


def test_memory_limit_captures_last_layer_and_says_so(models, tokenizer):
    model = load_model(models["gpt2"], attn_implementation="eager")
    maps = compute_attention(model, tokenizer, SENTENCE, memory_limit=1000)
    t = len(maps.tokens)
    assert maps.estimated_bytes == 2 * 4 * t * t * 4
    assert maps.layers["self"] == (1,)
    assert any("only the last layer" in n for n in maps.notes)


def test_sdpa_model_is_switched_to_eager_and_restored(models, tokenizer):
    model = load_model(models["bert"], attn_implementation="sdpa")
    model.train()  # e.g. a live model paused in training
    maps = compute_attention(model, tokenizer, SENTENCE)
    ref = _reference(models["bert"], SENTENCE, tokenizer=tokenizer)["self"]
    np.testing.assert_allclose(maps.maps["self"], ref, atol=1e-6)
    assert model.config._attn_implementation == "sdpa"
    assert model.training


def test_errors_no_tokenizer_empty_text_cancel(tiny_models, models, tokenizer):
    with pytest.raises(WorkbenchError, match="tokenizer"):
        compute_attention_from_path(tiny_models["bert"], SENTENCE)
    model = load_model(models["bert"], attn_implementation="eager")
    with pytest.raises(WorkbenchError, match="no tokenizer"):
        compute_attention(model, None, SENTENCE)
    with pytest.raises(WorkbenchError, match="Type some text"):
        compute_attention(model, tokenizer, "   ")
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(CancelledError):
        compute_attention(model, tokenizer, SENTENCE, cancel=cancel)
    small = load_model(tiny_models["bert"], attn_implementation="eager")  # vocabulary 120
    with pytest.raises(WorkbenchError, match="vocabulary"):
        compute_attention(small, tokenizer, SENTENCE)


def test_rollout_rows_sum_to_one_and_single_layer_reduces():
    rng = np.random.default_rng(0)
    a = rng.random((3, 4, 6, 6)).astype(np.float32)
    a /= a.sum(-1, keepdims=True)
    rolled = rollout(a)
    np.testing.assert_allclose(rolled.sum(-1), 1.0, atol=1e-5)
    one = rollout(a[:1])
    expected = a[0].mean(0) + np.eye(6)
    expected /= expected.sum(-1, keepdims=True)
    np.testing.assert_allclose(one, expected, atol=1e-6)
    steps = rollout_layers(a)
    second = a[1].mean(0) + np.eye(6)
    second /= second.sum(-1, keepdims=True)
    np.testing.assert_allclose(steps[1], second @ steps[0], atol=1e-5)
    np.testing.assert_allclose(steps[-1], rolled)


def test_head_aggregations_entropy_and_sinks():
    t = 5
    uniform = np.full((1, 2, t, t), 1 / t, dtype=np.float32)
    uniform[0, 1] = 0
    uniform[0, 1, :, 0] = 1  # head 1 looks only at the first token
    np.testing.assert_allclose(head_entropy(uniform), [[np.log(t), 0.0]], atol=1e-5)
    np.testing.assert_allclose(mean_over_heads(uniform)[0, :, 0], (1 / t + 1) / 2, atol=1e-6)
    np.testing.assert_allclose(max_over_heads(uniform)[0, :, 0], 1.0)
    sinks = sink_heads(uniform, [True] + [False] * (t - 1))
    assert [(s.layer, s.head, s.target) for s in sinks] == [(0, 1, "first")]


def test_exports_reload(models, tmp_path):
    maps = compute_attention_from_path(models["gpt2"], "Der Hund schläft.")
    m = masked_future(maps.matrix("self", 0, 1))
    texts = [t.text for t in maps.tokens]
    save_npy(tmp_path / "a.npy", maps.maps["self"])
    np.testing.assert_array_equal(np.load(tmp_path / "a.npy"), maps.maps["self"])
    save_csv(tmp_path / "m.csv", m, texts, texts)
    lines = (tmp_path / "m.csv").read_text(encoding="utf-8").splitlines()
    assert len(lines) == len(texts) + 1
    assert lines[1].split(",")[-1] == ""
    assert float(lines[1].split(",")[1]) == pytest.approx(float(m[0, 0]), rel=1e-6)
    save_tokens_json(tmp_path / "t.json", maps.tokens)
    data = json.loads((tmp_path / "t.json").read_text(encoding="utf-8"))
    assert [d["id"] for d in data["tokens"]] == [t.id for t in maps.tokens]
    save_png(tmp_path / "m.png", m, min_size=64)
    w, h = read_png_size(tmp_path / "m.png")
    assert w == h
    assert w >= 64


def test_cancel_during_the_forward_pass(models, tokenizer):
    model = load_model(models["llama"], attn_implementation="eager")
    cancel = threading.Event()
    seen = []

    def progress(message: str) -> None:
        seen.append(message)
        if message.startswith("running"):
            cancel.set()  # the hooks stop the forward at the next attention layer

    with pytest.raises(CancelledError):
        compute_attention(model, tokenizer, SENTENCE, progress=progress, cancel=cancel)
    assert any(m.startswith("running") for m in seen)
    assert not any(m.startswith("collecting") for m in seen)
    assert all(not m._forward_hooks for m in model.modules())  # hooks removed


def test_over_the_maximum_length_raises_or_truncates(models, tokenizer):
    """Too long: a typed error that names both lengths; with truncate, exactly the maximum."""
    from workbench.core.attention.compute import InputTooLongError, compute_attention, max_length

    model = load_model(models["bert"], attn_implementation="eager")
    limit = max_length(model.config)
    text = " ".join(["word"] * (limit + 40))
    with pytest.raises(InputTooLongError) as raised:
        compute_attention(model, tokenizer, text)
    assert raised.value.limit == limit and raised.value.length > limit
    assert f"at most {limit}" in str(raised.value)
    maps = compute_attention(model, tokenizer, text, truncate=True)
    assert len(maps.tokens) == limit
    assert maps.tokens[-1].special  # [SEP] kept by the tokenizer's truncation
    assert maps.maps["self"].shape[-1] == limit
    assert any("truncated" in n for n in maps.notes)


def test_strongest_links_match_the_weights():
    """Every link is a real weight of the named head; nothing at or above the floor is lost."""
    from workbench.core.attention.links import strongest_links

    rng = np.random.default_rng(0)
    logits = rng.normal(size=(4, 6, 6)) * 3
    maps = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)  # (heads, Tq, Tk)
    links = strongest_links(maps, [1, 3], [2], top_k=6, min_weight=0.05)
    assert set(links.head.tolist()) <= {1, 3} and set(links.query.tolist()) == {2}
    np.testing.assert_allclose(links.weight, maps[links.head, links.query, links.key])
    expected = {(h, int(j)) for h in (1, 3) for j in np.nonzero(maps[h, 2] >= 0.05)[0]}
    assert set(zip(links.head.tolist(), links.key.tolist(), strict=True)) == expected
    into = strongest_links(maps, [0], None, keys=[4], top_k=6, min_weight=0.0)
    assert set(into.key.tolist()) == {4} and len(into) == 6  # every query into key 4
    np.testing.assert_allclose(into.weight, maps[0, into.query, 4])
    assert len(strongest_links(maps, [], [0])) == 0


def test_a_model_whose_code_fails_on_the_text_is_reported_not_unexpected(tokenizer):
    """A config its code cannot run (GPT-J rotating 64 dimensions of 16-dimension heads; the
    config rules flag it too) ends with the model's own error and what to check."""
    from transformers import GPTJConfig, GPTJModel

    from workbench.core.errors import ModelRunError

    model = GPTJModel(GPTJConfig(n_embd=64, n_head=4, n_layer=1, rotary_dim=64,
                                 vocab_size=tokenizer.vocab_size))
    with pytest.raises(ModelRunError) as error:
        compute_attention(model, tokenizer, SENTENCE)
    message = str(error.value)
    assert message.startswith("GPTJModel failed while running on the text (RuntimeError: ")
    assert "Edit config" in message
    assert all(not m._forward_hooks for m in model.modules())  # hooks removed


def test_weights_that_are_not_maps_are_left_out_or_refused(tokenizer):
    """Every view draws query x key maps. LED's encoder (Longformer's sliding window) returns
    each query's window of keys, MiniMax's linear-attention layers something else again, and
    RWKV a recurrent state: drawn as maps they were wrong (and rollout failed on their shape).
    They are left out with a note; with nothing left, refused."""
    from transformers import LEDConfig, LEDModel, MiniMaxConfig, MiniMaxModel, RwkvConfig, RwkvModel

    vocab = tokenizer.vocab_size
    led = LEDModel(LEDConfig(d_model=32, encoder_layers=1, decoder_layers=1,
                             encoder_attention_heads=2, decoder_attention_heads=2,
                             encoder_ffn_dim=64, decoder_ffn_dim=64, attention_window=[4],
                             vocab_size=vocab, max_encoder_position_embeddings=64,
                             max_decoder_position_embeddings=64))
    maps = compute_attention(led, tokenizer, SENTENCE, target="a short summary")
    assert set(maps.kinds) == {"decoder", "cross"}  # full maps, kept
    assert any(n.startswith("encoder: layer 0 returns weights shaped (2, ") and
               n.endswith("; left out.") for n in maps.notes), maps.notes

    minimax = MiniMaxModel(MiniMaxConfig(
        hidden_size=64, intermediate_size=128, num_attention_heads=4, num_key_value_heads=2,
        head_dim=16, num_hidden_layers=2, vocab_size=vocab, num_local_experts=2,
        num_experts_per_tok=1, layer_types=["full_attention", "linear_attention"]))
    maps = compute_attention(minimax, tokenizer, SENTENCE)
    assert maps.layers["self"] == (0,) and maps.maps["self"].shape[0] == 1
    assert any(n.startswith("self: layer 1 returns weights shaped") for n in maps.notes)

    rwkv = RwkvModel(RwkvConfig(hidden_size=32, attention_hidden_size=32, intermediate_size=64,
                                num_hidden_layers=2, vocab_size=vocab))  # 1: its init divides by 0
    with pytest.raises(AttentionUnavailableError, match=r"RwkvModel returns self-attention "
                       r"weights shaped \(\d+, \d+\), not \d+ x \d+ maps"):
        compute_attention(rwkv, tokenizer, SENTENCE)


def test_bfloat16_maps_are_kept_as_maps(minilm_path, tokenizer):
    """bfloat16 rounds each softmax weight by up to 0.2%: a 500-token row summed to 1.0024,
    which a tight "sums to at most 1" test took for a non-map and left out."""
    model = load_model(minilm_path, dtype="bfloat16", attn_implementation="eager")
    maps = compute_attention(model, tokenizer, "word " * 500)
    assert maps.maps["self"].shape[0] == 6 and not maps.notes
    assert maps.maps["self"].sum(-1).max() > 1.001  # the rounding this guards against
