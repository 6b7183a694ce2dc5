"""Benchmark: headless training throughput; the demo fine-tune (wall time, accuracy before/after).

    python tests/bench/bench_training.py [--steps 30] [--skip-demo] [--json] [--omp-default]

1. Throughput of the demo spec (MiniLM, batch 16, max_length 48) run headless for --steps
   optimizer steps with no eval/checkpoint in between: steps/s, samples/s, tokens/s between
   the "started" event and the last "log" event (model loading and final save excluded).
2. The full demo fine-tune (resources/demo_data/demo_spec.json): eval accuracy of MiniLM with a
   fresh (untrained) head, wall time of `run_training`, and eval accuracy/F1 after.
OpenMP waits passively (OMP_WAIT_POLICY=PASSIVE), as `workbench train` sets it, unless
--omp-default. No asserts: this prints figures. CPU contention from other processes is noise;
with spinning OpenMP threads it is a 5-10x slowdown on 2 cores
(see workbench.cli._prepare_environment).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
if "--omp-default" not in sys.argv:
    from workbench.cli import _prepare_environment

    _prepare_environment()  # what `workbench` does; --omp-default measures without it


def headless_throughput(spec, extra_callbacks: list | None = None) -> dict:
    """Run `spec` headless (events into a list, as the CLI does) and measure its speed.

    Rates are measured from the "started" event to the last "log" event, so model loading,
    the final save and the final evaluation are excluded. A spec without output_dir runs in a
    temporary folder that is deleted afterwards.
    """
    from workbench.core.training.runner import run_training

    events: list = []
    with tempfile.TemporaryDirectory(prefix="wb-bench-") as tmp:
        if not spec.output_dir:
            spec = spec.replace(output_dir=str(Path(tmp) / "run"))
        t0, c0 = time.perf_counter(), time.process_time()
        result = run_training(spec, events.append, extra_callbacks=extra_callbacks)
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    started = next(e for e in events if e.kind == "started")
    logs = [e for e in events if e.kind == "log"]
    last = logs[-1] if logs else started
    steps = last.step - started.step
    seconds = max(1e-9, last.time - started.time)
    tokens = [e.metrics["tokens_per_s"] for e in logs if "tokens_per_s" in e.metrics]
    return {
        "status": result.status, "steps": steps, "train_s": seconds, "wall_s": wall,
        "cpu_s": cpu,  # CPU time of this process: less sensitive to other processes' load
        "steps_per_s": steps / seconds,
        "samples_per_s": steps * spec.batch_size * spec.grad_accum / seconds,
        "tokens_per_s_mean": sum(tokens) / len(tokens) if tokens else float("nan"),
        "events": len(events), "metrics": result.metrics,
    }


def demo_before_after() -> dict:
    """Eval accuracy of the demo model before fine-tuning, the fine-tune's wall time, after."""
    from workbench.core.training.evaluate import evaluate_model
    from workbench.core.training.runner import run_training
    from workbench.core.training.spec import demo_spec

    with tempfile.TemporaryDirectory(prefix="wb-demo-") as tmp:
        spec = demo_spec(str(Path(tmp) / "demo"))
        before = evaluate_model(spec)
        events: list = []
        t0, c0 = time.perf_counter(), time.process_time()
        result = run_training(spec, events.append)
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    started = next(e for e in events if e.kind == "started")
    final = events[-1]
    return {"status": result.status, "steps": final.step, "epochs": spec.num_epochs,
            "train_rows": 240, "wall_s": wall, "cpu_s": cpu,
            "train_s": final.time - started.time,
            "accuracy_before": before["eval_accuracy"], "f1_before": before["eval_f1"],
            "eval_loss_before": before["eval_loss"],
            "accuracy_after": result.metrics.get("eval_accuracy"),
            "f1_after": result.metrics.get("eval_f1"),
            "eval_loss_after": result.metrics.get("eval_loss")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--skip-demo", action="store_true")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--omp-default", action="store_true",
                        help="keep OpenMP's default spin-waiting (the CLI sets PASSIVE)")
    args = parser.parse_args()

    import torch

    from workbench.core.training.spec import demo_spec

    out: dict = {"torch_threads": torch.get_num_threads(), "cpus": os.cpu_count(),
                 "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY", "default"),
                 "load_avg_1m": os.getloadavg()[0]}
    spec = demo_spec().replace(max_steps=args.steps, logging_steps=5, save_steps=10_000,
                               eval_steps=10_000)
    out["throughput"] = headless_throughput(spec)
    if not args.skip_demo:
        out["demo"] = demo_before_after()
    out["load_avg_1m_after"] = os.getloadavg()[0]
    if args.json:
        print(json.dumps(out, indent=2, default=str))
        return
    t = out["throughput"]
    print(f"machine: {out['cpus']} CPUs, torch threads {out['torch_threads']}, OMP_WAIT_POLICY "
          f"{out['omp_wait_policy']}, load avg "
          f"{out['load_avg_1m']:.1f} -> {out['load_avg_1m_after']:.1f}")
    print(f"headless throughput (demo spec, {t['steps']} steps, batch {spec.batch_size}): "
          f"{t['steps_per_s']:.2f} steps/s, {t['samples_per_s']:.1f} samples/s, "
          f"{t['tokens_per_s_mean']:.0f} tokens/s; train {t['train_s']:.1f} s, "
          f"wall {t['wall_s']:.1f} s, process CPU {t['cpu_s']:.1f} s")
    if "demo" in out:
        d = out["demo"]
        print(f"demo fine-tune ({d['epochs']:g} epochs, {d['steps']} steps): wall "
              f"{d['wall_s']:.1f} s (training {d['train_s']:.1f} s, process CPU "
              f"{d['cpu_s']:.1f} s), {d['status']}")
        print(f"  eval accuracy {d['accuracy_before']:.3f} -> {d['accuracy_after']:.3f}, "
              f"macro F1 {d['f1_before']:.3f} -> {d['f1_after']:.3f}, eval loss "
              f"{d['eval_loss_before']:.3f} -> {d['eval_loss_after']:.3f} (chance 0.25)")


if __name__ == "__main__":
    main()
