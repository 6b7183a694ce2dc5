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
import typing
from dataclasses import dataclass
from enum import Enum, StrEnum
from functools import cache
from pathlib import Path
from typing import Any

from workbench.core import jsonio
from workbench.core.errors import InvalidTrainSpecError
from workbench.core.training.chat_templates import template_names as chat_template_names
from workbench.core.training.launch import LaunchSpec
from workbench.core.training.tasks import Task, task_info


class Method(StrEnum):
    """How the weights are trained."""

    FULL = "full"
    LORA = "lora"


class Optimizer(StrEnum):
    """Optimizer names as transformers' TrainingArguments spells them.

    adamw_torch runs as torch's fused AdamW kernel where the device has one (see
    session.trainer_optimizer): the same algorithm, an order of magnitude faster on CPU.
    """

    ADAMW_TORCH = "adamw_torch"
    ADAFACTOR = "adafactor"
    SGD = "sgd"


class Scheduler(StrEnum):
    """Learning-rate schedules as transformers' TrainingArguments spells them."""

    LINEAR = "linear"
    COSINE = "cosine"
    COSINE_WITH_RESTARTS = "cosine_with_restarts"
    POLYNOMIAL = "polynomial"
    CONSTANT = "constant"
    CONSTANT_WITH_WARMUP = "constant_with_warmup"
    INVERSE_SQRT = "inverse_sqrt"


class Precision(StrEnum):
    """Numeric precision of training."""

    FP32 = "fp32"
    BF16 = "bf16"
    FP16 = "fp16"


# The values of each choice type, for callers that want plain lists.
TASKS = [t.value for t in Task]
METHODS = [m.value for m in Method]
OPTIMIZERS = [o.value for o in Optimizer]
SCHEDULERS = [s.value for s in Scheduler]
PRECISIONS = [p.value for p in Precision]
SPEC_VERSION = 1
DEMO_MODEL = "@demo"  # model_path in a spec file meaning the bundled demo checkpoint
# A spec is ~40 flat fields; anything near these limits is not a spec.
SPEC_LIMITS = jsonio.JsonLimits(max_bytes=1_000_000, max_depth=8, max_keys=10_000)


@dataclass
class TrainSpec:
    """One fine-tuning run: model, task, data, method, optimisation and where to write it."""

    model_path: str
    """Folder of the Hugging Face checkpoint to fine-tune (config.json + weights + tokenizer)."""
    task: Task
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
    question_column: str = "question"
    """Column holding the question (question answering)."""
    context_column: str = "context"
    """Column holding the passage the answer is taken from (question answering)."""
    answers_column: str = "answers"
    """Column holding each row's answers as {"text": [...], "answer_start": [...]} (question
    answering; flat answer_text and answer_start columns work too)."""
    doc_stride: int = 32
    """Question answering: tokens shared by the overlapping windows a long context is split
    into; 0 = no splitting (a context that does not fit in max_length is refused)."""
    max_length: int = 128
    """Longest input in tokens; longer inputs are truncated."""
    chat_template: str = ""
    """Chat fine-tuning: the chat template; empty = the model's own (ChatML when it has none),
    or a standard one: chatml, zephyr, plain. Saved with the run's tokenizer."""
    packing: bool = False
    """Chat fine-tuning: pack several short examples into each max_length sequence (faster)."""
    sample_prompts: int = 3
    """Chat fine-tuning: answer the first N eval prompts with the base and the trained model
    after training (saved as sample_answers.json in the run folder); 0 = off."""
    method: Method = Method.FULL
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
    optimizer: Optimizer = Optimizer.ADAMW_TORCH
    """Optimizer: AdamW, Adafactor (less memory) or plain SGD."""
    learning_rate: float = 5e-5
    """Peak learning rate (reached after warmup)."""
    weight_decay: float = 0.0
    """Decoupled weight decay (AdamW) applied to weights, not to biases and norms."""
    adam_beta1: float = 0.9
    """AdamW first-moment decay."""
    adam_beta2: float = 0.999
    """AdamW second-moment decay."""
    scheduler: Scheduler = Scheduler.LINEAR
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
    precision: Precision = Precision.FP32
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
    """Run folder; empty = <runs folder>/<time>-<model>-<task> (the runs folder is
    ~/.local/share/transformer-workbench/runs, or $WORKBENCH_RUNS_DIR)."""
    stop_on_nan: bool = True
    """Stop the run with a message when the loss or gradient norm becomes NaN or infinite."""
    save_merged: bool = False
    """LoRA: also save the adapter merged into a full model (merged/ in the run folder)."""
    launch: LaunchSpec = dataclasses.field(default_factory=LaunchSpec)
    """Where to train: in this window, or as processes (several GPUs or machines)."""

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Raise InvalidTrainSpecError naming the first field whose value cannot work."""
        def bad(name: str, why: str) -> None:
            raise InvalidTrainSpecError(f"Training setting '{name}': {why}")

        _check_types_and_ranges(self)
        for name, kind in _choice_types().items():
            value = getattr(self, name)
            try:  # plain strings (forms, JSON) become the field's enum member
                setattr(self, name, kind(value))
            except (ValueError, TypeError):
                bad(name, f"'{value}' is not one of {', '.join(m.value for m in kind)}.")
        if not str(self.model_path).strip():
            bad("model_path", "choose the checkpoint folder to fine-tune.")
        if not str(self.train_file).strip():
            bad("train_file", "choose a CSV, JSON, JSONL, TXT or Parquet file.")
        if not 0.0 <= self.eval_split < 1.0:
            bad("eval_split", f"{self.eval_split} must be in [0, 1).")
        if self.chat_template and self.chat_template not in chat_template_names():
            bad("chat_template", f"'{self.chat_template}' is not one of "
                f"{', '.join(chat_template_names())} (or empty for the model's own).")
        if self.sample_prompts < 0:
            bad("sample_prompts", f"{self.sample_prompts} must be 0 or more.")
        if "target_column" in task_info(self.task).columns and not self.target_column:
            bad("target_column", f"{self.task} needs the column holding the target text.")
        positive_ints = ("max_length", "batch_size", "grad_accum", "lora_r", "lora_alpha",
                         "logging_steps")
        for name in positive_ints:
            if int(getattr(self, name)) < 1:
                bad(name, f"{getattr(self, name)} must be at least 1.")
        if self.task == Task.QUESTION_ANSWERING and self.doc_stride >= self.max_length:
            bad("doc_stride", f"{self.doc_stride} must be smaller than max_length "
                              f"({self.max_length}); about a quarter of it is usual.")
        for name in ("freeze_layers", "eval_steps", "save_steps", "keep_checkpoints",
                     "doc_stride"):
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
        if not isinstance(self.launch, LaunchSpec):
            bad("launch", "must be launch settings (an object).")
        self.launch.validate()

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
        if "launch" in data:
            data["launch"] = LaunchSpec.from_json(data["launch"])
        for f in dataclasses.fields(cls):
            if f.name in data and data[f.name] is not None and f.name != "launch":
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


# Largest value of any integer setting: counts and sizes past this cannot be real (and would
# overflow the int32/int64 fields of torch and the data loader further down).
MAX_INT = 2**31 - 1
# numpy's and Python's seeding used by transformers.set_seed take 0 <= seed < 2**32.
MAX_SEED = 2**32 - 1
# Floats with an upper bound besides finiteness (the others are checked in validate()); a
# learning rate of 1e30 is a legitimate way to provoke divergence, so it has none.
_FLOAT_LIMITS = {"num_epochs": 1e6}


def _check_types_and_ranges(spec: TrainSpec) -> None:
    """Refuse a value of the wrong type, a non-finite float or an integer out of range.

    Runs before the per-field rules so they can compare numbers safely; the message names the
    field, the value and what is allowed.
    """
    for f in dataclasses.fields(spec):
        value, t = getattr(spec, f.name), str(f.type)
        if value is None and "None" in t:
            continue
        where = f"Training setting '{f.name}'"
        if t == "bool":
            if not isinstance(value, bool):
                raise InvalidTrainSpecError(f"{where}: {value!r} is not true or false.")
        elif t == "int":
            if isinstance(value, bool) or not isinstance(value, int):
                raise InvalidTrainSpecError(f"{where}: {_short(value)} is not a whole number.")
            low, high = (0, MAX_SEED) if f.name == "seed" else (-1, MAX_INT)
            if not low <= value <= high:
                raise InvalidTrainSpecError(
                    f"{where}: {_short(value)} is out of range; use {low} to {high}.")
        elif t == "float":
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise InvalidTrainSpecError(f"{where}: {_short(value)} is not a number.")
            if not math.isfinite(value):
                raise InvalidTrainSpecError(
                    f"{where}: {value} is not a finite number; give a plain number.")
            limit = _FLOAT_LIMITS.get(f.name)
            if limit is not None and abs(value) > limit:
                raise InvalidTrainSpecError(
                    f"{where}: {value:g} is out of range; use at most {limit:g}.")
        elif t.startswith("str") and not isinstance(value, str):
            raise InvalidTrainSpecError(f"{where}: {_short(value)} is not text.")
        elif t.startswith("list[str]") and not isinstance(value, list):
            raise InvalidTrainSpecError(f"{where}: {_short(value)} is not a list of names.")


def _short(value: Any) -> str:
    """repr() of a value cut to 60 characters (a 4,000-digit integer must not fill a dialog)."""
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 64:
        return f"an integer of {value.bit_length()} bits"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _coerce(name: str, type_text: str, value: Any) -> Any:
    """Turn a JSON value into the field's type (5 -> 5.0, "1e-4" -> 0.0001), naming the field."""
    t = str(type_text)
    try:
        if t in ("float", "int") and (isinstance(value, bool)
                                      or not isinstance(value, (int, float, str))):
            raise TypeError(value)  # float(True) / int([1]) must not pass as numbers
        if t == "float":
            return float(value)
        if t == "int":
            if isinstance(value, float) and not value.is_integer():
                raise ValueError(value)
            if isinstance(value, str) and len(value) > 30:
                raise ValueError(value)  # int() of a 4,300-digit string is slow, then refused
            return int(value)
        if t == "bool":
            if not isinstance(value, bool):
                raise ValueError(value)
            return value
        if t.startswith("str"):
            if isinstance(value, (dict, list)):
                raise TypeError(value)
            return str(value)
        if t.startswith("list[str]"):
            if isinstance(value, str):
                value = [v.strip() for v in value.split(",") if v.strip()]
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise TypeError(value)
            return list(value) or None
    except (TypeError, ValueError, OverflowError):
        raise InvalidTrainSpecError(
            f"Training setting '{name}': {_short(value)} is not a valid {t}.") from None
    return value


def choices() -> dict[str, list[str]]:
    """Fields that take one of a fixed set of values -> the allowed values (for combo boxes)."""
    return {name: [m.value for m in kind] for name, kind in _choice_types().items()}


@cache
def _choice_types() -> dict[str, type[Enum]]:
    """Fields whose type is an Enum -> that type (read from the annotations: one owner)."""
    hints = typing.get_type_hints(TrainSpec)
    return {f.name: hints[f.name] for f in dataclasses.fields(TrainSpec)
            if isinstance(hints[f.name], type) and issubclass(hints[f.name], Enum)}


@cache
def _docs() -> dict[str, str]:
    return attribute_docs(TrainSpec)


@cache
def attribute_docs(cls: type) -> dict[str, str]:
    """Field name -> the docstring written under it in the dataclass `cls` (litgpt style)."""
    tree = ast.parse(textwrap.dedent(inspect.getsource(cls)))
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


# Tasks with a demo of their own (resources/demo_data); the others get the classification demo.
DEMO_SPECS = {Task.QUESTION_ANSWERING: "qa_spec.json", Task.CHAT_SFT: "chat_spec.json"}


def demo_spec(output_dir: str | Path = "", task: str | None = None) -> TrainSpec:
    """The demo run (resources/demo_data/demo_spec.json): MiniLM on 4-topic sentences; with a
    `task` that has a demo of its own (DEMO_SPECS), that task's demo."""
    name = DEMO_SPECS.get(Task(task), "demo_spec.json") if task in TASKS else "demo_spec.json"
    spec = TrainSpec.load(demo_data_dir() / name)
    return spec.replace(output_dir=str(output_dir)) if output_dir else spec


def demo_data_dir() -> Path:
    """The installed demo data folder (resources/demo_data: train.csv, eval.csv, the spec)."""
    # The package is installed unzipped (wheel or editable), so the Traversable is a real folder.
    return Path(str(importlib.resources.files("workbench.resources") / "demo_data"))
