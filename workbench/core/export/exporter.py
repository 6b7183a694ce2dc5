"""Export a model as a Hugging Face folder or ONNX, then reload it and compare it with its source.

Order of work: every argument and the target folder are checked first (cheap), the source is
loaded and run on the probes, a LoRA adapter is merged and checked, the files are written into a
hidden stage, reloaded the way a user would and compared, and only then is the stage renamed to
the requested folder (or to `OUT.failed` when a check failed, with the report saying why).
"""

from __future__ import annotations

import json
import re
import shutil
import threading
import time
import warnings
from pathlib import Path
from typing import Any

from workbench.core import jsonio
from workbench.core.atomic import atomic_write_text
from workbench.core.errors import MissingDependencyError, WorkbenchError
from workbench.core.export import staging, verify
from workbench.core.export.card import model_card
from workbench.core.export.source import Source, merge_lora, open_source
from workbench.core.progress import Progress, Reporter

FORMATS = ("hf", "onnx")
DTYPES = tuple(verify.TOLERANCES)
REPORT_NAME = "export_report.json"
_SIZE = re.compile(r"^\s*\d+(\.\d+)?\s*(B|KB|MB|GB|TB|KIB|MIB|GIB|TIB)\s*$", re.IGNORECASE)
_ONNX_OPSET = 17  # the TorchScript exporter
_DYNAMO_OPSET = 18  # the dynamo exporter's own opset (no version conversion)


def check_arguments(fmt: str, dtype: str, max_shard_size: str | None, device: str = "cpu") -> None:
    """Refuse a format, dtype or shard size that cannot work, before anything is loaded."""
    if fmt not in FORMATS:
        raise WorkbenchError(f"Unknown export format '{fmt}'; use hf or onnx.")
    if dtype not in DTYPES:
        raise WorkbenchError(f"Unknown dtype '{dtype}'; use fp32, fp16 or bf16.")
    if fmt == "onnx" and dtype != "fp32":
        raise WorkbenchError("ONNX exports are written in fp32 (onnxruntime's CPU kernels are "
                             "fp32); drop --dtype, or export --format hf for fp16/bf16.")
    if fmt == "onnx":
        import importlib.util

        missing = [m for m in ("onnx", "onnxruntime") if importlib.util.find_spec(m) is None]
        if missing:
            raise MissingDependencyError(f"ONNX export needs {', '.join(missing)}: pip install "
                                         f"'transformer-workbench[onnx]'.")
    if max_shard_size is not None and (fmt != "hf" or not _SIZE.match(max_shard_size)):
        raise WorkbenchError(f"--max-shard-size '{max_shard_size}' must be a size like 2GB or "
                             f"500MB, for --format hf.")
    _check_dtype_runs(dtype, device)


def _check_dtype_runs(dtype: str, device: str) -> None:
    """Run the ops every transformer needs in `dtype` on `device`: fail now, not after saving."""
    import torch

    from workbench.core.model.loading import resolve_dtype

    torch_dtype = resolve_dtype(dtype)
    try:
        x = torch.ones(2, 4, dtype=torch_dtype, device=device)
        torch.nn.functional.layer_norm(torch.nn.functional.linear(x, x), (2,)).softmax(-1)
    except (RuntimeError, TypeError) as e:
        raise WorkbenchError(f"{dtype} cannot run on {device} ({e}); choose another --dtype "
                             f"(fp32 always works on the CPU).") from None


def _peek_config(path: Path) -> dict[str, Any]:
    """config.json of the model at `path` (run, adapter or checkpoint) without loading weights."""
    for folder in (path / "final", path):
        if (folder / "config.json").is_file():
            return jsonio.load_object(folder / "config.json", what="config")
        if (folder / "adapter_config.json").is_file():
            base = jsonio.load_object(folder / "adapter_config.json", what="adapter config")
            named = Path(str(base.get("base_model_name_or_path") or ""))
            if (named / "config.json").is_file():
                return jsonio.load_object(named / "config.json", what="config")
    return {}


def _is_adapter(path: Path) -> bool:
    return (path / "adapter_config.json").is_file() or \
        (path / "final" / "adapter_config.json").is_file()


def export_model(path: str | Path, out: str | Path, *, fmt: str = "hf", dtype: str = "fp32",
                 merge: bool = False, max_shard_size: str | None = None,
                 task: str | None = None, probe_texts: list[str] | None = None,
                 progress: Progress | None = None,
                 cancel: threading.Event | None = None) -> dict[str, Any]:
    """Export and verify; returns the report (also saved as export_report.json in the export).

    report["passed"] is False when a check failed; the files are then in `OUT.failed`.
    """
    started = time.perf_counter()
    source_path = Path(path).expanduser().resolve()
    if not source_path.exists():
        raise WorkbenchError(f"{source_path} does not exist; give a checkpoint, adapter or run.")
    check_arguments(fmt, dtype, max_shard_size)
    target = staging.check_target(out)
    if _is_adapter(source_path) and not merge:
        raise WorkbenchError("This is a LoRA adapter: pass --merge-lora to export a full model "
                             "with the adapter merged into its base.")
    if fmt == "onnx" and _peek_config(source_path).get("is_encoder_decoder"):
        raise WorkbenchError("ONNX export of encoder-decoder (seq2seq) models is not supported "
                             "here: they need separate encoder and decoder graphs. Export "
                             "--format hf and convert with optimum-onnx.")
    report = Reporter(progress, cancel, "The export")
    report.step("Loading the source model", force=True)
    source = open_source(source_path, task)
    from workbench.core.model.loading import load_tokenizer

    tokenizer = load_tokenizer(source.tokenizer_folder)
    probe_texts = probe_texts or _run_sentences(source)
    probes = verify.make_probes(tokenizer, source.model.config, probe_texts)
    report.step("Running the source model on the probes", force=True)
    reference = verify.torch_outputs(source.model, probes)
    model, merged = source.model, None
    if source.is_adapter:
        report.step("Merging the LoRA adapter", force=True)
        model, merged = merge_lora(model)
    report.check()
    stage = staging.new_stage(target)
    try:
        report.step(f"Writing the {fmt.upper()} files", force=True)
        write = _write_hf if fmt == "hf" else _write_onnx
        written = write(model, tokenizer, source, stage, dtype, max_shard_size, probes) or {}
        report.step("Reloading the export and comparing it with the source", force=True)
        exported, tokenizer_ok = _reload_outputs(fmt, stage, source, probes, tokenizer)
        checks = verify.compare(reference, exported, probes, dtype)
        ppl = (verify.perplexity_check(reference, exported, probes, dtype)
               if source.task == "causal-lm" else None)
        passed = all(c.passed for c in checks) and tokenizer_ok and (ppl is None or ppl["passed"])
        data = {
            "passed": passed, "status": "passed" if passed else "failed", "format": fmt,
            "dtype": dtype, "source": str(source_path), "out": str(target),
            "task": source.task, "merged_lora": merged, "tokenizer_roundtrip": tokenizer_ok,
            "probe_texts": list(probe_texts or verify.PROBE_TEXTS),
            "checks": [c.to_json() for c in checks], "perplexity": ppl,
            "files": sorted(p.name for p in stage.iterdir()), **written,
            "seconds": time.perf_counter() - started}
        base_model = _base_model(source)
        atomic_write_text(stage / "README.md", model_card(data, source.run_dir, base_model))
        data["files"] = sorted([*data["files"], "README.md", REPORT_NAME])
        atomic_write_text(stage / REPORT_NAME, json.dumps(data, indent=2) + "\n")
        report.check()
        final = staging.publish(stage, target, passed)
    except BaseException:
        staging.discard(stage)
        raise
    data["out"] = str(final)
    return data


def _write_hf(model, tokenizer, source: Source, stage: Path, dtype: str,
              max_shard_size: str | None, probes) -> None:
    """save_pretrained (safetensors, sharded with an index past max_shard_size) + tokenizer."""
    from workbench.core.model.loading import resolve_dtype

    model = model.to(resolve_dtype(dtype))
    kwargs = {"max_shard_size": max_shard_size.replace(" ", "").upper()} if max_shard_size else {}
    model.save_pretrained(stage, safe_serialization=True, **kwargs)
    _copy_tokenizer(tokenizer, source, stage)


def _copy_tokenizer(tokenizer, source: Source, stage: Path) -> None:
    """tokenizer.save_pretrained, plus any known tokenizer file it did not rewrite (vocab...)."""
    from workbench.core.checkpoint.tokenizer_info import TOKENIZER_FILES

    tokenizer.save_pretrained(stage)
    for name in TOKENIZER_FILES:
        src = source.tokenizer_folder / name
        if src.is_file() and not (stage / name).exists():
            shutil.copy2(src, stage / name)


def _write_onnx(model, tokenizer, source: Source, stage: Path, dtype: str,
                max_shard_size: str | None, probes) -> dict[str, Any]:
    """torch.onnx.export with dynamic batch and sequence axes; config and tokenizer beside it.

    The dynamo exporter (torch.export with `dynamic_shapes`) first; when it cannot export the
    architecture, the TorchScript exporter; the report says which ran and why.
    """
    import torch

    names = _onnx_inputs(model, probes["short"])
    wrapper = _onnx_wrapper(model, names).eval()  # eval: export restores the wrapper's mode
    args = tuple(torch.from_numpy(probes["short"][n]) for n in names)
    path = stage / "model.onnx"
    try:
        _export_dynamo(wrapper, args, names, path, model.config)
        used = {"exporter": "dynamo", "exporter_note": None}
    except Exception as e:  # torch.export raises many types for code it cannot trace
        reason = _export_error(e)
        for leftover in stage.glob("model.onnx*"):
            leftover.unlink()
        _export_torchscript(wrapper, args, names, path, model)
        used = {"exporter": "torchscript",
                "exporter_note": f"The dynamo exporter failed ({reason}); the TorchScript "
                                 f"exporter was used."}
    model.config.save_pretrained(stage)
    _copy_tokenizer(tokenizer, source, stage)
    return used


def _export_error(error: Exception) -> str:
    """The cause of a dynamo export failure in one line (its "Exception summary" if any)."""
    text = re.sub(r"\x1b\[[0-9;]*m", "", str(error))
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    cause = next((line for line in lines if line.startswith("<class ")), lines[0] if lines
                 else type(error).__name__)
    return cause[:300]


def _export_dynamo(wrapper, args, names: list[str], path: Path, config) -> None:
    """torch.onnx.export(dynamo=True), batch and sequence as torch.export.Dim."""
    import logging

    import torch

    limit = next((v for v in (getattr(config, n, None) for n in
                              ("max_position_embeddings", "n_positions"))
                  if isinstance(v, int) and v > 1), None)
    batch = torch.export.Dim("batch")
    sequence = torch.export.Dim("sequence", max=limit) if limit else torch.export.Dim("sequence")
    shapes = (tuple({0: batch, 1: sequence} for _ in names),)  # the wrapper's *inputs
    quiet = logging.getLogger("torch.onnx")  # "torchvision is not installed" lines per export
    level = quiet.level
    quiet.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(wrapper, args, str(path), input_names=names,
                              output_names=["logits"], dynamic_shapes=shapes,
                              opset_version=_DYNAMO_OPSET, dynamo=True, verbose=False)
    finally:
        quiet.setLevel(level)


def _export_torchscript(wrapper, args, names: list[str], path: Path, model) -> None:
    """The legacy TorchScript exporter (dynamo=False), with dynamic_axes."""
    import torch

    axes = {n: {0: "batch", 1: "sequence"} for n in names}
    axes["logits"] = {0: "batch", 1: "sequence"} if _per_token(model) else {0: "batch"}
    try:
        # Its TracerWarnings (shape checks traced as constants) are silenced: whether the graph
        # generalises is what the verification on other shapes (the long probe) measures.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(wrapper, args, str(path), input_names=names,
                              output_names=["logits"], dynamic_axes=axes,
                              opset_version=_ONNX_OPSET, dynamo=False)
    except Exception as e:  # the exporter raises many types for unsupported operators
        raise WorkbenchError(f"The ONNX exporter does not support this architecture "
                             f"({type(model).__name__}): {type(e).__name__}: "
                             f"{str(e)[:300]}. Export --format hf instead.") from None


def _per_token(model) -> bool:
    name = type(model).__name__
    return not name.endswith("ForSequenceClassification")


def _onnx_inputs(model, batch) -> list[str]:
    import inspect

    accepted = set(inspect.signature(model.forward).parameters)
    return [n for n in ("input_ids", "attention_mask", "token_type_ids") if n in batch
            and n in accepted]


def _onnx_wrapper(model, names: list[str]):
    """The model as positional tensors in, one logits tensor out (no cache, no dict)."""
    import torch

    class OnnxWrapper(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, *inputs):
            kwargs = dict(zip(names, inputs, strict=True))
            if getattr(self.model.config, "use_cache", None) is not None:
                kwargs["use_cache"] = False
            out = self.model(**kwargs, return_dict=True)
            return out.logits if getattr(out, "logits", None) is not None else out[0]

    return OnnxWrapper()


def _reload_outputs(fmt: str, stage: Path, source: Source, probes, tokenizer):
    """Outputs of the written files, loaded as a user would; and whether the tokenizer
    reloaded from the export encodes the probe texts the same."""
    from workbench.core.model.loading import load_model, load_tokenizer
    from workbench.core.training.tasks import task_info

    reloaded_tokenizer = load_tokenizer(stage)
    texts = list(verify.PROBE_TEXTS)
    same = reloaded_tokenizer(texts)["input_ids"] == tokenizer(texts)["input_ids"]
    if fmt == "hf":
        model = load_model(stage, auto_class=task_info(source.task).auto_class, dtype="auto")
        return verify.torch_outputs(model, probes), same
    import onnxruntime as ort

    session = ort.InferenceSession(str(stage / "model.onnx"), providers=["CPUExecutionProvider"])
    wanted = [i.name for i in session.get_inputs()]
    return {name: session.run(["logits"], {k: batch[k] for k in wanted})[0].astype("float32")
            for name, batch in probes.items()}, same


def _run_sentences(source: Source, count: int = 3) -> list[str] | None:
    """A few texts from the run's eval (or train) file, so the probes look like its data."""
    if source.run_dir is None:
        return None
    from workbench.core.training.data import load_table
    from workbench.core.training.runs import load_run_spec

    try:
        spec = load_run_spec(source.run_dir)
        table = load_table(spec.eval_file or spec.train_file)
        values = table.select(range(min(count, len(table))))[spec.text_column]
    except (WorkbenchError, KeyError, OSError):
        return None  # the data moved or changed: the built-in probe sentences still work
    texts = [" ".join(map(str, v)) if isinstance(v, list) else str(v) for v in values]
    return [t for t in texts if t.strip()] or None


def _base_model(source: Source) -> str | None:
    adapter = source.folder / "adapter_config.json"
    if adapter.is_file():
        return jsonio.load_object(adapter, what="adapter config").get("base_model_name_or_path")
    if source.run_dir is not None:
        spec = jsonio.load_object(source.run_dir / "spec.json", what="run spec")
        return spec.get("model_path")
    return None
