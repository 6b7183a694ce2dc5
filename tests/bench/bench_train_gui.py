"""Benchmark: a GUI-driven fine-tune vs the same spec headless, and GUI stalls while training.

    python tests/bench/bench_train_gui.py [--steps 40] [--reps 2] [--json]

Both runs use the demo spec (MiniLM + the bundled data) capped at --steps optimizer steps and
logging every step (the worst case for event traffic). Throughput is samples per second between
the run's "started" and final events (model loading excluded, evaluation included in both).
The headless spec runs twice: on the main thread (as `workbench train` does) and on a plain
worker thread (the GUI's arrangement without Qt), because here the thread alone changes torch's
CPU speed; GUI vs worker-thread isolates what the GUI costs.
The GUI run goes through the real Fine-tune view (form, Start button, worker thread, live curves)
twice: as a user runs it (throughput), and with a 16 ms QTimer recording the event loop's
observed intervals (stalls; the probe costs throughput itself). Runs alternate headless / GUI to
spread machine noise; medians are reported. No asserts: this prints figures.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# as `workbench train` sets it: spinning OpenMP threads slow training on a busy CPU
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def _throughput(events: list, spec) -> float:
    started = next(e for e in events if e.kind == "started")
    final = next(e for e in reversed(events) if e.is_final)
    steps = final.step - started.step
    return steps * spec.batch_size * spec.grad_accum / max(1e-9, final.time - started.time)


def headless_run(spec, in_thread: bool = False) -> dict:
    """run_training with events collected in a list: on this thread (what the CLI does) or
    on a plain worker thread while this one waits (the GUI's thread arrangement, no Qt)."""
    import threading

    from workbench.core.training.runner import run_training

    events: list = []
    results: list = []
    t0 = time.perf_counter()
    if in_thread:
        worker = threading.Thread(target=lambda: results.append(run_training(spec,
                                                                             events.append)))
        worker.start()
        worker.join()
    else:
        results.append(run_training(spec, events.append))
    return {"status": results[0].status if results else "failed",
            "samples_per_s": _throughput(events, spec),
            "wall_s": time.perf_counter() - t0, "events": len(events)}


class IntervalRecorder:
    """A 16 ms QTimer that records the intervals it actually observed (event-loop stalls)."""

    def __init__(self) -> None:
        from PySide6.QtCore import QTimer

        self.intervals: list[float] = []
        self.last = time.perf_counter()
        self.timer = QTimer()
        self.timer.setInterval(16)
        self.timer.timeout.connect(self._tick)

    def start(self) -> None:
        self.last = time.perf_counter()
        self.timer.start()

    def _tick(self) -> None:
        now = time.perf_counter()
        self.intervals.append((now - self.last) * 1000)
        self.last = now


def gui_run(window, spec, probe: bool) -> dict:
    """The same spec through the Fine-tune view under a real event loop (QEventLoop.exec);
    with `probe`, a 16 ms QTimer records its observed intervals once training has started.

    The probe is not free: 60 Python wake-ups a second each take the GIL from the training
    thread, which a user's window never does. So throughput comes from runs without it and
    stalls from runs with it (both alternate with the headless runs)."""
    from PySide6.QtCore import QEventLoop
    from PySide6.QtWidgets import QApplication

    view = window.current_tab().show_view("Fine-tune")
    view.form.set_spec(spec)
    # the user reads the preview and schedule before pressing Start: let them finish first
    deadline = time.time() + 60
    while (view.preflight.plan is None or view.preflight.tasks._tasks) and time.time() < deadline:
        QApplication.processEvents(QEventLoop.ProcessEventsFlag.WaitForMoreEvents, 50)
    recorder = IntervalRecorder()
    events: list = []
    cpu = [0.0, 0.0]  # GUI-thread CPU seconds and wall seconds of the training phase

    def on_events(batch: list) -> None:
        events.extend(batch)
        if not cpu[1] and any(e.kind == "started" for e in batch):
            if probe:
                recorder.start()  # measure training, not the model load
            cpu[:] = [time.thread_time(), time.perf_counter()]

    loop = QEventLoop()
    view.runFinished.connect(loop.quit)
    t0 = time.perf_counter()
    if not view.start(spec=spec):
        raise RuntimeError(view.form.error_label.text())
    view.session.eventsArrived.connect(on_events)
    view.session.failed.connect(loop.quit)
    loop.exec()
    recorder.timer.stop()
    intervals = recorder.intervals
    gui_cpu = (time.thread_time() - cpu[0]) / max(1e-9, time.perf_counter() - cpu[1])
    view.runFinished.disconnect(loop.quit)
    wall = time.perf_counter() - t0
    result = view.session.result
    return {"status": result.status if result else "failed",
            "samples_per_s": _throughput(events, spec), "wall_s": wall, "events": len(events),
            "batches": view.session.batches, "curve_redraws": view.curves.redraws,
            "curve_draw_s": view.curves.draw_seconds, "gui_thread_cpu_share": gui_cpu,
            "timer_p50_ms": _pct(intervals, 50), "timer_p99_ms": _pct(intervals, 99),
            "timer_max_ms": max(intervals, default=0.0), "ticks": len(intervals)}


def idle_intervals(seconds: float) -> list[float]:
    """The same 16 ms timer with nothing training: the machine's own scheduling noise."""
    from PySide6.QtCore import QEventLoop, QTimer

    recorder = IntervalRecorder()
    loop = QEventLoop()
    QTimer.singleShot(int(seconds * 1000), loop.quit)
    recorder.start()
    loop.exec()
    recorder.timer.stop()
    return recorder.intervals


def _pct(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--reps", type=int, default=2)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    from PySide6.QtCore import QEventLoop, QSettings
    from PySide6.QtWidgets import QApplication

    from workbench.core.model.loading import demo_checkpoint_path
    from workbench.core.training.spec import demo_spec
    from workbench.qt.main_window import MainWindow

    app = QApplication.instance() or QApplication(sys.argv[:1])
    # as the app runs (workbench/qt/app.py): cyclic garbage collected on the GUI thread only,
    # and the background device check, which gc.freeze()s torch's and transformers' objects
    from workbench.qt.app import tune_interpreter_for_gui
    from workbench.qt.common.gc_guard import GuiThreadCollector

    GuiThreadCollector(app).start()
    tune_interpreter_for_gui()  # the GIL switch interval (the headless runs too: one process)
    root = Path(tempfile.mkdtemp(prefix="bench_train_gui_"))
    os.environ["WORKBENCH_RUNS_DIR"] = str(root / "runs")
    window = MainWindow(settings=QSettings(str(root / "s.ini"), QSettings.Format.IniFormat))
    window.resize(1400, 900)
    window.show()
    window.start_background_checks()
    window.open_checkpoint(str(demo_checkpoint_path()))
    deadline = time.time() + 120
    while window.tabs.count() == 0 and time.time() < deadline:
        app.processEvents(QEventLoop.ProcessEventsFlag.AllEvents, 50)

    idle = idle_intervals(5.0)
    headless, threaded, gui, probed = [], [], [], []
    loads: list[float] = []
    spec = demo_spec().replace(max_steps=args.steps, logging_steps=1)
    modes = ("headless", "thread", "gui", "probed")
    for rep in range(args.reps):
        # rotate the order: no mode always runs first (warm caches, drifting machine load)
        for mode in modes[rep % 4:] + modes[:rep % 4]:
            out = spec.replace(output_dir=str(root / f"{mode}-{rep}"))
            if mode == "headless":
                headless.append(headless_run(out))
            elif mode == "thread":
                threaded.append(headless_run(out, in_thread=True))
            else:
                (gui if mode == "gui" else probed).append(
                    gui_run(window, out, probe=mode == "probed"))
        loads.append(os.getloadavg()[0])
        print(f"rep {rep}: headless {headless[-1]['samples_per_s']:.1f}, headless thread "
              f"{threaded[-1]['samples_per_s']:.1f}, GUI {gui[-1]['samples_per_s']:.1f}, "
              f"GUI with the stall probe {probed[-1]['samples_per_s']:.1f} samples/s; probe "
              f"p99 {probed[-1]['timer_p99_ms']:.1f} ms", file=sys.stderr)
    window.tabs.widget(0).views["Fine-tune"].ask_close = lambda: "discard"
    window.close()

    h = statistics.median(r["samples_per_s"] for r in headless)
    t = statistics.median(r["samples_per_s"] for r in threaded)
    g = statistics.median(r["samples_per_s"] for r in gui)
    report = {
        "spec": f"demo spec (MiniLM, batch 16, max_length 48), {args.steps} steps, "
                f"logging every step, {args.reps} reps alternating",
        "headless_samples_per_s": round(h, 2), "headless_thread_samples_per_s": round(t, 2),
        "gui_samples_per_s": round(g, 2), "gui_vs_headless": round(g / h, 4),
        "gui_vs_headless_thread": round(g / t, 4),
        # each rep's GUI run against the headless runs of the same rep, then the median: the
        # machine's drift between reps cancels out of a ratio taken within one rep
        "median_rep_ratio_gui_vs_thread": round(statistics.median(
            r["samples_per_s"] / q["samples_per_s"] for r, q in zip(gui, threaded,
                                                                   strict=True)), 4),
        "median_rep_ratio_gui_vs_headless": round(statistics.median(
            r["samples_per_s"] / q["samples_per_s"] for r, q in zip(gui, headless,
                                                                   strict=True)), 4),
        "gui_with_probe_samples_per_s": round(statistics.median(
            r["samples_per_s"] for r in probed), 2),
        "gui_timer_p50_ms": round(statistics.median(r["timer_p50_ms"] for r in probed), 2),
        "gui_timer_p99_ms": round(max(r["timer_p99_ms"] for r in probed), 2),
        "gui_timer_max_ms": round(max(r["timer_max_ms"] for r in probed), 2),
        "idle_timer_p50_ms": round(_pct(idle, 50), 2),
        "idle_timer_p99_ms": round(_pct(idle, 99), 2),
        "gui_thread_cpu_share": round(statistics.median(r["gui_thread_cpu_share"]
                                                        for r in gui), 4),
        "events_per_run": gui[0]["events"], "signal_batches_per_run": gui[0]["batches"],
        "runs": {"headless": headless, "thread": threaded, "gui": gui, "probed": probed},
        "cpu_count": os.cpu_count(),
        "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY", "default"),
        "load_avg_1m": loads,
    }
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print(f"Throughput: GUI {g:.1f} vs headless on a worker thread {t:.1f} samples/s = "
              f"{g / t:.1%} (target >= 97%); headless on the main thread {h:.1f} samples/s "
              f"(GUI = {g / h:.1%} of it)")
        print(f"Median of the per-rep ratios: GUI / worker thread "
              f"{report['median_rep_ratio_gui_vs_thread']:.1%}, GUI / main thread "
              f"{report['median_rep_ratio_gui_vs_headless']:.1%} ({args.reps} reps, load "
              f"{min(loads):.1f}-{max(loads):.1f})")
        print(f"GUI with the stall probe running: {report['gui_with_probe_samples_per_s']} "
              f"samples/s (the probe's own cost)")
        print(f"GUI event loop during training (16 ms timer): p50 "
              f"{report['gui_timer_p50_ms']} ms, p99 {report['gui_timer_p99_ms']} ms, max "
              f"{report['gui_timer_max_ms']} ms (target p99 <= 50 ms); idle baseline p50 "
              f"{report['idle_timer_p50_ms']} ms, p99 {report['idle_timer_p99_ms']} ms")
        print(f"GUI thread CPU during training: {report['gui_thread_cpu_share']:.1%} of a core")
        print(f"Events per run {report['events_per_run']}, delivered in "
              f"{report['signal_batches_per_run']} signal batches")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
