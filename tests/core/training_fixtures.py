"""Tiny real models with the MiniLM tokenizer and small data files, shared by the training tests."""

from __future__ import annotations

import atexit
import csv
import json
import random
import shutil
import tempfile
from functools import cache
from pathlib import Path

from workbench.core.training.spec import TrainSpec

VOCAB = 30522
_ROOT = Path(tempfile.mkdtemp(prefix="wb-training-tests-"))
atexit.register(shutil.rmtree, _ROOT, True)

TASK_FAMILY = {"sequence-classification": "bert", "token-classification": "bert",
               "masked-lm": "bert", "causal-lm": "gpt2", "seq2seq": "t5"}


@cache
def tiny_model(family: str) -> Path:
    """A tiny `family` checkpoint (tests/conftest.py shapes) with vocab 30522 + MiniLM tokenizer."""
    import torch
    import transformers

    from tests.conftest import TINY_MODELS
    from workbench.core.modeling import demo_checkpoint_path

    config_cls, model_cls, kwargs = TINY_MODELS[family]
    folder = _ROOT / f"model-{family}"
    torch.manual_seed(0)
    config = getattr(transformers, config_cls)(**dict(kwargs, vocab_size=VOCAB))
    getattr(transformers, model_cls)(config).save_pretrained(folder)
    minilm = demo_checkpoint_path()
    for name in ("tokenizer.json", "tokenizer_config.json", "vocab.txt",
                 "special_tokens_map.json"):
        if (minilm / name).is_file():
            shutil.copy(minilm / name, folder / name)
    return folder


_GOOD = ["good", "great", "lovely", "happy", "bright", "excellent", "kind", "fresh"]
_BAD = ["bad", "awful", "sad", "dark", "terrible", "cruel", "stale", "angry"]
_NOUNS = ["day", "film", "meal", "song", "trip", "book", "game", "room", "town", "idea"]


def _sentences(n: int, seed: int) -> list[tuple[str, str]]:
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        label = "pos" if i % 2 == 0 else "neg"
        word = rng.choice(_GOOD if label == "pos" else _BAD)
        rows.append((f"a {word} {rng.choice(_NOUNS)} and a {word} {rng.choice(_NOUNS)}", label))
    return rows


@cache
def data_file(task: str) -> Path:
    """A small learnable data file for `task`, in a different format per task."""
    folder = _ROOT / "data"
    folder.mkdir(exist_ok=True)
    rows = _sentences(64, seed=1)
    if task == "sequence-classification":
        path = folder / "cls.csv"
        with path.open("w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(["text", "label"])
            writer.writerows(rows)
    elif task == "token-classification":
        path = folder / "tokens.jsonl"
        with path.open("w") as f:
            for text, _ in rows:
                words = text.split()
                tags = ["ADJ" if w in _GOOD + _BAD else "O" for w in words]
                f.write(json.dumps({"text": words, "label": tags}) + "\n")
    elif task == "causal-lm":
        path = folder / "lm.txt"
        path.write_text("\n".join(text for text, _ in rows) + "\n")
    elif task == "masked-lm":
        import pandas as pd

        path = folder / "mlm.parquet"
        pd.DataFrame({"text": [text for text, _ in rows]}).to_parquet(path)
    else:
        path = folder / "s2s.json"
        path.write_text(json.dumps([{"text": t, "target": lab} for t, lab in rows]))
    return path


def tiny_spec(task: str, output_dir: Path, **changes) -> TrainSpec:
    """A spec training the tiny model for `task` a few steps on CPU."""
    base = dict(model_path=str(tiny_model(TASK_FAMILY[task])), task=task,
                train_file=str(data_file(task)), eval_split=0.25, max_length=32, batch_size=8,
                max_steps=3, logging_steps=1, learning_rate=1e-3, output_dir=str(output_dir),
                target_column="target" if task == "seq2seq" else None)
    base.update(changes)
    return TrainSpec(**base)


class Recorder:
    """An `emit` that keeps every event (and can act on them with `on_event`)."""

    def __init__(self, on_event=None) -> None:
        self.events = []
        self.on_event = on_event

    def __call__(self, event) -> None:
        self.events.append(event)
        if self.on_event is not None:
            self.on_event(event)

    def kinds(self) -> list[str]:
        return [e.kind for e in self.events]

    def losses(self) -> dict[int, float]:
        return {e.step: e.metrics["loss"] for e in self.events
                if e.kind == "log" and "loss" in e.metrics}
