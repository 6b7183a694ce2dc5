"""`workbench evaluate PATH --data FILE`: test-set metrics of a checkpoint, adapter or run."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from workbench.core.errors import WorkbenchError
from workbench.core.training.spec import TASKS


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("path", nargs="?", help="checkpoint folder, LoRA adapter or run folder")
    parser.add_argument("--data", help="test file: CSV, TSV, JSON, JSONL, TXT or Parquet")
    parser.add_argument("--task", choices=TASKS, help="task (default: the run's or the head's)")
    parser.add_argument("--text-column", help="input text column (default: the run's, or text)")
    parser.add_argument("--text-pair-column", help="second text column for sentence pairs")
    parser.add_argument("--label-column", help="label/tag column (default: the run's, or label)")
    parser.add_argument("--target-column", help="target text column (seq2seq)")
    parser.add_argument("--question-column", help="question column (question answering)")
    parser.add_argument("--context-column", help="context column (question answering)")
    parser.add_argument("--answers-column", help="answers column (question answering)")
    parser.add_argument("--doc-stride", type=int,
                        help="question answering: overlap of the windows of a long context")
    parser.add_argument("--max-length", type=int, help="longest input in tokens")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--max-rows", type=int, help="evaluate only the first N rows")
    parser.add_argument("--worst", type=int, default=10, help="worst examples listed")
    parser.add_argument("--device", default="cpu", help="cpu, cuda:N or mps")
    parser.add_argument("--out", help="where to save evaluation.json (default: beside a run)")
    parser.add_argument("--compare", nargs="+", metavar="REPORT",
                        help="instead: one table of saved evaluations (files or run folders)")


def run(args: argparse.Namespace) -> dict:
    if args.compare:
        from workbench.core.evaluate.report import compare_reports

        return {"compare": True, **compare_reports(args.compare)}
    if not args.path or not args.data:
        raise WorkbenchError("Give the model (PATH) and the test file (--data FILE).")
    from workbench.core.evaluate.report import save_report
    from workbench.core.evaluate.runner import evaluate, resolve_target

    report = evaluate(
        args.path, args.data, task=args.task, text_column=args.text_column,
        text_pair_column=args.text_pair_column, label_column=args.label_column,
        target_column=args.target_column, max_length=args.max_length,
        batch_size=args.batch_size, max_rows=args.max_rows, num_worst=args.worst,
        device=args.device,
        qa={"question_column": args.question_column, "context_column": args.context_column,
            "answers_column": args.answers_column, "doc_stride": args.doc_stride},
        progress=None if args.json else lambda msg: print(msg, file=sys.stderr, flush=True))
    data = report.to_json()
    run_dir = resolve_target(args.path, args.task).run_dir
    out = args.out or run_dir
    if out:
        data["saved_to"] = str(save_report(report, Path(out)))
    return data


def render(data: dict) -> str:
    if data.get("compare"):
        cols = data["columns"]
        lines = [f"task {data['task']}" + ("" if data["same_data"] else
                                           "  (warning: evaluated on different data files)"),
                 "  ".join(["report".ljust(40), *(c[:10].rjust(10) for c in cols)])]
        for row in data["rows"]:
            values = [f"{row[c]:10.4f}" if row[c] is not None else "       n/a" for c in cols]
            lines.append("  ".join([row["path"][-40:].ljust(40), *values]))
        return "\n".join(lines)
    lines = [f"{data['model_path']} on {data['data_file']} ({data['task']}, "
             f"{data['num_examples']} examples)"]
    lines += [f"  {k:18} {v:.4f}" if v is not None else f"  {k:18} n/a"
              for k, v in data["metrics"].items()]
    if data["per_class"]:
        lines.append(f"  {'label':18} {'precision':>9} {'recall':>9} {'f1':>9} {'support':>8}")
        lines += [f"  {r['label'][:18]:18} {r['precision']:9.3f} {r['recall']:9.3f} "
                  f"{r['f1']:9.3f} {r['support']:8d}" for r in data["per_class"]]
    if data["confusion"]:
        lines.append("  confusion (rows: expected, columns: predicted): " + ", ".join(
            data["labels"]))
        lines += ["    " + " ".join(f"{v:6d}" for v in row) for row in data["confusion"]]
    if data["worst"]:
        lines.append("  worst examples:")
        lines += [f"    #{w['index']} {w['text'][:60]!r} expected {w['expected'][:30]!r} "
                  f"predicted {w['predicted'][:30]!r} score {w['score']:.3f}"
                  for w in data["worst"]]
    if data.get("saved_to"):
        lines.append(f"saved {data['saved_to']}")
    return "\n".join(lines)
