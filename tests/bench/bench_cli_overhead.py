"""Benchmark: `workbench train` on the demo vs a plain transformers.Trainer script, same settings.

    python tests/bench/bench_cli_overhead.py [--reps 3] [--json]

Both run as fresh processes, alternating (A B, B A, ...) --reps times, on the demo spec
(resources/demo_data/demo_spec.json: MiniLM, 240 rows, 3 epochs, batch 16, max_length 48,
eval and a checkpoint every epoch, logging every 2 steps) with OMP_WAIT_POLICY=PASSIVE for both.
The plain script is what a user would write by hand: datasets.load_dataset on the two CSV files,
tokenize with truncation, AutoModelForSequenceClassification, the same TrainingArguments
(AdamW as the fused kernel: transformers' default, and what `workbench train` runs for
adamw_torch), Trainer.train(), save_model + tokenizer into final/, exit. Phases, from the
parent's clock (each child prints a line per phase, flushed, and the parent stamps its arrival),
the same marks for both:

  setup    process start -> the first training step begins (on_train_begin / "started")
    to_model   process start -> the model is loaded (imports, tokenizer, data, model)
    trainer    model loaded -> training begins (TrainingArguments, Trainer, accelerate)
  train    first step -> the last checkpoint of the loop is written (on_save / "checkpoint")
  end      last checkpoint -> the process has exited
    save_final last checkpoint -> final/ is written
    exit       the rest (final events, logs closed, interpreter shutdown)

Each phase is timed twice: wall time, and the CPU time the child used (user + system, all
threads; read from /proc when its mark arrives, from wait4 at exit). On a shared machine CPU time
varies far less than wall time, which also waits for a CPU. Reported: the median of each rep's
ratio workbench / plain (target <= 1.03) for every phase (a ratio within one rep beats the
machine's drift between reps), and the medians of the times. No asserts: this prints figures.
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
PLAIN = r"""
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
    def on_save(self, *a, **k): print("MARK checkpoint", flush=True)
    def on_train_end(self, *a, **k): print("MARK train_end", flush=True)
args = TrainingArguments(output_dir=f"{out}/checkpoints", per_device_train_batch_size=16,
    per_device_eval_batch_size=32, num_train_epochs=3, learning_rate=1e-4, weight_decay=0.01,
    lr_scheduler_type="linear", warmup_steps=0.1, seed=42, use_cpu=True, logging_steps=2,
    logging_first_step=True, eval_strategy="epoch", save_strategy="epoch",
    optim="adamw_torch_fused", report_to="none", disable_tqdm=True,
    include_num_input_tokens_seen=False, logging_nan_inf_filter=False,
    average_tokens_across_devices=False)
trainer = Trainer(model=model, args=args, train_dataset=train, eval_dataset=evalset,
                  processing_class=tok, data_collator=DataCollatorWithPadding(tok),
                  compute_metrics=metrics, callbacks=[Marks()])
trainer.train()
trainer.save_model(f"{out}/final")
tok.save_pretrained(f"{out}/final")
print("MARK saved", flush=True)
"""

PHASES = ("wall_s", "setup_s", "to_model_s", "trainer_s", "train_s", "end_s", "save_final_s",
          "exit_s")
CPU_PHASES = ("cpu_total_s", *(f"cpu_{k}" for k in PHASES[1:]))


def _env() -> dict:
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_WAIT_POLICY="PASSIVE",
               HF_HUB_OFFLINE="1", TRANSFORMERS_VERBOSITY="error",
               TOKENIZERS_PARALLELISM="false")
    return env


def _cpu_s(pid: int) -> float:
    """CPU seconds (user + system, all threads) a running process has used: /proc (Linux)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return float("nan")


def _stamped(command: list[str]) -> tuple[tuple[float, float], list[tuple[tuple, str]]]:
    """Run `command`: ((wall s, CPU s) at exit, [((wall s, CPU s) since spawn, stdout line)]).

    CPU time is what the child used, read when each line arrives: on a machine shared with
    other work it varies far less than wall time (which waits for the CPU too).
    """
    t0 = time.perf_counter()
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                            env=_env(), text=True, cwd=str(ROOT))
    lines = []
    for line in proc.stdout:
        lines.append(((time.perf_counter() - t0, _cpu_s(proc.pid)), line.strip()))
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise RuntimeError(f"{command[:4]} failed with status {proc.returncode}")
    return (time.perf_counter() - t0, usage.ru_utime + usage.ru_stime), lines


def _phases(end: tuple, model: tuple, started: tuple, last_save: tuple,
            saved: tuple) -> dict:
    """{phase: seconds} for wall time (index 0) and CPU time ("cpu_" names, index 1)."""
    out = {}
    for prefix, i in (("", 0), ("cpu_", 1)):
        out.update({f"{prefix}wall_s" if prefix == "" else "cpu_total_s": end[i],
                    f"{prefix}setup_s": started[i], f"{prefix}to_model_s": model[i],
                    f"{prefix}trainer_s": started[i] - model[i],
                    f"{prefix}train_s": last_save[i] - started[i],
                    f"{prefix}end_s": end[i] - last_save[i],
                    f"{prefix}save_final_s": saved[i] - last_save[i],
                    f"{prefix}exit_s": end[i] - saved[i]})
    return out


def plain_run(out: Path) -> dict:
    from workbench.core.model.loading import demo_checkpoint_path

    script = out.parent / "plain_trainer.py"
    script.write_text(PLAIN)
    end, lines = _stamped([sys.executable, str(script), str(demo_checkpoint_path()),
                           str(ROOT / "resources" / "demo_data"), str(out)])
    marks: dict[str, tuple] = {}
    for t, text in lines:
        if text.startswith("MARK "):
            marks[text.split()[1]] = t  # the last one of each name (checkpoint: the last save)
    return _phases(end, marks["model"], marks["train_begin"], marks["checkpoint"],
                   marks["saved"])


def workbench_run(out: Path) -> dict:
    """`python -m workbench train demo_spec.json --output-dir OUT --json-events`."""
    spec = ROOT / "resources" / "demo_data" / "demo_spec.json"
    end, lines = _stamped([sys.executable, "-m", "workbench", "train", str(spec),
                           "--output-dir", str(out), "--json-events"])
    events = []
    for t, text in lines:
        try:
            data = json.loads(text)
        except ValueError:
            continue
        events.append((t, data["kind"], data.get("message", "")))
    started = next(t for t, kind, _ in events if kind == "started")
    saved = next(t for t, kind, msg in events if kind == "status" and "final model" in msg)
    ready = next(t for t, kind, msg in events if kind == "status" and
                 msg.startswith("model ready"))
    last_save = max((t for t, kind, _ in events if kind == "checkpoint" and t <= saved),
                    key=lambda t: t[0])
    return _phases(end, ready, started, last_save, saved)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    root = Path(tempfile.mkdtemp(prefix="bench-cli-"))
    runs: dict[str, list[dict]] = {"workbench": [], "plain": []}
    loads = []
    for rep in range(args.reps):
        order = ("workbench", "plain") if rep % 2 == 0 else ("plain", "workbench")
        for name in order:
            out = root / f"{name}-{rep}"
            runs[name].append(workbench_run(out) if name == "workbench" else plain_run(out))
        loads.append(os.getloadavg()[0])
        w, p = runs["workbench"][-1], runs["plain"][-1]
        print(f"rep {rep}: wall workbench {w['wall_s']:.2f} s / plain {p['wall_s']:.2f} s = "
              f"{w['wall_s'] / p['wall_s']:.3f}; setup {w['setup_s']:.2f}/{p['setup_s']:.2f}, "
              f"train {w['train_s']:.2f}/{p['train_s']:.2f}, end {w['end_s']:.2f}/"
              f"{p['end_s']:.2f}; CPU {w['cpu_total_s']:.2f}/{p['cpu_total_s']:.2f} s; "
              f"load {loads[-1]:.1f}", file=sys.stderr)

    keys = PHASES + CPU_PHASES
    report: dict = {name: {k: round(statistics.median(r[k] for r in runs[name]), 3)
                           for k in keys} for name in runs}
    report["median_ratio"] = {
        k: round(statistics.median(w[k] / max(1e-9, p[k])
                                   for w, p in zip(runs["workbench"], runs["plain"],
                                                   strict=True)), 4) for k in keys}
    report["load_avg_1m"] = loads
    report["runs"] = runs
    if args.json:
        print(json.dumps(report, indent=1))
        return
    w, p, r = report["workbench"], report["plain"], report["median_ratio"]
    print(f"{args.reps} alternating reps, load {min(loads):.1f}-{max(loads):.1f}; median of the "
          f"per-rep ratios workbench / plain (target <= 1.03), then the median times:")
    print(f"  {'':14} {'wall ratio':>10} {'CPU ratio':>10}   {'wall s':>15}   {'CPU s':>15}")
    for key, cpu in zip(PHASES, CPU_PHASES, strict=True):
        indent = "    " if key in ("to_model_s", "trainer_s", "save_final_s", "exit_s") else "  "
        print(f"{indent}{key[:-2]:{16 - len(indent)}} {r[key]:10.3f} {r[cpu]:10.3f}   "
              f"{w[key]:6.2f} vs {p[key]:6.2f}   {w[cpu]:6.2f} vs {p[cpu]:6.2f}")


if __name__ == "__main__":
    main()
