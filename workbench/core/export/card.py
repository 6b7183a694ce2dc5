"""The README model card of an export: base model, data, training spec, evaluation, checks."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from workbench.core import jsonio
from workbench.core.errors import WorkbenchError

_SPEC_FIELDS = ("task", "method", "num_epochs", "max_steps", "learning_rate", "batch_size",
                "max_length", "lora_r", "lora_alpha", "precision", "seed")


def model_card(report: dict[str, Any], run_dir: Path | None, base_model: str | None) -> str:
    """Markdown with a YAML header (what the Hub reads) from the export report and the run."""
    spec = _read_json(run_dir / "spec.json") if run_dir else None
    evaluation = _read_json(run_dir / "evaluation.json") if run_dir else None
    header = ["---", "library_name: transformers" if report["format"] == "hf" else
              "library_name: onnx"]
    if base_model:
        header.append(f"base_model: {json.dumps(base_model)}")
    header += ["tags:", "  - transformer-workbench", "---", ""]
    lines = [f"# {Path(report['out']).name}", "",
             f"Exported by Transformer Workbench from `{report['source']}` as "
             f"{report['format'].upper()} ({report['dtype']}).", ""]
    if base_model:
        lines += [f"- Base model: `{base_model}`"]
    if report.get("merged_lora"):
        m = report["merged_lora"]
        lines += [f"- LoRA adapter merged into the base ({m['nonzero_updates']} of {m['modules']}"
                  f" adapted modules changed, verified)"]
    if spec:
        lines += [f"- Training data: `{spec.get('train_file')}`"
                  + (f", eval data `{spec['eval_file']}`" if spec.get("eval_file") else ""), "",
                  "## Training", "", "| setting | value |", "|---|---|"]
        lines += [f"| {k} | {spec[k]} |" for k in _SPEC_FIELDS if spec.get(k) is not None]
    if evaluation:
        lines += ["", "## Evaluation", "",
                  f"On `{evaluation.get('data_file')}` ({evaluation.get('num_examples')} "
                  f"examples):", "", "| metric | value |", "|---|---|"]
        lines += [f"| {k} | {v:.4g} |" for k, v in evaluation.get("metrics", {}).items()
                  if isinstance(v, (int, float))]
    lines += ["", "## Export check", "",
              "The exported files were reloaded and compared with the source model on fixed "
              "probe inputs:", "", "| probe | shape | max abs diff | top-1 agreement | passed |",
              "|---|---|---|---|---|"]
    lines += [f"| {c['probe']} | {c['shape']} | {c['max_abs_diff']:.3g} | "
              f"{c['top1_agreement']:.3f} | {c['passed']} |" for c in report["checks"]]
    if report.get("perplexity"):
        p = report["perplexity"]
        lines += ["", f"Perplexity on the long probe: {p['before']:.4g} before, "
                      f"{p['after']:.4g} after."]
    if report.get("generation"):
        g = report["generation"]
        lines += ["", f"Greedy generation of {g['steps']} tokens on the short probe: "
                      + ("the same tokens as the source's `generate`." if g["same_tokens"] else
                         f"{g['token_agreement']:.1%} of the tokens agree with the source's "
                         f"`generate`" + ("." if g["passed"] else " (failed).")
                         + ("" if g["required"] else " Reduced precision: reported, "
                            "not required."))]
    if report.get("onnx_layout"):
        lines += _onnx_section(report)
    return "\n".join(header + lines) + "\n"


def _onnx_section(report: dict[str, Any]) -> list[str]:
    """The ONNX files, their inputs and outputs (symbolic axes by name), and the exporter."""
    layout = report["onnx_layout"]
    lines = ["", "## ONNX files", "",
             f"Exported with torch.onnx.export ({report.get('exporter')} exporter); run with "
             f"onnxruntime.", ""]
    if report.get("exporter_note"):
        lines += [report["exporter_note"], ""]
    lines += ["| file | inputs | outputs |", "|---|---|---|"]

    def names(nodes: dict[str, Any]) -> str:
        return ", ".join(f"`{n}` {v['shape']} {v['type']}" for n, v in nodes.items())

    lines += [f"| {f} | {names(v['inputs'])} | {names(v['outputs'])} |"
              for f, v in layout["files"].items()]
    if layout.get("note"):
        lines += ["", layout["note"]]
    return lines


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        return jsonio.load_object(path)
    except WorkbenchError:
        return None
