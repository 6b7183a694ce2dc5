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
from pathlib import Path
from typing import Any

from workbench.core import jsonio
from workbench.core.atomic import atomic_write_text
from workbench.core.errors import MissingDependencyError, WorkbenchError
from workbench.core.export import staging, verify
from workbench.core.export.card import model_card
from workbench.core.export.onnx_graphs import EXPORTERS, check_onnx_dtype, decoder_start_id
from workbench.core.export.source import Source, merge_lora, open_source
from workbench.core.progress import Progress, Reporter

FORMATS = ("hf", "onnx")
DTYPES = tuple(verify.TOLERANCES)
REPORT_NAME = "export_report.json"
_SIZE = re.compile(r"^\s*\d+(\.\d+)?\s*(B|KB|MB|GB|TB|KIB|MIB|GIB|TIB)\s*$", re.IGNORECASE)


def check_arguments(fmt: str, dtype: str, max_shard_size: str | None, device: str = "cpu",
                    onnx_exporter: str = "auto") -> None:
    """Refuse a format, dtype, exporter or shard size that cannot work, before any loading."""
    if fmt not in FORMATS:
        raise WorkbenchError(f"Unknown export format '{fmt}'; use hf or onnx.")
    if dtype not in DTYPES:
        raise WorkbenchError(f"Unknown dtype '{dtype}'; use fp32, fp16 or bf16.")
    if onnx_exporter not in EXPORTERS:
        raise WorkbenchError(f"Unknown ONNX exporter '{onnx_exporter}'; use "
                             f"{', '.join(EXPORTERS)}.")
    if fmt != "onnx" and onnx_exporter != "auto":
        raise WorkbenchError("--onnx-exporter applies to --format onnx only.")
    if fmt == "onnx":
        import importlib.util

        missing = [m for m in ("onnx", "onnxruntime") if importlib.util.find_spec(m) is None]
        if missing:
            raise MissingDependencyError(f"ONNX export needs {', '.join(missing)}: pip install "
                                         f"'transformer-workbench[onnx]'.")
        check_onnx_dtype(dtype)
        return  # the ONNX graph is exported from fp32 weights on the CPU
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


def _peek_folder(path: Path) -> Path | None:
    """The folder holding the config.json of the model at `path` (run, adapter or checkpoint)."""
    for folder in (path / "final", path):
        if (folder / "config.json").is_file():
            return folder
        if (folder / "adapter_config.json").is_file():
            base = jsonio.load_object(folder / "adapter_config.json", what="adapter config")
            named = Path(str(base.get("base_model_name_or_path") or ""))
            if (named / "config.json").is_file():
                return named
    return None


def _check_decoder_start(path: Path) -> None:
    """Refuse an encoder-decoder whose decoder has no start token, before loading it."""
    folder = _peek_folder(path)
    if folder is None:
        return  # open_source says what is missing
    config = jsonio.load_object(folder / "config.json", what="config")
    if not config.get("is_encoder_decoder"):
        return
    generation = folder / "generation_config.json"
    generation_config = jsonio.load_object(generation, what="generation config") \
        if generation.is_file() else {}
    if decoder_start_id(config, generation_config) is None:
        raise WorkbenchError(f"This encoder-decoder model names no decoder_start_token_id (in "
                             f"{folder / 'config.json'} or generation_config.json), so its "
                             f"decoder cannot be run or checked. Set it (T5 uses the pad token "
                             f"id, BART the eos id) and export again.")


def _is_adapter(path: Path) -> bool:
    return (path / "adapter_config.json").is_file() or \
        (path / "final" / "adapter_config.json").is_file()


def export_model(path: str | Path, out: str | Path, *, fmt: str = "hf", dtype: str = "fp32",
                 merge: bool = False, max_shard_size: str | None = None,
                 task: str | None = None, onnx_exporter: str = "auto",
                 probe_texts: list[str] | None = None,
                 progress: Progress | None = None,
                 cancel: threading.Event | None = None) -> dict[str, Any]:
    """Export and verify; returns the report (also saved as export_report.json in the export).

    report["passed"] is False when a check failed; the files are then in `OUT.failed`.
    """
    started = time.perf_counter()
    source_path = Path(path).expanduser().resolve()
    if not source_path.exists():
        raise WorkbenchError(f"{source_path} does not exist; give a checkpoint, adapter or run.")
    check_arguments(fmt, dtype, max_shard_size, onnx_exporter=onnx_exporter)
    target = staging.check_target(out)
    if _is_adapter(source_path) and not merge:
        raise WorkbenchError("This is a LoRA adapter: pass --merge-lora to export a full model "
                             "with the adapter merged into its base.")
    _check_decoder_start(source_path)
    report = Reporter(progress, cancel, "The export")
    report.step("Loading the source model", force=True)
    source = open_source(source_path, task)
    from workbench.core.model.loading import load_tokenizer

    tokenizer = load_tokenizer(source.tokenizer_folder)
    probe_texts = probe_texts or _run_sentences(source)
    config = source.model.config
    seq2seq = bool(getattr(config, "is_encoder_decoder", False))
    start = decoder_start_id(config, getattr(source.model, "generation_config", None)) \
        if seq2seq else None
    if seq2seq and start is None:  # e.g. an adapter whose base config was not found early
        raise WorkbenchError("This encoder-decoder model names no decoder_start_token_id, so "
                             "its decoder cannot be run or checked. Set it in its config.json "
                             "and export again.")
    probes = verify.make_probes(tokenizer, config, probe_texts, decoder_start=start)
    report.step("Running the source model on the probes", force=True)
    reference = verify.torch_outputs(source.model, probes)
    generated = verify.torch_greedy(source.model, probes["short"], start) if seq2seq else None
    model, merged = source.model, None
    if source.is_adapter:
        report.step("Merging the LoRA adapter", force=True)
        model, merged = merge_lora(model)
    report.check()
    stage = staging.new_stage(target)
    try:
        report.step(f"Writing the {fmt.upper()} files", force=True)
        if fmt == "hf":
            _write_hf(model, tokenizer, source, stage, dtype, max_shard_size)
            written: dict[str, Any] = {}
        else:
            written = _write_onnx(model, tokenizer, source, stage, dtype, probes, onnx_exporter)
        report.step("Reloading the export and comparing it with the source", force=True)
        reloaded = _reload(fmt, stage, source)
        exported = {name: _outputs(reloaded, batch) for name, batch in probes.items()}
        tokenizer_ok = _tokenizer_roundtrip(stage, tokenizer)
        checks = verify.compare(reference, exported, probes, dtype)
        ppl = (verify.perplexity_check(reference, exported, probes, dtype)
               if source.task == "causal-lm" else None)
        generation = None
        if seq2seq:
            report.step("Generating greedily with the export and with the source", force=True)
            generation = verify.generation_check(
                generated, _greedy(reloaded, probes["short"], start), dtype)
        if fmt == "onnx":
            written["onnx_layout"] = reloaded.layout()
        passed = all(c.passed for c in checks) and tokenizer_ok and \
            (ppl is None or ppl["passed"]) and (generation is None or generation["passed"])
        data = {
            "passed": passed, "status": "passed" if passed else "failed", "format": fmt,
            "dtype": dtype, "source": str(source_path), "out": str(target),
            "task": source.task, "merged_lora": merged, "tokenizer_roundtrip": tokenizer_ok,
            "probe_texts": list(probe_texts or verify.PROBE_TEXTS),
            "checks": [c.to_json() for c in checks], "perplexity": ppl,
            "generation": generation,
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
              max_shard_size: str | None) -> None:
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
                probes, exporter: str) -> dict[str, Any]:
    """The ONNX graph(s) with dynamic batch and sequence axes; config and tokenizer beside them."""
    from workbench.core.export.onnx_graphs import write_graphs

    used = write_graphs(model, probes["short"], stage, dtype, exporter)
    model.config.save_pretrained(stage)
    if getattr(model.config, "is_encoder_decoder", False):
        model.generation_config.save_pretrained(stage)  # the start/eos tokens a runtime needs
    _copy_tokenizer(tokenizer, source, stage)
    return used


def _reload(fmt: str, stage: Path, source: Source):
    """The written files loaded as a user would: from_pretrained, or onnxruntime sessions."""
    if fmt == "onnx":
        from workbench.core.export.ort_model import OrtModel

        return OrtModel(stage)
    from workbench.core.model.loading import load_model
    from workbench.core.training.tasks import task_info

    return load_model(stage, auto_class=task_info(source.task).auto_class, dtype="auto")


def _outputs(reloaded, batch):
    from workbench.core.export.ort_model import OrtModel

    if isinstance(reloaded, OrtModel):
        return reloaded.logits(batch)
    return verify.torch_outputs(reloaded, {"probe": batch})["probe"]


def _greedy(reloaded, batch, start: int):
    from workbench.core.export.ort_model import OrtModel

    if isinstance(reloaded, OrtModel):
        eos, pad = verify.generation_ids(_json_config(reloaded.folder / "config.json"),
                                         _json_config(reloaded.folder /
                                                      "generation_config.json"))
        return reloaded.greedy(batch, verify.GENERATION_STEPS, start, eos, pad)
    return verify.torch_greedy(reloaded, batch, start)


def _json_config(path: Path):
    """A config file as an object with attributes (what verify.generation_ids reads)."""
    from types import SimpleNamespace

    data = jsonio.load_object(path, what="config") if path.is_file() else {}
    return SimpleNamespace(**data)


def _tokenizer_roundtrip(stage: Path, tokenizer) -> bool:
    """Whether the tokenizer reloaded from the export encodes the probe texts the same."""
    from workbench.core.model.loading import load_tokenizer

    texts = list(verify.PROBE_TEXTS)
    return load_tokenizer(stage)(texts)["input_ids"] == tokenizer(texts)["input_ids"]


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
