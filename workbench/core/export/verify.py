"""Probe inputs and the comparison of an export's outputs with its source model's.

Every export is reloaded the way a user would load it and run on the same fixed probes (a short
batch and one input of the longest length the model takes); the logits are compared: maximum
absolute difference, top-1 agreement and, for causal LMs, perplexity before and after.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

PROBE_TEXTS = ("The quick brown fox jumps over the lazy dog.",
               "Transformers turn text into vectors, and vectors into text.",
               "Hello!")
MAX_PROBE_TOKENS = 512  # longest probe: enough to exercise position embeddings, fast on a CPU

# dtype -> (max abs diff allowed, relative to the largest source logit; top-1 agreement floor;
# perplexity change allowed, relative).
# fp16 keeps 11 significant bits (rounding 2^-11 ~ 5e-4 per op). Measured against the fp32
# source, fp16 ONNX (onnxruntime's converter) differs by 0.3-1e-3 of the logit scale on MiniLM,
# tiny GPT-2, BERT and T5 with every top-1 equal; 2e-2 leaves 20x room for deeper stacks, and
# 0.99 lets at most 1 position in 100 flip, which happens only at near-ties of two logits.
# bf16 keeps 8 bits (~4e-3 per op): hence its looser bounds.
TOLERANCES: dict[str, tuple[float, float, float]] = {
    "fp32": (1e-3, 0.999, 1e-3), "fp16": (2e-2, 0.99, 0.05), "bf16": (1e-1, 0.8, 0.15)}


@dataclass(frozen=True)
class ProbeCheck:
    """One probe's comparison; `passed` applies the dtype's tolerances."""

    probe: str
    shape: tuple[int, ...]
    max_abs_diff: float
    top1_agreement: float
    tolerance: float
    passed: bool

    def to_json(self) -> dict[str, Any]:
        return {"probe": self.probe, "shape": list(self.shape),
                "max_abs_diff": self.max_abs_diff, "top1_agreement": self.top1_agreement,
                "tolerance": self.tolerance, "passed": self.passed}


def probe_length(model_config: Any, tokenizer: Any) -> int:
    """The longest probe: the model's position limit (capped at MAX_PROBE_TOKENS)."""
    limits = [MAX_PROBE_TOKENS]
    for name in ("max_position_embeddings", "n_positions"):
        value = getattr(model_config, name, None)
        if isinstance(value, int) and value > 0:
            limits.append(value)
    model_max = getattr(tokenizer, "model_max_length", None)
    if isinstance(model_max, int) and 0 < model_max < 1_000_000:
        limits.append(model_max)
    return min(limits)


def make_probes(tokenizer: Any, model_config: Any, texts: list[str] | None = None,
                decoder_start: int | None = None) -> dict[str, dict[str, np.ndarray]]:
    """{"short": padded batch of sentences, "max_length": one input of the longest length}.

    Encoder-decoder probes also get decoder_input_ids for teacher forcing: the start token
    followed by the input's first tokens (3 on the short probe, the full length on the long one,
    so that the decoder's positions are exercised as far as the encoder's).
    """
    texts = list(texts or PROBE_TEXTS)
    length = probe_length(model_config, tokenizer)
    short = tokenizer(texts, padding=True, truncation=True, max_length=min(length, 64),
                      return_tensors="np")
    long_text = " ".join(texts) * (length // 4 + 1)
    longest = tokenizer([long_text], truncation=True, max_length=length, return_tensors="np")
    probes = {"short": dict(short), "max_length": dict(longest)}
    if getattr(model_config, "is_encoder_decoder", False):
        start = 0 if decoder_start is None else decoder_start
        for name, batch in probes.items():
            n, t = batch["input_ids"].shape
            follow = batch["input_ids"][:, :3] if name == "short" else batch["input_ids"][:, :t - 1]
            batch["decoder_input_ids"] = np.concatenate([np.full((n, 1), start), follow], axis=1)
    return {name: {k: np.asarray(v, dtype=np.int64) for k, v in b.items()}
            for name, b in probes.items()}


def torch_outputs(model: Any, probes: dict[str, dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """float32 logits (or last hidden state) of a torch model on each probe."""
    import torch

    accepted = _forward_names(model)
    out = {}
    with torch.inference_mode():
        for name, batch in probes.items():
            inputs = {k: torch.from_numpy(v).to(model.device) for k, v in batch.items()
                      if k in accepted}
            result = model(**inputs, return_dict=True)
            tensor = result.logits if getattr(result, "logits", None) is not None else result[0]
            out[name] = tensor.float().cpu().numpy()  # .cpu(): a device sync per probe
    return out


def _forward_names(model: Any) -> set[str]:
    import inspect

    target = model.get_base_model() if hasattr(model, "get_base_model") else model
    return set(inspect.signature(target.forward).parameters)


def compare(reference: dict[str, np.ndarray], exported: dict[str, np.ndarray],
            probes: dict[str, dict[str, np.ndarray]], dtype: str) -> list[ProbeCheck]:
    """Compare outputs at real (unpadded) positions, with the tolerances of `dtype`."""
    rel_tol, top1_floor, _ = TOLERANCES[dtype]
    checks = []
    for name, ref in reference.items():
        got = exported[name]
        mask = _valid_positions(probes[name], ref)
        r, g = ref[mask], got[mask]  # (positions, features)
        tolerance = rel_tol * max(1.0, float(np.abs(r).max()))
        max_abs = float(np.abs(r - g).max()) if r.size else 0.0
        agree = float((r.argmax(-1) == g.argmax(-1)).mean()) if r.size else 1.0
        ok = ref.shape == got.shape and math.isfinite(max_abs) and max_abs <= tolerance \
            and agree >= top1_floor
        checks.append(ProbeCheck(name, tuple(ref.shape), max_abs, agree, tolerance, ok))
    return checks


def _valid_positions(batch: dict[str, np.ndarray], out: np.ndarray) -> np.ndarray:
    """Boolean (batch, seq) mask of the output positions that are real tokens."""
    if out.ndim == 2:  # one vector per example (a sequence classifier)
        return np.ones(out.shape[0], bool)
    if "decoder_input_ids" in batch:
        return np.ones(out.shape[:2], bool)
    return batch.get("attention_mask", np.ones(out.shape[:2], np.int64)).astype(bool)


def causal_perplexity(logits: np.ndarray, batch: dict[str, np.ndarray]) -> float:
    """Perplexity of the probe's own tokens under a causal LM (next-token prediction)."""
    import torch

    x = torch.from_numpy(logits[:, :-1]).double()  # (B, T-1, V)
    labels = torch.from_numpy(batch["input_ids"][:, 1:]).clone()
    mask = batch.get("attention_mask")
    if mask is not None:
        labels[torch.from_numpy(mask[:, 1:]) == 0] = -100
    loss = torch.nn.functional.cross_entropy(x.transpose(1, 2), labels, ignore_index=-100)
    return math.exp(min(float(loss), 700.0))


def perplexity_check(reference: dict[str, np.ndarray], exported: dict[str, np.ndarray],
                     probes: dict[str, dict[str, np.ndarray]], dtype: str) -> dict[str, Any]:
    """Causal-LM perplexity of the source and the export on the long probe."""
    before = causal_perplexity(reference["max_length"], probes["max_length"])
    after = causal_perplexity(exported["max_length"], probes["max_length"])
    allowed = TOLERANCES[dtype][2]
    change = abs(after - before) / before if before > 0 else math.inf
    return {"before": before, "after": after, "relative_change": change,
            "tolerance": allowed, "passed": bool(change <= allowed)}


GENERATION_STEPS = 8  # new tokens in the greedy generation check of encoder-decoders


def generation_ids(config: Any, generation_config: Any) -> tuple[int | None, int | None]:
    """(eos, pad) as transformers' generate uses them (pad falls back to eos)."""
    def first(value: Any) -> int | None:
        return (value[0] if value else None) if isinstance(value, list) else value

    eos = first(getattr(generation_config, "eos_token_id", None))
    eos = eos if eos is not None else first(getattr(config, "eos_token_id", None))
    pad = first(getattr(generation_config, "pad_token_id", None))
    pad = pad if pad is not None else first(getattr(config, "pad_token_id", None))
    return eos, pad if pad is not None else eos


def torch_greedy(model: Any, batch: dict[str, np.ndarray], start: int,
                 steps: int = GENERATION_STEPS) -> np.ndarray:
    """model.generate, greedy, with only the start/eos/pad tokens of the model's generation
    config: forced tokens, penalties and other logits processors are left out, so that the
    comparison is of the exported graphs, not of decoding options an export does not carry."""
    import torch
    from transformers import GenerationConfig

    target = model.get_base_model() if hasattr(model, "get_base_model") else model
    eos, pad = generation_ids(target.config, target.generation_config)
    saved = target.generation_config
    target.generation_config = GenerationConfig(decoder_start_token_id=start, eos_token_id=eos,
                                                pad_token_id=pad)
    try:
        with torch.inference_mode():
            out = model.generate(input_ids=torch.from_numpy(batch["input_ids"]).to(model.device),
                                 attention_mask=torch.from_numpy(batch["attention_mask"])
                                 .to(model.device), do_sample=False, num_beams=1,
                                 max_new_tokens=steps)
    finally:
        target.generation_config = saved
    return out.cpu().numpy()  # .cpu(): a device sync


def generation_check(source: np.ndarray, exported: np.ndarray, dtype: str) -> dict[str, Any]:
    """Greedy tokens of the export vs the source's model.generate on the short probe.

    fp32 must give the same tokens. In fp16/bf16 a near-tie between two logits can flip one
    greedy choice and everything after it, so there the agreement is reported, not required.
    """
    same = source.shape == exported.shape and bool((source == exported).all())
    width = min(source.shape[1], exported.shape[1])
    agree = float((source[:, :width] == exported[:, :width]).mean()) if width else 0.0
    required = dtype == "fp32"
    return {"steps": GENERATION_STEPS, "source_tokens": source.tolist(),
            "export_tokens": exported.tolist(), "same_tokens": same,
            "token_agreement": agree, "required": required,
            "passed": same if required else True}
