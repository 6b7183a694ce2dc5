"""`workbench graph PATH`: the folded layer graph and the dataflow inside each block."""

from __future__ import annotations

import argparse

from workbench.core.checkpoint.inspection import inspect_checkpoint
from workbench.core.errors import WorkbenchError
from workbench.core.graph.dataflow import DEFAULT_SEQ_LEN, graph_report
from workbench.core.units import human_count


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("path", help="model folder, weights file or shard index")
    parser.add_argument("--svg", metavar="OUT", help="also write the graph and dataflow as SVG")
    parser.add_argument("--seq-len", type=int, default=DEFAULT_SEQ_LEN,
                        help=f"input length for output shapes (default {DEFAULT_SEQ_LEN})")
    parser.add_argument("--expand-all", action="store_true",
                        help="in the SVG, unfold every repeated block and open every module")
    parser.add_argument("--no-trace", action="store_true",
                        help="skip the shape-only forward pass (hierarchy only)")


def run(args: argparse.Namespace) -> dict:
    if args.seq_len < 1:
        raise WorkbenchError("--seq-len must be at least 1.")
    info = inspect_checkpoint(args.path)
    if info.module_tree is None:
        if info.config is not None:  # the config was refused: its warning says why
            reason = info.warnings[-1] if info.warnings else "the config could not be built"
            raise WorkbenchError(f"{info.path} has no structure to draw: {reason}")
        raise WorkbenchError(f"{info.path} has neither a config.json nor named tensors, so it has "
                             f"no structure to draw.")
    report = graph_report(info.module_tree, info.config, args.seq_len, trace=not args.no_trace)
    data = {"path": info.path, **report.to_json()}
    if args.svg:
        from workbench.core.graph.layout import (
            all_expandable_keys,
            default_expanded,
            layout_dataflow,
            layout_graph,
        )
        from workbench.core.graph.svg import write_svg

        keys = (all_expandable_keys(report.root) if args.expand_all
                else default_expanded(report.root))
        layouts = [(info.architecture or "Model", layout_graph(report.root, keys))]
        layouts += [(f"Dataflow of {b.block} ({b.class_name})", layout_dataflow(b))
                    for b in report.trace.blocks]
        data["svg"] = str(write_svg(args.svg, layouts))
    return data


def render(data: dict) -> str:
    lines = [data["path"]]

    def visit(node: dict, depth: int) -> None:
        fold = f" × {node['repeat']}" if node["repeat"] > 1 else ""
        shape = f"  -> {node['output_shape']}" if node.get("output_shape") else ""
        lines.append(f"{'  ' * depth}{node['name']}: {node['class']}{fold}  "
                     f"[{human_count(node['num_parameters'])}]{shape}")
        for c in node["children"]:
            visit(c, depth + 1)

    visit(data["tree"], 1)
    for block in data["blocks"]:
        names = {n["id"]: n["name"] for n in block["nodes"]}
        lines.append(f"dataflow of {block['block']} ({block['class']}):")
        lines.append("  " + " -> ".join(n["name"] for n in block["nodes"]))
        lines += [f"  residual: {names[e['source']]} -> {names[e['target']]}"
                  for e in block["edges"] if e["kind"] == "residual"]
    if data.get("dataflow_error"):
        lines.append(f"note: {data['dataflow_error']}")
    if data.get("svg"):
        lines.append(f"wrote {data['svg']}")
    return "\n".join(lines)

