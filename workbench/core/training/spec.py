"""TrainSpec: every knob of a fine-tuning run in one dataclass (form, CLI and runner share it)."""

from __future__ import annotations

import ast
import dataclasses
import importlib.resources
import inspect
import itertools
import json
import math
import textwrap
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from workbench.core import jsonio
from workbench.core.errors import InvalidTrainSpecError

TASKS = ["sequence-classification", "token-classification", "causal-lm", "masked-lm", "seq2seq"]
METHODS = ["full", "lora"]
OPTIMIZERS = ["adamw_torch", "adafactor", "sgd"]
SCHEDULERS = ["linear", "cosine", "cosine_with_restarts", "polynomial", "constant",
              "constant_with_warmup", "inverse_sqrt"]
PRECISIONS = ["fp32", "bf16", "fp16"]
SPEC_VERSION = 1
DEMO_MODEL = "@demo"  # model_path in a spec file meaning the bundled demo checkpoint
# A spec is ~40 flat fields; anything near these limits is not a spec.
SPEC_LIMITS = jsonio.JsonLimits(max_bytes=1_000_000, max_depth=8, max_keys=10_000)


@dataclass
class TrainSpec:
    """One fine-tuning run: model, task, data, method, optimisation and where to write it."""

    model_path: str
    """Folder of the Hugging Face checkpoint to fine-tune (config.json + weights + tokenizer)."""
    task: str
    """What to train the model for; the matching head is created or resized as needed."""
    train_file: str
    """Training data: a CSV, JSON, JSONL, TXT or Parquet file."""
    eval_file: str | None = None
    """Evaluation data file; empty = hold out `eval_split` of the training file."""
    eval_split: float = 0.1
    """Fraction of the training rows held out for evaluation when there is no eval file."""
    text_column: str = "text"
    """Column holding the input text (token classification: space-separated words or a list)."""
    text_pair_column: str | None = None
    """Optional second text column for sentence-pair classification."""
    label_column: str = "label"
    """Column holding the label (classification) or per-word tags (token classification)."""
    target_column: str | None = None
    """Column holding the target text (seq2seq only)."""
    max_length: int = 128
    """Longest input in tokens; longer inputs are truncated."""
    method: str = "full"
    """Full fine-tuning updates every weight; LoRA trains small low-rank adapters only."""
    lora_r: int = 8
    """LoRA rank: the width of the low-rank update (higher = more capacity, more memory)."""
    lora_alpha: int = 16
    """LoRA scaling numerator; the update is scaled by alpha / r."""
    lora_dropout: float = 0.05
    """Dropout applied to the LoRA input."""
    lora_target_modules: list[str] | None = None
    """Module names that get LoRA adapters; empty = a sensible default for the architecture."""
    freeze_embeddings: bool = False
    """Keep the input embeddings fixed (full fine-tuning)."""
    freeze_layers: int = 0
    """Keep the first N transformer layers fixed (full fine-tuning)."""
    optimizer: str = "adamw_torch"
    """Optimizer: AdamW, Adafactor (less memory) or plain SGD."""
    learning_rate: float = 5e-5
    """Peak learning rate (reached after warmup)."""
    weight_decay: float = 0.0
    """Decoupled weight decay (AdamW) applied to weights, not to biases and norms."""
    adam_beta1: float = 0.9
    """AdamW first-moment decay."""
    adam_beta2: float = 0.999
    """AdamW second-moment decay."""
    scheduler: str = "linear"
    """How the learning rate changes over the run after warmup."""
    warmup_ratio: float = 0.0
    """Fraction of the steps spent ramping the learning rate up from 0."""
    num_epochs: float = 3.0
    """Passes over the training data (ignored when max_steps > 0)."""
    max_steps: int = -1
    """Total optimizer steps; -1 = derived from num_epochs."""
    batch_size: int = 8
    """Examples per device per forward pass."""
    grad_accum: int = 1
    """Forward passes accumulated per optimizer step (effective batch = batch_size x this)."""
    max_grad_norm: float = 1.0
    """Gradients are clipped to this global norm; 0 = no clipping."""
    seed: int = 42
    """Random seed for weights of new heads, shuffling and dropout."""
    precision: str = "fp32"
    """Numeric precision of training: fp32, bf16 or fp16 mixed precision (device permitting)."""
    gradient_checkpointing: bool = False
    """Recompute activations in the backward pass: less memory, about 30% slower."""
    device: str = "cpu"
    """Where to train: cpu, cuda:N or mps."""
    logging_steps: int = 5
    """Send loss, learning rate and throughput every N steps."""
    eval_steps: int = 0
    """Evaluate every N steps; 0 = at the end of each epoch."""
    save_steps: int = 0
    """Write a resumable checkpoint every N steps; 0 = at the end of each epoch."""
    keep_checkpoints: int = 3
    """Keep only the newest N complete checkpoints (each holds weights + optimizer); 0 = all."""
    output_dir: str = ""
    """Run folder; empty = runs/<timestamp> in the current directory."""
    stop_on_nan: bool = True
    """Stop the run with a message when the loss or gradient norm becomes NaN or infinite."""
    save_merged: bool = False
    """LoRA: also save the adapter merged into a full model (merged/ in the run folder)."""

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Raise InvalidTrainSpecError naming the first field whose value cannot work."""
        def bad(name: str, why: str) -> None:
            raise InvalidTrainSpecError(f"Training setting '{name}': {why}")

        for name, options in choices().items():
            value = getattr(self, name)
            if value not in options:
                bad(name, f"'{value}' is not one of {', '.join(options)}.")
        if not str(self.model_path).strip():
            bad("model_path", "choose the checkpoint folder to fine-tune.")
        if not str(self.train_file).strip():
            bad("train_file", "choose a CSV, JSON, JSONL, TXT or Parquet file.")
        if not 0.0 <= self.eval_split < 1.0:
            bad("eval_split", f"{self.eval_split} must be in [0, 1).")
        if self.task == "seq2seq" and not self.target_column:
            bad("target_column", "seq2seq needs the column holding the target text.")
        positive_ints = ("max_length", "batch_size", "grad_accum", "lora_r", "lora_alpha",
                         "logging_steps")
        for name in positive_ints:
            if int(getattr(self, name)) < 1:
                bad(name, f"{getattr(self, name)} must be at least 1.")
        for name in ("freeze_layers", "eval_steps", "save_steps", "keep_checkpoints"):
            if int(getattr(self, name)) < 0:
                bad(name, f"{getattr(self, name)} must be 0 or more.")
        if not 0.0 <= self.lora_dropout < 1.0:
            bad("lora_dropout", f"{self.lora_dropout} must be in [0, 1).")
        if not (self.learning_rate > 0 and math.isfinite(self.learning_rate)):
            bad("learning_rate", f"{self.learning_rate} must be a positive number.")
        if self.weight_decay < 0:
            bad("weight_decay", "must be 0 or more.")
        for name in ("adam_beta1", "adam_beta2"):
            if not 0.0 <= getattr(self, name) < 1.0:
                bad(name, f"{getattr(self, name)} must be in [0, 1).")
        if not 0.0 <= self.warmup_ratio < 1.0:
            bad("warmup_ratio", f"{self.warmup_ratio} must be in [0, 1).")
        if self.max_steps == 0 or self.max_steps < -1:
            bad("max_steps", "use -1 (derive from epochs) or a positive number of steps.")
        if self.max_steps == -1 and not self.num_epochs > 0:
            bad("num_epochs", "must be positive when max_steps is -1.")
        if self.max_grad_norm < 0:
            bad("max_grad_norm", "must be 0 (off) or positive.")
        device = self.device
        if not (device == "cpu" or device == "mps" or device == "cuda"
                or (device.startswith("cuda:") and device[5:].isdigit())):
            bad("device", f"'{device}' is not cpu, mps or cuda:N.")
        if self.precision == "fp16" and device == "cpu":
            bad("precision", "fp16 mixed precision needs a GPU; use fp32 or bf16 on the CPU.")
        if self.lora_target_modules is not None and not all(
                isinstance(m, str) and m for m in self.lora_target_modules):
            bad("lora_target_modules", "must be a list of module names (or empty for default).")

    def replace(self, **changes: Any) -> TrainSpec:
        """A validated copy with `changes` applied."""
        return dataclasses.replace(self, **changes)

    def to_json(self) -> dict:
        """A JSON-ready dict (with a format version), the inverse of `from_json`."""
        data = dataclasses.asdict(self)
        data["spec_version"] = SPEC_VERSION
        return data

    @classmethod
    def from_json(cls, data: dict) -> TrainSpec:
        """Build and validate a spec from `to_json` output; unknown keys are an error."""
        if not isinstance(data, dict):
            raise InvalidTrainSpecError("A training spec must be a JSON object.")
        data = {k: v for k, v in data.items() if k != "spec_version"}
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise InvalidTrainSpecError(
                f"Unknown training setting(s): {', '.join(unknown)}. "
                f"Valid: {', '.join(sorted(names))}.")
        missing = [n for n in ("model_path", "task", "train_file") if n not in data]
        if missing:
            raise InvalidTrainSpecError(f"The training spec lacks {', '.join(missing)}.")
        for f in dataclasses.fields(cls):
            if f.name in data and data[f.name] is not None:
                data[f.name] = _coerce(f.name, f.type, data[f.name])
        return cls(**data)

    def save(self, path: str | Path) -> None:
        """Write the spec as pretty JSON, atomically."""
        from workbench.core.atomic import atomic_write_text

        atomic_write_text(Path(path), json.dumps(self.to_json(), indent=2) + "\n")

    @classmethod
    def load(cls, path: str | Path) -> TrainSpec:
        """Read a spec JSON file, with a clear message when it is missing or malformed.

        Relative file paths are taken relative to the spec file; model_path "@demo" means the
        bundled demo model (so resources/demo_data/demo_spec.json works on any machine).
        """
        p = Path(path)
        data = jsonio.load_file(p, error=InvalidTrainSpecError, limits=SPEC_LIMITS,
                                what="training spec", source=f"Training spec {p}")
        if isinstance(data, dict):
            if data.get("model_path") == DEMO_MODEL:
                from workbench.core.model.loading import demo_checkpoint_path

                data["model_path"] = str(demo_checkpoint_path())
            for key in ("model_path", "train_file", "eval_file", "output_dir"):
                value = data.get(key)
                if isinstance(value, str) and value and not Path(value).expanduser().is_absolute():
                    data[key] = str((p.parent / value).resolve())
        return cls.from_json(data)


def _coerce(name: str, type_text: str, value: Any) -> Any:
    """Turn a JSON value into the field's type (5 -> 5.0, "1e-4" -> 0.0001), naming the field."""
    t = str(type_text)
    try:
        if t == "float":
            return float(value)
        if t == "int":
            if isinstance(value, float) and not value.is_integer():
                raise ValueError(value)
            return int(value)
        if t == "bool":
            if not isinstance(value, bool):
                raise ValueError(value)
            return value
        if t.startswith("str"):
            return str(value)
        if t.startswith("list[str]"):
            if isinstance(value, str):
                value = [v.strip() for v in value.split(",") if v.strip()]
            return [str(v) for v in value] or None
    except (TypeError, ValueError):
        raise InvalidTrainSpecError(
            f"Training setting '{name}': {value!r} is not a valid {t}.") from None
    return value


def choices() -> dict[str, list[str]]:
    """Fields that take one of a fixed set of values -> the allowed values (for combo boxes)."""
    return {"task": list(TASKS), "method": list(METHODS), "optimizer": list(OPTIMIZERS),
            "scheduler": list(SCHEDULERS), "precision": list(PRECISIONS)}


@cache
def _docs() -> dict[str, str]:
    tree = ast.parse(textwrap.dedent(inspect.getsource(TrainSpec)))
    body = tree.body[0].body  # type: ignore[attr-defined]
    docs: dict[str, str] = {}
    for node, nxt in itertools.pairwise(body):
        if (isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name)
                and isinstance(nxt, ast.Expr) and isinstance(nxt.value, ast.Constant)
                and isinstance(nxt.value.value, str)):
            docs[node.target.id] = " ".join(nxt.value.value.split())
    return docs


def field_docs() -> dict[str, str]:
    """Field name -> its attribute docstring (used as tooltip and CLI help)."""
    return dict(_docs())


def demo_spec(output_dir: str | Path = "") -> TrainSpec:
    """The demo run (resources/demo_data/demo_spec.json): MiniLM on 4-topic sentences."""
    spec = TrainSpec.load(demo_data_dir() / "demo_spec.json")
    return spec.replace(output_dir=str(output_dir)) if output_dir else spec


def demo_data_dir() -> Path:
    """The installed demo data folder (resources/demo_data: train.csv, eval.csv, the spec)."""
    # The package is installed unzipped (wheel or editable), so the Traversable is a real folder.
    return Path(str(importlib.resources.files("workbench.resources") / "demo_data"))
