"""`workbench export PATH --out DIR`: a verified Hugging Face folder or ONNX model."""

from __future__ import annotations

import argparse
import sys

from workbench.core.errors import WorkbenchError
from workbench.core.training.spec import TASKS


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("path", help="checkpoint folder, LoRA adapter or run folder")
    parser.add_argument("--out", required=True, help="new (or empty) folder for the export")
    parser.add_argument("--format", dest="fmt", choices=("hf", "onnx"), default="hf",
                        help="hf: safetensors folder; onnx: model.onnx (encoder-decoders: "
                             "encoder_model.onnx + decoder_model.onnx, no KV cache)")
    parser.add_argument("--dtype", choices=("fp32", "fp16", "bf16"), default="fp32",
                        help="weights dtype; ONNX: fp32 or fp16 (bf16 does not run in "
                             "onnxruntime's CPU provider)")
    parser.add_argument("--onnx-exporter", choices=("auto", "dynamo", "torchscript"),
                        default="auto",
                        help="torch.onnx exporter for --format onnx; auto: dynamo, then "
                             "TorchScript when dynamo cannot export the model")
    parser.add_argument("--merge-lora", action="store_true",
                        help="merge a LoRA adapter into its base (required for adapters)")
    parser.add_argument("--max-shard-size", help="split weights into shards of this size (2GB)")
    parser.add_argument("--task", choices=TASKS, help="head to export (default: the model's)")


def run(args: argparse.Namespace) -> dict:
    from workbench.core.export.exporter import export_model

    report = export_model(
        args.path, args.out, fmt=args.fmt, dtype=args.dtype, merge=args.merge_lora,
        max_shard_size=args.max_shard_size, task=args.task, onnx_exporter=args.onnx_exporter,
        progress=None if args.json else lambda m: print(m, file=sys.stderr, flush=True))
    if not report["passed"]:
        failed = [c["probe"] for c in report["checks"] if not c["passed"]]
        raise WorkbenchError(
            f"The export did not match its source (failed checks: "
            f"{', '.join(failed) or 'tokenizer/perplexity/generation'}); it was left in "
            f"{report['out']} "
            f"with export_report.json. Try --dtype fp32.")
    return report


def render(data: dict) -> str:
    lines = [f"exported {data['source']} -> {data['out']} ({data['format']}, {data['dtype']}): "
             f"{data['status']}"]
    for c in data["checks"]:
        lines.append(f"  probe {c['probe']:10} shape {c['shape']}  max |diff| "
                     f"{c['max_abs_diff']:.3g} (allowed {c['tolerance']:.3g})  top-1 "
                     f"{c['top1_agreement']:.3f}")
    if data.get("perplexity"):
        p = data["perplexity"]
        lines.append(f"  perplexity {p['before']:.4g} -> {p['after']:.4g}")
    if data.get("generation"):
        g = data["generation"]
        lines.append(f"  greedy generation ({g['steps']} tokens): "
                     + ("same tokens" if g["same_tokens"] else
                        f"{g['token_agreement']:.1%} tokens agree"))
    if data.get("exporter"):
        lines.append(f"  exporter: {data['exporter']}"
                     + (f" ({data['exporter_note']})" if data.get("exporter_note") else ""))
    if data.get("merged_lora"):
        m = data["merged_lora"]
        lines.append(f"  LoRA merged: {m['nonzero_updates']} of {m['modules']} modules changed")
    lines.append("  files: " + ", ".join(data["files"]))
    return "\n".join(lines)
