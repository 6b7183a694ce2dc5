"""Benchmark: `workbench train` on the demo vs a plain transformers.Trainer script, same settings.

    python tests/bench/bench_cli_overhead.py [--reps 2] [--json]

Both run as fresh processes (alternating, --reps times each; medians reported), on the demo
spec (resources/demo_data/demo_spec.json: MiniLM, 240 rows, 3 epochs, batch 16, max_length 48,
eval and a checkpoint every epoch, logging every 2 steps) with OMP_WAIT_POLICY=PASSIVE for both.
The plain script is what a user would write by hand: datasets.load_dataset on the two CSV files,
tokenize with truncation, AutoModelForSequenceClassification, the same TrainingArguments,
Trainer.train(), save_model + tokenizer into final/, exit. Phases, from the parent's clock (each
child prints one line per phase, flushed, and the parent stamps its arrival):

  setup    process start -> the first training step begins (imports, data, model, Trainer)
  train    first step -> training loop ended (on_train_end)
  end      training loop ended -> the final model is saved and the process has exited

Reported: wall time of each, the ratio workbench / plain (target <= 1.03), and the phases.
No asserts: this prints figures.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# The plain Trainer script: the demo spec written by hand, printing phase marks on stdout.
PLAIN = r'''
import sys, time
print("MARK process", flush=True)
import numpy as np
import torch
import datasets
from transformers import (AutoModelForSequenceClassification, AutoTokenizer,
                          DataCollatorWithPadding, Trainer, TrainerCallback, TrainingArguments)
print("MARK imports", flush=True)
model_dir, data_dir, out = sys.argv[1], sys.argv[2], sys.argv[3]
datasets.disable_progress_bars()
tok = AutoTokenizer.from_pretrained(model_dir)
train = datasets.load_dataset("csv", data_files=f"{data_dir}/train.csv", split="train")
evalset = datasets.load_dataset("csv", data_files=f"{data_dir}/eval.csv", split="train")
labels = sorted(set(train["label"]))
ids = {n: i for i, n in enumerate(labels)}
def enc(b):
    o = tok([str(t) for t in b["text"]], truncation=True, max_length=48)
    o["labels"] = [ids[v] for v in b["label"]]
    return o
train = train.map(enc, batched=True, remove_columns=train.column_names)
evalset = evalset.map(enc, batched=True, remove_columns=evalset.column_names)
print("MARK data", flush=True)
torch.manual_seed(42)
model = AutoModelForSequenceClassification.from_pretrained(
    model_dir, num_labels=len(labels), id2label=dict(enumerate(labels)), label2id=ids,
    ignore_mismatched_sizes=True, dtype=torch.float32)
print("MARK model", flush=True)
def metrics(p):
    pred = np.argmax(p.predictions, -1)
    return {"accuracy": float((pred == p.label_ids).mean())}
class Marks(TrainerCallback):
    def on_train_begin(self, *a, **k): print("MARK train_begin", flush=True)
    def on_train_end(self, *a, **k): print("MARK train_end", flush=True)
args = TrainingArguments(output_dir=f"{out}/checkpoints", per_device_train_batch_size=16,
    per_device_eval_batch_size=32, num_train_epochs=3, learning_rate=1e-4, weight_decay=0.01,
    lr_scheduler_type="linear", warmup_steps=0.1, seed=42, use_cpu=True, logging_steps=2,
    logging_first_step=True, eval_strategy="epoch", save_strategy="epoch",
    report_to="none", disable_tqdm=True, include_num_input_tokens_seen=False,
    logging_nan_inf_filter=False, average_tokens_across_devices=False)
trainer = Trainer(model=model, args=args, train_dataset=train, eval_dataset=evalset,
                  processing_class=tok, data_collator=DataCollatorWithPadding(tok),
                  compute_metrics=metrics, callbacks=[Marks()])
trainer.train()
trainer.save_model(f"{out}/final")
tok.save_pretrained(f"{out}/final")
print("MARK saved", flush=True)
'''


def _env() -> dict:
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_WAIT_POLICY="PASSIVE",
               HF_HUB_OFFLINE="1", TRANSFORMERS_VERBOSITY="error",
               TOKENIZERS_PARALLELISM="false")
    return env


def _stamped(command: list[str]) -> tuple[float, list[tuple[float, str]]]:
    """Run `command`; (wall seconds, [(seconds since spawn, stdout line)])."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                            env=_env(), text=True, cwd=str(ROOT))
    lines = []
    for line in proc.stdout:
        lines.append((time.perf_counter() - t0, line.strip()))
    if proc.wait() != 0:
        raise RuntimeError(f"{command[:4]} failed with status {proc.returncode}")
    return time.perf_counter() - t0, lines


def plain_run(out: Path) -> dict:
    from workbench.core.model.loading import demo_checkpoint_path

    script = out.parent / "plain_trainer.py"
    script.write_text(PLAIN)
    wall, lines = _stamped([sys.executable, str(script), str(demo_checkpoint_path()),
                            str(ROOT / "resources" / "demo_data"), str(out)])
    marks = {text.split()[1]: t for t, text in lines if text.startswith("MARK ")}
    return {"wall_s": wall, "setup_s": marks["train_begin"],
            "train_s": marks["train_end"] - marks["train_begin"],
            "end_s": wall - marks["train_end"],
            "phases": {"python+imports": marks["imports"], "data": marks["data"] -
                       marks["imports"], "model": marks["model"] - marks["data"],
                       "trainer": marks["train_begin"] - marks["model"],
                       "save_final": marks["saved"] - marks["train_end"],
                       "exit": wall - marks["saved"]}}


def workbench_run(out: Path) -> dict:
    """`python -m workbench train demo_spec.json --output-dir OUT --json-events`."""
    spec = ROOT / "resources" / "demo_data" / "demo_spec.json"
    wall, lines = _stamped([sys.executable, "-m", "workbench", "train", str(spec),
                            "--output-dir", str(out), "--json-events"])
    events = []
    for t, text in lines:
        try:
            data = json.loads(text)
        except ValueError:
            continue
        events.append((t, data["kind"], data.get("message", ""), float(data.get("time", 0))))
    first = next(t for t, kind, *_ in events if kind == "status")
    started = next(t for t, kind, *_ in events if kind == "started")
    final = next(t for t, kind, *_ in events if kind in ("finished", "cancelled", "failed"))
    saved = next(t for t, kind, msg, _ in events if kind == "status" and "final model" in msg)
    model = next(t for t, kind, msg, _ in events if kind == "status" and
                 msg.startswith("loading model"))
    ready = next(t for t, kind, msg, _ in events if kind == "status" and
                 msg.startswith("model ready"))
    # The training loop's end is the last event before the final save (a log or eval at the
    # last step); the phases after it are the final save, then the rest until exit.
    before_save = max(t for t, kind, *_ in events if kind in ("log", "eval", "checkpoint")
                      and t <= saved)
    return {"wall_s": wall, "setup_s": started, "train_s": before_save - started,
            "end_s": wall - before_save,
            "phases": {"python+imports": first, "data": model - first, "model": ready - model,
                       "trainer": started - ready, "save_final": saved - before_save,
                       "final_event": final - saved, "exit": wall - final}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=2)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    root = Path(tempfile.mkdtemp(prefix="bench-cli-"))
    runs: dict[str, list[dict]] = {"workbench": [], "plain": []}
    for rep in range(args.reps):
        order = ("workbench", "plain") if rep % 2 == 0 else ("plain", "workbench")
        for name in order:
            out = root / f"{name}-{rep}"
            runs[name].append(workbench_run(out) if name == "workbench" else plain_run(out))
        print(f"rep {rep}: workbench {runs['workbench'][-1]['wall_s']:.2f} s, plain "
              f"{runs['plain'][-1]['wall_s']:.2f} s", file=sys.stderr)

    def med(name: str, key: str, phase: bool = False) -> float:
        values = [r["phases"].get(key, 0.0) if phase else r[key] for r in runs[name]]
        return statistics.median(values)

    report = {name: {k: round(med(name, k), 3) for k in ("wall_s", "setup_s", "train_s",
                                                          "end_s")}
              for name in runs}
    for name in runs:
        report[name]["phases"] = {k: round(med(name, k, True), 3)
                                  for k in runs[name][0]["phases"]}
    report["ratio_wall"] = round(report["workbench"]["wall_s"] / report["plain"]["wall_s"], 4)
    report["load_avg_1m"] = os.getloadavg()[0]
    report["runs"] = runs
    if args.json:
        print(json.dumps(report, indent=1))
        return
    w, p = report["workbench"], report["plain"]
    print(f"wall: workbench train {w['wall_s']:.2f} s, plain Trainer {p['wall_s']:.2f} s, "
          f"ratio {report['ratio_wall']:.3f} (target <= 1.03); load {report['load_avg_1m']:.1f}")
    for key in ("setup_s", "train_s", "end_s"):
        print(f"  {key[:-2]:6} {w[key]:7.2f} s vs {p[key]:7.2f} s")
    for name in ("workbench", "plain"):
        print(f"  {name} phases: " + ", ".join(f"{k} {v:.2f}" for k, v in
                                               report[name]["phases"].items()))


if __name__ == "__main__":
    main()
