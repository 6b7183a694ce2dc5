"""`workbench train SPEC.json`: run a fine-tuning spec headless (same core as the GUI)."""

from __future__ import annotations

import argparse
import json
import signal
import sys
import traceback

from workbench.core.errors import WorkbenchError
from workbench.core.training.events import TrainEvent


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("spec", nargs="?",
                        help="training spec JSON (a TrainSpec; see --print-demo-spec)")
    parser.add_argument("--resume", metavar="RUN_DIR",
                        help="continue a run from its newest complete checkpoint")
    parser.add_argument("--restart", action="store_true",
                        help="start over in an output folder that already holds a run "
                             "(deletes its record, checkpoints and model first)")
    parser.add_argument("--extend-epochs", type=float, default=0.0, metavar="N",
                        help="with --resume: train N more epochs than the spec says")
    parser.add_argument("--json-events", action="store_true",
                        help="print one JSON TrainEvent per line on stdout; a failure ends "
                             "with an 'error' event and a 'failed' event (exit status 1)")
    parser.add_argument("--output-dir", help="override the spec's output_dir (new runs)")
    parser.add_argument("--demo", action="store_true",
                        help="train the bundled demo (MiniLM on the demo sentiment/topic data)")
    parser.add_argument("--print-demo-spec", action="store_true",
                        help="print the demo spec as JSON and exit (a template for your own)")


def _load_spec(args: argparse.Namespace):
    from workbench.core.training.spec import TrainSpec, demo_spec

    if args.demo or args.print_demo_spec:
        spec = demo_spec(args.output_dir or "")
    elif args.spec:
        spec = TrainSpec.load(args.spec)
    elif args.resume:
        from workbench.core.training.runs import load_run_spec

        spec = load_run_spec(args.resume)
    else:
        raise WorkbenchError("Give a training spec JSON file (or --demo, or --resume RUN_DIR).")
    if args.output_dir and not args.resume:
        spec = spec.replace(output_dir=args.output_dir)
    return spec


def _human(event) -> str:
    m = event.metrics
    parts = [f"[{event.kind:10}] step {event.step}/{event.max_steps} epoch {event.epoch:.2f}"]
    for key in ("loss", "eval_loss", "eval_accuracy", "eval_exact_match", "eval_f1", "perplexity",
                "learning_rate", "grad_norm", "samples_per_s"):
        if key in m:
            parts.append(f"{key} {m[key]:.4g}")
    if event.message:
        parts.append(event.message)
    return "  ".join(parts)


def run(args: argparse.Namespace) -> dict | None:
    if not args.json_events:
        return _run(args, lambda event: print(_human(event), flush=True))
    # Every failure, setup errors included, reaches stdout as events: an "error" event with
    # the message, then the final "failed" event (the session sends its own when it ran).
    state = {"final": False, "step": 0, "max_steps": 0}

    def emit(event) -> None:
        if event.kind == "failed":
            _print_error_event(event.message, event.step, event.max_steps)
        state.update(final=state["final"] or event.is_final, step=event.step,
                     max_steps=event.max_steps or state["max_steps"])
        print(event.to_json(), flush=True)

    from workbench.core.training.faults import setup_failure_message

    try:
        return _run(args, emit)
    except (Exception, KeyboardInterrupt) as e:
        if state["final"]:
            raise  # the failed event is out already; the CLI exits 1 with the message
        if getattr(args, "debug", False):
            traceback.print_exc()
        message = setup_failure_message(e)
        _print_error_event(message, state["step"], state["max_steps"])
        print(TrainEvent("failed", state["step"], state["max_steps"], 0.0, 0.0, {},
                         message).to_json(), flush=True)
        raise WorkbenchError(message) from None


def _print_error_event(message: str, step: int, max_steps: int) -> None:
    print(TrainEvent("error", step, max_steps, 0.0, 0.0, {}, message).to_json(), flush=True)


def _run(args: argparse.Namespace, emit) -> dict | None:
    from workbench.core.training.runner import TrainControl, run_training

    if args.extend_epochs and not args.resume:
        raise WorkbenchError("--extend-epochs needs --resume RUN_DIR (the run to extend).")
    if args.restart and args.resume:
        raise WorkbenchError("--restart and --resume exclude each other: --resume continues "
                             "the run, --restart discards it and starts over.")
    spec = _load_spec(args)
    if args.print_demo_spec:
        print(json.dumps(spec.to_json(), indent=2))
        return None

    control = TrainControl()
    previous = signal.getsignal(signal.SIGINT)

    def on_interrupt(signum, frame) -> None:
        # First Ctrl-C: stop at the next step boundary with a checkpoint; second: abort now.
        signal.signal(signal.SIGINT, previous)
        print("stopping at the next step (saving a checkpoint); Ctrl-C again to abort",
              file=sys.stderr, flush=True)
        control.cancel(save_checkpoint=True)

    from workbench.core.training.distributed import rank_info

    # With several processes only the main rank decides when to stop (and tells the others at
    # the next step), so a Ctrl-C reaching every rank cannot stop them at different steps.
    signal.signal(signal.SIGINT, on_interrupt if rank_info().is_main else signal.SIG_IGN)
    try:
        result = run_training(spec, emit, control, resume_from=args.resume,
                              extend_epochs=args.extend_epochs, restart=args.restart,
                              watch_control_file=True, free_memory=False)
    finally:
        signal.signal(signal.SIGINT, previous)
    if result.status == "failed":
        if result.details and getattr(args, "debug", False):
            print(result.details, file=sys.stderr, flush=True)
        raise WorkbenchError(result.message)
    if args.json_events:
        return None  # the final event already carries the result
    return {"status": result.status, "run_dir": result.run_dir,
            "final_model_dir": result.final_model_dir, "message": result.message,
            "metrics": result.metrics}


def render(data: dict) -> str:
    lines = [f"{data['status']}: {data['message']}", f"  run folder   {data['run_dir']}"]
    for key in ("eval_loss", "eval_accuracy", "eval_exact_match", "eval_f1", "perplexity",
                "loss"):
        if key in data["metrics"]:
            lines.append(f"  {key:16} {data['metrics'][key]:.4f}")
    return "\n".join(lines)
