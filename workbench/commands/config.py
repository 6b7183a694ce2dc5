"""`workbench config PATH --set key=value`: validate, estimate, save or rebuild an edited config."""

from __future__ import annotations

import argparse
from pathlib import Path

from workbench.core.checkpoint.inspection import inspect_checkpoint
from workbench.core.config.rules import parse_assignments
from workbench.core.config.schema import schema_for, with_edit
from workbench.core.errors import WorkbenchError
from workbench.core.model.architecture import read_config_dict
from workbench.core.model.builder import (
    analyze,
    build_from_weights,
    save_config,
    save_config_as,
)
from workbench.core.units import human_bytes, human_count


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("path", help="checkpoint folder (or its config.json)")
    parser.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE",
                        help="change a config field; VALUE is parsed as JSON where possible "
                             "(repeatable)")
    parser.add_argument("--out", help="write to this new folder instead of editing in place")
    parser.add_argument("--from-weights", action="store_true",
                        help="build the edited model and load the checkpoint's weights where "
                             "names and shapes fit (needs --out)")
    parser.add_argument("--dry-run", action="store_true",
                        help="only validate and estimate; write nothing")
    parser.add_argument("--seed", type=int, default=0, help="seed for freshly initialised weights")
    parser.add_argument("--no-overlap", action="store_true",
                        help="with --from-weights: do not copy the overlapping block of resized "
                             "tensors")


def run(args: argparse.Namespace) -> dict:
    info = inspect_checkpoint(args.path, build_tree=False)
    folder = Path(info.root)
    if not (folder / "config.json").is_file():
        raise WorkbenchError(f"{folder} has no config.json to edit.")
    original = read_config_dict(folder)
    schema = schema_for(original)
    values = dict(original)
    for key, value in parse_assignments(args.sets, schema).items():
        values = with_edit(values, key, value)
    vocab = info.tokenizer.vocab_size if info.tokenizer else None
    analysis = analyze(values, schema_for(values), original=original, stored=info.tensors,
                       tokenizer_vocab_size=vocab)
    analysis.validation.raise_if_errors()  # same messages as the form; exit status 1
    out = {"source": str(folder), "path": str(folder), "model_type": values.get("model_type"),
           "original_num_parameters": info.num_parameters,
           "num_parameters": analysis.estimate.num_parameters if analysis.estimate else None,
           "saved": None, "backup": None, **analysis.to_json()}
    out["warnings"] = [i.message for i in analysis.validation.warnings]
    if args.from_weights:
        if not args.out:
            raise WorkbenchError("--from-weights writes a new checkpoint: add --out NEW_FOLDER.")
        if not args.dry_run:
            result = build_from_weights(values, folder, args.out, seed=args.seed,
                                        copy_overlap=not args.no_overlap)
            out.update(result.to_json())
            out["saved"] = result.path
    elif args.dry_run or (not args.sets and not args.out):
        pass
    elif args.out:
        saved = save_config_as(values, folder, args.out)
        out.update(saved=saved.path, files=list(saved.files),
                   weights_copied=saved.weights_copied)
    else:
        saved = save_config(values, folder)
        out.update(saved=saved.path, backup=saved.backup)
    return out


def render(data: dict) -> str:
    lines = [f"{data.get('source', data['path'])} ({data.get('model_type') or '?'})"]
    for name, (old, new) in data.get("changed", {}).items():
        lines.append(f"  {name}: {old!r} -> {new!r}")
    if data.get("num_parameters") is not None:
        n, before = data["num_parameters"], data.get("original_num_parameters")
        lines.append(f"  parameters    {human_count(n)} ({n:,})"
                     + (f", was {human_count(before)}" if before else ""))
        mem = (data.get("estimate") or {}).get("memory") or {}
        if mem:
            lines.append(f"  memory        fp32 {human_bytes(mem['fp32'])}, bf16 "
                         f"{human_bytes(mem['bf16'])}; AdamW fine-tune "
                         f"{human_bytes(mem['adamw_mixed'])}")
    fit = data.get("weights_fit")
    if fit and not data.get("loaded"):
        lines.append(f"  stored weights: {fit['matched']} fit, {len(fit['mismatched'])} "
                     f"change shape, {len(fit['missing'])} new, {len(fit['unexpected'])} "
                     f"no longer used")
    lines += [f"  warning: {w}" for w in data.get("warnings", [])]
    if "loaded" in data:
        lines.append(render_build(data))
    elif data.get("saved"):
        lines.append(f"  saved {data['saved']}"
                     + (f" (original kept as {data['backup']})" if data.get("backup") else ""))
    return "\n".join(lines)


def render_build(data: dict) -> str:
    """Summary of a built model and, when weights were loaded, what happened to them."""
    lines = [f"built {data['model_class']} with {human_count(data['num_parameters'])} "
             f"parameters ({data['num_parameters']:,}) -> {data['path']}"]
    if "loaded" in data:
        lines.append(f"  loaded {len(data['loaded'])}, missing {len(data['missing'])}, "
                     f"unexpected {len(data['unexpected'])}, mismatched "
                     f"{len(data['mismatched'])}")
        for name, how in data.get("initialised", {}).items():
            lines.append(f"  {name}: {how}")
        for name in data["unexpected"][:10]:
            lines.append(f"  dropped {name}")
        if len(data["unexpected"]) > 10:
            lines.append(f"  ... and {len(data['unexpected']) - 10} more dropped")
    return "\n".join(lines)
