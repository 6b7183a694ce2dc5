"""The TrainerCallback that turns Trainer hooks into TrainEvents and obeys TrainControl."""

from __future__ import annotations

import functools
import math
import os
import time
from collections.abc import Callable
from typing import Any

from transformers import TrainerCallback

from workbench.core.training.events import TrainEvent
from workbench.core.training.perplexity import with_perplexity

# Trainer's own running totals; the callback reports per-interval rates instead.
_DROPPED = {"epoch", "num_input_tokens_seen", "train_runtime", "train_tokens_per_second",
            "eval_runtime", "eval_samples_per_second", "eval_steps_per_second"}


def memory_mb(device: str) -> float:
    """Device memory in use in MiB: CUDA peak allocated, else this process's resident memory."""
    import torch

    if device.startswith("cuda") and torch.cuda.is_available():
        return torch.cuda.max_memory_allocated() / 2**20
    try:
        import psutil

        return psutil.Process(os.getpid()).memory_info().rss / 2**20
    except ImportError:
        return float("nan")


def first_nonfinite_parameter(model: Any) -> str | None:
    """Name of the first trainable parameter holding a NaN or inf, or None when all are finite.

    One float32 sum per tensor (a NaN or inf anywhere makes the sum non-finite) and a single
    host-device sync for the whole model: a read of the weights, cheaper than the optimizer
    step that wrote them, so it runs once per logging step.
    """
    import torch

    named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    if not named:
        return None
    with torch.no_grad():
        device = named[0][1].device
        sums = torch.stack([p.detach().sum(dtype=torch.float32).to(device) for _, p in named])
        finite = torch.isfinite(sums)
        if bool(finite.all()):  # .item(): the one host-device sync of this check
            return None
        return named[int((~finite).nonzero()[0, 0])][0]


class EventCallback(TrainerCallback):
    """One emit per logging step / eval / save; pause, cancel and save-now at step boundaries."""

    def __init__(self, emit: Callable[[TrainEvent], None], control: Any, task: str,
                 device: str, stop_on_nan: bool, samples_per_step: int,
                 tokens: Any = None, time_offset: float = 0.0, sync: Any = None,
                 started_at: float | None = None) -> None:
        self.emit_fn = emit
        self.sync = sync  # a distributed.ControlSync when other ranks must stay in step
        self.ctl = control
        self.task = task
        self.device = device
        self.stop_on_nan = stop_on_nan
        self.samples_per_step = samples_per_step
        self.tokens = tokens  # a TokenCounter (host-side count of training tokens) or None
        self.time_offset = time_offset
        # The session's own start, so its events and ours share one clock (in order).
        self.t0 = time.perf_counter() if started_at is None else started_at
        self.last_log: tuple[float, int, int] | None = None  # (time, step, tokens seen)
        self.nan_message = ""
        self.stopped_by_user = False  # a cancel was decided at a step boundary
        self.save_on_cancel = False
        self.last_eval_step = -1
        self.last_save_step = -1
        self.last_metrics: dict[str, float] = {}
        self.max_steps = 0

    # -- helpers -------------------------------------------------------------------------
    def elapsed(self) -> float:
        """Seconds since the run (or the resumed session) started."""
        return self.time_offset + time.perf_counter() - self.t0

    def _tokens_seen(self) -> int:
        return int(self.tokens.tokens) if self.tokens is not None else 0

    def event(self, kind: str, state: Any, metrics: dict[str, float] | None = None,
              message: str = "") -> None:
        """Build and emit one TrainEvent at the current step."""
        self.emit_fn(TrainEvent(kind=kind, step=int(state.global_step),
                                max_steps=int(state.max_steps or self.max_steps),
                                epoch=float(state.epoch or 0.0), time=self.elapsed(),
                                metrics=dict(metrics or {}), message=message))

    # -- Trainer hooks -------------------------------------------------------------------
    def on_train_begin(self, args, state, control, **kwargs):
        self.max_steps = int(state.max_steps)
        self.last_log = (time.perf_counter(), int(state.global_step), self._tokens_seen())
        message = f"resumed from step {state.global_step}" if state.global_step else ""
        self.event("started", state, message=message)

    def on_step_end(self, args, state, control, **kwargs):
        ctl = self.ctl
        on_paused = functools.partial(self.event, "paused", state)
        on_resumed = functools.partial(self._resumed, state)
        if self.sync is not None:
            # The main rank's decision, the same on every rank (see ControlSync.step_boundary).
            save_now, cancelled, save_on_cancel = self.sync.step_boundary(ctl, on_paused,
                                                                          on_resumed)
        else:
            ctl.wait_while_paused(on_paused=on_paused, on_resumed=on_resumed)
            save_now = ctl.take_save_request()
            # cancel() sets save_on_cancel before the flag, so these two reads agree
            cancelled, save_on_cancel = ctl.is_cancelled, ctl.save_on_cancel
        if save_now:
            control.should_save = True
        if cancelled:
            self.stopped_by_user = True
            self.save_on_cancel = save_on_cancel
            control.should_training_stop = True
            control.should_evaluate = False
            control.should_save = save_on_cancel
        if control.should_log or control.should_save:
            # DefaultFlowCallback (first in the list) has decided: check before a log or save.
            self._check_weights(args, control, state, kwargs.get("model"))
        if self.nan_message:
            control.should_training_stop = True
            control.should_save = False

    def _resumed(self, state: Any) -> None:
        # The next rate interval starts now: time spent paused is not training time.
        self.last_log = (time.perf_counter(), int(state.global_step), self._tokens_seen())
        self.event("resumed", state)

    def on_epoch_end(self, args, state, control, **kwargs):
        if control.should_save:
            self._check_weights(args, control, state, kwargs.get("model"))
        # DefaultFlowCallback (called before us) asks for eval/save at epoch ends; a cancelled
        # or diverged run must not spend time evaluating or overwrite good checkpoints.
        if self.stopped_by_user:
            control.should_evaluate = False
            control.should_save = self.save_on_cancel and self.last_save_step != \
                state.global_step
        if self.nan_message:
            control.should_evaluate = False
            control.should_save = False

    def on_log(self, args, state, control, logs=None, **kwargs):
        logs = logs or {}
        if "loss" not in logs and "grad_norm" not in logs:
            return  # eval/train summaries are reported by on_evaluate / the runner
        now, step = time.perf_counter(), int(state.global_step)
        tokens = self._tokens_seen()
        metrics = {k: float(v) for k, v in logs.items()
                   if isinstance(v, (int, float)) and k not in _DROPPED}
        if self.last_log is not None and now > self.last_log[0] and step > self.last_log[1]:
            dt = now - self.last_log[0]
            metrics["steps_per_s"] = (step - self.last_log[1]) / dt
            metrics["samples_per_s"] = metrics["steps_per_s"] * self.samples_per_step
            if tokens:
                metrics["tokens_per_s"] = (tokens - self.last_log[2]) / dt
        self.last_log = (now, step, tokens)
        metrics["memory_mb"] = memory_mb(self.device)
        self.last_metrics.update(metrics)
        bad = [k for k in ("loss", "grad_norm") if k in metrics and not math.isfinite(metrics[k])]
        self.event("log", state, metrics)
        if bad and self.stop_on_nan and not self.nan_message:
            self._diverged(args, control, step,
                           f"The {' and '.join(bad)} became {metrics[bad[0]]} at step {step}")

    def on_train_end(self, args, state, control, **kwargs):
        # The last steps may fall between logging steps: check the weights before they are saved.
        self._check_weights(args, control, state, kwargs.get("model"))

    def _check_weights(self, args, control, state, model: Any) -> None:
        """Stop the run when the optimizer step left a NaN/inf weight (the loss shows it later)."""
        if not self.stop_on_nan or self.nan_message or model is None:
            return
        name = first_nonfinite_parameter(model)
        if name is not None:
            step = int(state.global_step)
            self._diverged(args, control, step,
                           f"The weights became NaN or infinite at step {step} (first: {name})")

    def _diverged(self, args, control, step: int, what: str) -> None:
        """Remember why the run diverged (with the knobs to turn) and stop without saving."""
        self.nan_message = (
            f"{what}: training diverged. Lower the learning rate (now {args.learning_rate:g}), "
            f"add warmup, keep gradient clipping on (max_grad_norm, now {args.max_grad_norm:g}), "
            f"lower weight_decay (now {args.weight_decay:g}), or use fp32/bf16 instead of fp16.")
        control.should_training_stop = True
        control.should_evaluate = False
        control.should_save = False

    def on_evaluate(self, args, state, control, metrics=None, **kwargs):
        metrics = {k: float(v) for k, v in (metrics or {}).items()
                   if isinstance(v, (int, float)) and k not in _DROPPED}
        with_perplexity(metrics, self.task)
        self.last_eval_step = int(state.global_step)
        self.last_metrics.update(metrics)
        self.event("eval", state, metrics)

    def on_save(self, args, state, control, **kwargs):
        self.last_save_step = int(state.global_step)
        self.event("checkpoint", state, message=f"checkpoint-{state.global_step}")
