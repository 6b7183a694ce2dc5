"""`workbench inspect PATH`: describe a checkpoint from headers, without loading weights."""

from __future__ import annotations

import argparse

from workbench.core.checkpoint.inspection import inspect_checkpoint
from workbench.core.units import human_bytes, human_count


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("path", help="model folder, .safetensors, .bin/.pt, index .json or adapter")
    parser.add_argument("--tensors", action="store_true", help="include the tensor table")


def run(args: argparse.Namespace) -> dict:
    return inspect_checkpoint(args.path).to_json(with_tensors=args.tensors)


def render(data: dict) -> str:
    lines = [
        f"{data['path']}",
        f"  format        {data['format']}",
        f"  architecture  {data['architecture'] or '?'} (model_type: {data['model_type'] or '?'})",
        f"  parameters    {human_count(data['num_parameters'])} ({data['num_parameters']:,})",
        f"  tensors       {data['num_tensors']:,} in {len(data['shards'])} file(s), "
        f"{human_bytes(data['total_bytes'])}",
        "  dtypes        " + ", ".join(f"{k}: {human_count(v)}" for k, v in data["dtypes"].items()),
    ]
    if data.get("tokenizer"):
        tok = data["tokenizer"]
        lines.append(f"  tokenizer     {tok['tokenizer_class'] or '?'}, vocab {tok['vocab_size']}")
    if data.get("memory"):
        m = data["memory"]
        lines.append(f"  memory        fp32 {human_bytes(m['fp32'])}, bf16 {human_bytes(m['bf16'])}"
                     f", int4 {human_bytes(m['int4'])}; AdamW fine-tune "
                     f"{human_bytes(m['adamw_fp32'])}")
    if data.get("gguf"):
        g = data["gguf"]
        lines.append(f"  gguf          v{g['version']} {g['architecture'] or '?'}, "
                     f"{g['file_type'] or '?'}, context {g['context_length'] or '?'}, "
                     f"tokenizer {g['tokenizer_model'] or '?'} ({g['vocab_size'] or '?'} tokens)"
                     + (", chat template" if g["chat_template"] else ""))
        lines.append("  runs in       " + ("transformers (dequantized): Attention, Fine-tune"
                                          if g["loadable"] else "llama.cpp only"))
    if data.get("quantization"):
        q = data["quantization"]
        lines.append(f"  quantization  {q['method']} {q['bits'] or '?'}-bit, group "
                     f"{q['group_size'] or '-'}, {len(q['quantized_modules'])} modules; "
                     f"{q['metadata_elements']:,} scale/zero elements")
    if data.get("memory") and data["memory"].get("as_stored") is not None:
        lines.append(f"  as stored     {human_bytes(data['memory']['as_stored'])}")
    lines += [f"  warning: {w}" for w in data["warnings"]]
    for t in data.get("tensors", []):
        lines.append(f"  {printable(t['name']):60} {t['dtype']:5} {t['shape']}")
    return "\n".join(lines)


def printable(name: str) -> str:
    """A name from a file, safe for a terminal: control characters (ANSI escapes...) and lone
    surrogates are shown as Python escapes."""
    return name if name.isprintable() else ascii(name)[1:-1]
