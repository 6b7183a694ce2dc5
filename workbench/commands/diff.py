"""`workbench diff A [B]`: which tensors, modules and layers changed between two checkpoints."""

from __future__ import annotations

import argparse

from workbench.core.diff.weights import diff_checkpoints


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("a", help="reference checkpoint (folder or .safetensors), or LoRA adapter")
    parser.add_argument("b", nargs="?", help="checkpoint compared with A (omit for an adapter "
                                             "alone: compared with the base model it names)")
    parser.add_argument("--top", type=int, default=20, help="modules listed in the text output")


def run(args: argparse.Namespace) -> dict:
    data = diff_checkpoints(args.a, args.b).to_json()
    data["top"] = args.top
    return data


def render(data: dict) -> str:
    lines = [f"A: {data['path_a']}", f"B: {data['path_b']}",
             "tensors: " + ", ".join(f"{k} {v}" for k, v in sorted(data["summary"].items()))]
    if data["name_prefix"]:
        lines.append(f"names matched with prefix {data['name_prefix']!r}")
    for key, (a, b) in data["config_diff"].items():
        lines.append(f"config {key}: {a!r} -> {b!r}")
    for t in data["tensors"]:
        if t["status"] in ("shape", "only_a", "only_b"):
            lines.append(f"  {t['status']:7} {t['name']} {t['shape_a']} -> {t['shape_b']}")
    moved = sorted((m for m in data["modules"] if m["relative_change"]),
                   key=lambda m: -m["relative_change"])
    if moved:
        lines.append(f"most changed modules (||dW|| / ||W||), top {data['top']}:")
        lines += [f"  {m['relative_change']:10.3e}  {m['name']}" for m in moved[:data["top"]]]
    matrix = data["matrix"]
    if matrix["layers"]:
        lines.append("layers (max relative change over modules):")
        for layer, row in zip(matrix["layers"], matrix["values"], strict=True):
            values = [v for v in row if v is not None]
            lines.append(f"  {layer:40} {max(values) if values else 0:10.3e}")
    return "\n".join(lines)
