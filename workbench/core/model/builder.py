"""Consequences of an edited config (size, diff vs stored weights) and building models from it."""

from __future__ import annotations

import json
import os
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from workbench.core import atomic, jsonio
from workbench.core.atomic import atomic_write_text
from workbench.core.checkpoint.pickle_weights import load_pickle_state_dict
from workbench.core.checkpoint.tensors import TensorInfo
from workbench.core.checkpoint.tokenizer_info import read_tokenizer_info
from workbench.core.config.rules import ValidationResult, library_check, validate
from workbench.core.config.schema import ConfigSchema, effective_values, jsonable, schema_for
from workbench.core.devices import check_device
from workbench.core.errors import CancelledError, InvalidConfigError, WorkbenchError
from workbench.core.model import architecture as arch
from workbench.core.model.limits import ensure_fits
from workbench.core.model.memory import MemoryEstimate, estimate_memory
from workbench.core.model.parameters import count_parameters
from workbench.core.units import human_count

Progress = Callable[[str], None]

# Small but real models of each family, ready to train from scratch on a laptop.
FAMILIES: dict[str, dict[str, Any]] = {
    "bert": {"model_type": "bert", "architectures": ["BertForMaskedLM"], "vocab_size": 30522,
             "hidden_size": 256, "num_hidden_layers": 4, "num_attention_heads": 4,
             "intermediate_size": 1024, "max_position_embeddings": 512},
    "gpt2": {"model_type": "gpt2", "architectures": ["GPT2LMHeadModel"], "vocab_size": 50257,
             "n_embd": 256, "n_layer": 4, "n_head": 4, "n_positions": 512},
    "llama": {"model_type": "llama", "architectures": ["LlamaForCausalLM"], "vocab_size": 32000,
              "hidden_size": 256, "num_hidden_layers": 4, "num_attention_heads": 4,
              "num_key_value_heads": 2, "intermediate_size": 688,
              "max_position_embeddings": 2048},
    "t5": {"model_type": "t5", "architectures": ["T5ForConditionalGeneration"],
           "vocab_size": 32128, "d_model": 256, "d_kv": 64, "d_ff": 1024, "num_layers": 4,
           "num_decoder_layers": 4, "num_heads": 4, "decoder_start_token_id": 0},
    "mistral": {"model_type": "mistral", "architectures": ["MistralForCausalLM"],
                "vocab_size": 32000, "hidden_size": 256, "num_hidden_layers": 4,
                "num_attention_heads": 4, "num_key_value_heads": 2, "intermediate_size": 688,
                "max_position_embeddings": 2048, "sliding_window": 1024},
    "qwen2": {"model_type": "qwen2", "architectures": ["Qwen2ForCausalLM"], "vocab_size": 32000,
              "hidden_size": 256, "num_hidden_layers": 4, "num_attention_heads": 4,
              "num_key_value_heads": 2, "intermediate_size": 688,
              "max_position_embeddings": 2048},
    "bart": {"model_type": "bart", "architectures": ["BartForConditionalGeneration"],
             "vocab_size": 50265, "d_model": 256, "encoder_layers": 3, "decoder_layers": 3,
             "encoder_attention_heads": 4, "decoder_attention_heads": 4,
             "encoder_ffn_dim": 1024, "decoder_ffn_dim": 1024, "max_position_embeddings": 512},
}
WEIGHT_FILES = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin",
                "pytorch_model.bin.index.json")
EXTRA_FILES = ("generation_config.json",)


# -- live consequences ----------------------------------------------------------------------------
@dataclass(frozen=True)
class Estimate:
    """Size of the model the config describes, from a meta-device build."""

    model_class: str
    num_parameters: int
    memory: MemoryEstimate
    seconds: float  # how long the meta build took

    def to_json(self) -> dict:
        return {"model_class": self.model_class, "num_parameters": self.num_parameters,
                "memory": self.memory.to_json(), "seconds": round(self.seconds, 4)}


@dataclass(frozen=True)
class FieldChange:
    """One field whose value differs from the original config."""

    name: str
    old: Any
    new: Any


@dataclass(frozen=True)
class ConfigAnalysis:
    """Everything the editor shows after an edit: issues, size, changes, fit of stored weights."""

    validation: ValidationResult
    estimate: Estimate | None
    changes: tuple[FieldChange, ...] = ()
    comparison: arch.WeightsComparison | None = None

    def to_json(self) -> dict:
        out: dict[str, Any] = {
            "ok": self.validation.ok,
            "issues": [i.to_json() for i in self.validation.issues],
            "changed": {c.name: [c.old, c.new] for c in self.changes},
            "estimate": self.estimate.to_json() if self.estimate else None,
        }
        if self.comparison is not None:
            c = self.comparison
            out["weights_fit"] = {"matched": len(c.matched), "missing": list(c.missing),
                                  "unexpected": list(c.unexpected),
                                  "mismatched": [[n, list(s), list(e)]
                                                 for n, s, e in c.mismatched]}
        return out


def changed_fields(original: dict[str, Any], values: dict[str, Any],
                   schema: ConfigSchema) -> tuple[FieldChange, ...]:
    """Fields whose shown value differs between the original and the edited config."""
    before, after = effective_values(original, schema), effective_values(values, schema)
    return tuple(FieldChange(f.name, before.get(f.name), after.get(f.name)) for f in schema.fields
                 if jsonable(before.get(f.name)) != jsonable(after.get(f.name)))


def analyze(values: dict[str, Any], schema: ConfigSchema | None = None, *,
            original: dict[str, Any] | None = None, stored: tuple[TensorInfo, ...] = (),
            tokenizer_vocab_size: int | None = None) -> ConfigAnalysis:
    """Validate, let transformers build on the meta device, size it and compare stored weights."""
    schema = schema or schema_for(values)
    changes = changed_fields(original, values, schema) if original is not None else ()
    result = validate(values, schema, tokenizer_vocab_size=tokenizer_vocab_size)
    if not result.ok:  # the library would only repeat these in its own words
        return ConfigAnalysis(result, None, changes)
    start = time.perf_counter()
    model, issues = library_check(values, schema)
    result = ValidationResult(result.issues + tuple(issues))
    if model is None:
        return ConfigAnalysis(result, None, changes)
    n = count_parameters(model).total
    estimate = Estimate(type(model).__name__, n, estimate_memory(n), time.perf_counter() - start)
    comparison = arch.compare_with_stored(model, list(stored)) if stored else None
    return ConfigAnalysis(result, estimate, changes, comparison)


def family_values(family: str, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """The small starting config of a family, with `overrides` applied."""
    key = family.lower().replace("-", "")
    if key not in FAMILIES:
        raise InvalidConfigError(f"Unknown family '{family}'; choose one of "
                                 f"{', '.join(FAMILIES)}.")
    return {**FAMILIES[key], **(overrides or {})}


# -- building ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class WeightsReport:
    """What happened to each tensor when a model was built from checkpoint weights."""

    loaded: tuple[str, ...] = ()
    missing: tuple[str, ...] = ()  # not in the checkpoint: freshly initialised
    unexpected: tuple[str, ...] = ()  # in the checkpoint, not in the new model: dropped
    mismatched: tuple[tuple[str, tuple[int, ...], tuple[int, ...]], ...] = ()
    how: dict[str, str] = field(default_factory=dict)  # name -> how it was initialised

    def to_json(self) -> dict:
        return {"loaded": list(self.loaded), "missing": list(self.missing),
                "unexpected": list(self.unexpected),
                "mismatched": [{"name": n, "stored_shape": list(s), "new_shape": list(e),
                                "how": self.how.get(n, "")} for n, s, e in self.mismatched],
                "initialised": dict(self.how)}


@dataclass(frozen=True)
class BuildResult:
    """A model written to disk: where, what, and how its weights were obtained."""

    path: str
    model_class: str
    num_parameters: int
    seed: int
    device: str
    dtype: str
    files: tuple[str, ...]
    report: WeightsReport | None = None
    seconds: float = 0.0

    def to_json(self) -> dict:
        out = {"path": self.path, "model_class": self.model_class,
               "num_parameters": self.num_parameters, "seed": self.seed, "device": self.device,
               "dtype": self.dtype, "files": list(self.files), "seconds": round(self.seconds, 2)}
        if self.report is not None:
            out.update(self.report.to_json())
        return out


def _step(progress: Progress | None, cancel: threading.Event | None, message: str) -> None:
    if cancel is not None and cancel.is_set():
        raise CancelledError("Build cancelled; nothing was written.")
    if progress:
        progress(message)


def _instantiate(values: dict[str, Any], seed: int, device: str, dtype: str | None):
    """A real model with seeded random weights, built by its transformers class."""
    import torch

    from workbench.core.model.loading import resolve_dtype

    check_device(device)
    schema = schema_for(values)
    meta, issues = library_check(values, schema)
    errors = [i.message for i in validate(values, schema).errors] + [
        i.message for i in issues if i.severity == "error"]
    if errors:
        raise InvalidConfigError(f"{len(errors)} problem(s) in the config: " + " | ".join(errors))
    config = arch.config_from_dict(values)
    cls = arch.model_class_for(config)
    torch_dtype = resolve_dtype(dtype)
    if meta is not None:  # it knows every parameter and buffer: check before allocating
        itemsize = torch_dtype.itemsize if isinstance(torch_dtype, torch.dtype) else 4
        n = count_parameters(meta).total
        needed = itemsize * (n + sum(b.numel() for b in meta.buffers()))
        del meta
        ensure_fits(needed, device, f"Building {cls.__name__} ({human_count(n)} parameters, "
                    f"{dtype or 'float32'})", "Lower the sizes (layers, hidden_size, "
                    "vocab_size), choose bfloat16, or build on a device with more memory.")
    torch.manual_seed(seed)
    try:
        with torch.device(device):
            model = cls._from_config(config, dtype=None if torch_dtype == "auto" else torch_dtype)
    except (RuntimeError, ValueError, TypeError) as e:
        raise WorkbenchError(f"Could not build {cls.__name__} on {device}: {e}. Try the CPU "
                             f"or a smaller config.") from None
    return model.eval()


@contextmanager
def atomic_folder(out_dir: str | Path) -> Iterator[Path]:
    """Yield a temporary folder next to `out_dir`; it becomes `out_dir` only if all went well."""
    out = Path(out_dir).expanduser().resolve()
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise WorkbenchError(f"{out} already exists and is not empty. Choose a new folder name "
                             f"(nothing was written).")
    with atomic.atomic_folder(out) as tmp:
        yield tmp


def _copy_side_files(source: Path | None, dest: Path, with_extra: bool = True) -> list[str]:
    """Copy tokenizer files (and generation_config.json) from a checkpoint folder."""
    if source is None:
        return []
    tok = read_tokenizer_info(source)
    names = list(tok.files if tok else ()) + (list(EXTRA_FILES) if with_extra else [])
    copied = []
    for name in names:
        if (source / name).is_file() and not (dest / name).exists():
            shutil.copy2(source / name, dest / name)
            copied.append(name)
    return copied


def _save(model, tmp: Path, progress, cancel) -> None:
    from transformers.utils import logging as hf_logging

    _step(progress, cancel, "Writing model.safetensors")
    hf_logging.disable_progress_bar()  # a tqdm bar would corrupt --json output
    model.save_pretrained(tmp)


def build_new_model(values: dict[str, Any], out_dir: str | Path, *, seed: int = 0,
                    device: str = "cpu", dtype: str = "float32",
                    tokenizer_from: str | Path | None = None, progress: Progress | None = None,
                    cancel: threading.Event | None = None) -> BuildResult:
    """Instantiate the config with seeded random weights and save it as a Hugging Face folder."""
    start = time.perf_counter()
    tok_folder = _folder(tokenizer_from) if tokenizer_from else None
    with atomic_folder(out_dir) as tmp:
        _step(progress, cancel, "Building the model with random weights")
        model = _instantiate(values, seed, device, dtype)
        _save(model, tmp, progress, cancel)
        _step(progress, cancel, "Copying tokenizer files")
        _copy_side_files(tok_folder, tmp, with_extra=False)
        files = tuple(sorted(p.name for p in tmp.iterdir()))
    return BuildResult(str(Path(out_dir).expanduser().resolve()), type(model).__name__,
                       count_parameters(model).total, seed, device, str(dtype), files,
                       seconds=time.perf_counter() - start)


def _folder(path: str | Path) -> Path:
    p = Path(path).expanduser().resolve()
    return p if p.is_dir() else p.parent


def build_from_weights(values: dict[str, Any], source: str | Path, out_dir: str | Path, *,
                       seed: int = 0, device: str = "cpu", dtype: str | None = None,
                       copy_overlap: bool = True, progress: Progress | None = None,
                       cancel: threading.Event | None = None) -> BuildResult:
    """Build the edited config and load the checkpoint's weights wherever names and shapes fit.

    With `copy_overlap`, a tensor that grew or shrank (longer position embeddings, a bigger
    vocabulary) keeps its overlapping block from the checkpoint; the rest is initialised.
    """
    from workbench.core.checkpoint.inspection import inspect_checkpoint

    start = time.perf_counter()
    _step(progress, cancel, "Reading the checkpoint's tensor list")
    info = inspect_checkpoint(source, build_tree=False)
    if not info.tensors:
        raise WorkbenchError(f"{info.path} has no stored weights to load; use New Model to "
                             f"build with random weights instead.")
    if Path(out_dir).expanduser().resolve() == Path(info.root):
        raise WorkbenchError("Write the rebuilt model to a new folder, not over the checkpoint "
                             "it reads from.")
    dtype = dtype or _stored_float_dtype(info.dtypes)
    with atomic_folder(out_dir) as tmp:
        _step(progress, cancel, "Building the model from the edited config")
        model = _instantiate(values, seed, device, dtype)
        report = _load_matching(model, info.tensors, Path(info.root), copy_overlap,
                                progress, cancel, seed)
        _save(model, tmp, progress, cancel)
        _step(progress, cancel, "Copying tokenizer files")
        _copy_side_files(Path(info.root), tmp)
        files = tuple(sorted(p.name for p in tmp.iterdir()))
    return BuildResult(str(Path(out_dir).expanduser().resolve()), type(model).__name__,
                       count_parameters(model).total, seed, device, str(dtype), files, report,
                       time.perf_counter() - start)


def _stored_float_dtype(dtypes: dict[str, int]) -> str:
    floats = {"F32": "float32", "BF16": "bfloat16", "F16": "float16"}
    present = [(n, code) for code, n in dtypes.items() if code in floats]
    return floats[max(present)[1]] if present else "float32"


class _TensorReader:
    """Reads stored tensors one at a time (safetensors lazily, pickles with weights_only)."""

    def __init__(self, root: Path, tensors: tuple[TensorInfo, ...]):
        self.root, self.shard_of = root, {t.name: t.shard for t in tensors}
        self._open: dict[str, Any] = {}

    def get(self, name: str):
        shard = self.shard_of[name]
        if shard not in self._open:
            path = self.root / shard
            if shard.endswith(".safetensors"):
                from safetensors import safe_open

                self._open[shard] = safe_open(str(path), framework="pt")
            else:
                self._open[shard] = load_pickle_state_dict(path)
        src = self._open[shard]
        return src.get_tensor(name) if hasattr(src, "get_tensor") else src[name]


def describe_init(tensor) -> str:
    """How a freshly initialised tensor looks: zeros, ones, constant or random (mean, std)."""
    t = tensor.detach().float()
    if t.numel() == 0:
        return "empty"
    lo, hi = float(t.min()), float(t.max())
    if lo == hi:
        return {0.0: "zeros", 1.0: "ones"}.get(lo, f"constant {lo:g}")
    return f"random (mean {float(t.mean()):.3g}, std {float(t.std()):.3g})"


def _load_matching(model, tensors, root: Path, copy_overlap: bool, progress, cancel,
                   seed: int) -> WeightsReport:
    """Load every stored tensor that fits, converted the way from_pretrained converts it."""
    import torch

    from workbench.core.model.key_mapping import plan_keys

    plan = plan_keys(model, list(tensors))
    comparison = arch.compare_with_stored(model, list(tensors), plan)
    params = dict(model.named_parameters(remove_duplicate=False))
    reader = _TensorReader(root, tensors)
    init_by = f"{type(model).__name__}._init_weights, seed {seed}"
    how: dict[str, str] = {}
    done: set[int] = set()
    matched = set(comparison.matched)
    resized = {n: (s, e) for n, s, e in comparison.mismatched}
    total = len(plan.groups)
    with torch.no_grad():
        converted = plan.materialize(reader.get, only=matched | set(resized))
        for i, (name, tensor) in enumerate(converted):
            if i % 50 == 0:
                _step(progress, cancel, f"Loading weights ({i}/{total})")
            param = params.get(name)
            if param is None or id(param) in done:
                continue  # a stored buffer, or a tied weight already loaded under another name
            if name in matched:
                param.copy_(tensor.to(param.dtype))
                done.add(id(param))
            elif name in resized:
                how[name] = _copy_resized(param, tensor, *resized[name], copy_overlap, init_by)
        for name, stored_shape, new_shape in comparison.mismatched:
            how.setdefault(name, f"{list(stored_shape)} -> {list(new_shape)}: not loaded, "
                                 f"initialised by {init_by}: {describe_init(params[name])}")
        for name in comparison.missing:
            how[name] = f"initialised by {init_by}: {describe_init(params[name])}"
    # dropped tensors are named as the checkpoint stores them, so the user can find them there
    return WeightsReport(tuple(comparison.matched), comparison.missing, comparison.unexpected,
                         comparison.mismatched, how)


def _copy_resized(param, tensor, stored_shape, new_shape, copy_overlap: bool,
                  init_by: str) -> str:
    """Copy the overlapping block of a resized tensor (if asked); say what became of it."""
    if not (copy_overlap and len(stored_shape) == len(new_shape)):
        return (f"{list(stored_shape)} -> {list(new_shape)}: not loaded, initialised "
                f"by {init_by}: {describe_init(param)}")
    overlap = [min(a, b) for a, b in zip(stored_shape, new_shape, strict=True)]
    block = tuple(slice(0, n) for n in overlap)
    fresh = describe_init(param)
    param[block].copy_(tensor[block].to(param.dtype))
    grew = any(b > a for a, b in zip(stored_shape, new_shape, strict=True))
    rest = (f"the rest initialised by {init_by}, {fresh}" if grew
            else "the rest of the stored tensor dropped")
    return (f"{list(stored_shape)} -> {list(new_shape)}: the overlapping "
            f"{' x '.join(map(str, overlap))} block copied from the checkpoint; {rest}")


# -- saving configs ------------------------------------------------------------------------------
@dataclass(frozen=True)
class SavedConfig:
    """Where an edited config went, its backup, and which files came along."""

    path: str
    backup: str | None = None
    files: tuple[str, ...] = ()
    weights_copied: bool = False

    def to_json(self) -> dict:
        return {"path": self.path, "backup": self.backup, "files": list(self.files),
                "weights_copied": self.weights_copied}


def config_text(values: dict[str, Any]) -> str:
    """The JSON text written for an edited config (key order kept, as config.json has it)."""
    # non-finite floats in transformers' tagged form, so the file stays strict JSON
    return json.dumps(jsonio.strict(jsonable(values)), indent=2, ensure_ascii=False) + "\n"


def save_config(values: dict[str, Any], folder: str | Path) -> SavedConfig:
    """Overwrite folder/config.json atomically; the first original is kept as config.json.bak."""
    folder = _folder(folder)
    target, backup = folder / "config.json", folder / "config.json.bak"
    if target.is_file() and not backup.exists():
        shutil.copy2(target, backup)
    atomic_write_text(target, config_text(values))
    return SavedConfig(str(target), str(backup) if backup.exists() else None)


def save_config_as(values: dict[str, Any], source: str | Path | None,
                   out_dir: str | Path) -> SavedConfig:
    """Write the config to a new folder with the source's tokenizer files.

    The weights come along (hard-linked where possible) only if every stored tensor still fits
    the edited config; otherwise use build_from_weights.
    """
    src = _folder(source) if source else None
    copy_weights = False
    if src is not None and any((src / n).is_file() for n in WEIGHT_FILES):
        from workbench.core.checkpoint.inspection import inspect_checkpoint

        info = inspect_checkpoint(src, build_tree=False)
        fit = analyze(values, stored=info.tensors).comparison
        copy_weights = bool(fit and not (fit.missing or fit.unexpected or fit.mismatched))
        shards = info.shards
    with atomic_folder(out_dir) as tmp:
        atomic_write_text(tmp / "config.json", config_text(values))
        files = ["config.json", *_copy_side_files(src, tmp)]
        if copy_weights:
            index = [n for n in WEIGHT_FILES if n.endswith(".json") and (src / n).is_file()]
            for name in (*shards, *index):
                _link_or_copy(src / name, tmp / name)
                files.append(name)
    out = Path(out_dir).expanduser().resolve()
    return SavedConfig(str(out / "config.json"), None, tuple(files), copy_weights)


def _link_or_copy(src: Path, dst: Path) -> None:
    try:
        os.link(src, dst)  # same bytes, no extra disk; a later atomic save replaces, not edits
    except OSError:
        shutil.copy2(src, dst)


def export_json(values: dict[str, Any], path: str | Path) -> str:
    """Write the edited config to any .json file, atomically."""
    p = Path(path).expanduser().resolve()
    p.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(p, config_text(values))
    return str(p)
