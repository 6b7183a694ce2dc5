"""Benchmark: a run launched as processes, followed by the GUI's run monitor vs not followed.

    python tests/bench/bench_launch.py [--steps 60] [--json] [--followed-only]

The same `accelerate launch ... workbench train` command (the demo spec: MiniLM on the bundled
data, capped at --steps, logging every step) runs three times: 1 process, 2 processes from a
"terminal" (nobody watching), 2 processes while a RunMonitor window follows the run folder and a
16 ms QTimer records the GUI event loop's intervals. Reported: training throughput (samples/s
between the run's first and last logged step, from metrics.jsonl), time from start to the first
logged step, and the monitor's event-loop stalls (p99 and max interval). CPU only here: the two
ranks share 2 cores, so 2-process throughput is not a speed-up; the ratio followed/unfollowed
is what the GUI costs. No asserts: this prints figures.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _throughput(run_dir: Path, batch: int) -> float:
    """Samples/s between the first and the last logged step (the run's own clock)."""
    from workbench.core.training.runs import load_run_metrics

    logs = [e for e in load_run_metrics(run_dir) if e.kind == "log"]
    first, last = logs[0], logs[-1]
    return (last.step - first.step) * batch / max(1e-9, last.time - first.time)


def _run(spec, processes: int, follow: bool) -> dict:
    from workbench.core.training.launch import LaunchSpec
    from workbench.core.training.process_run import ProcessRun

    launch = LaunchSpec(mode="processes", num_processes=processes, main_port=_port())
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    t0 = time.time()
    run = ProcessRun.start(spec, launch, env=env)
    first_log = [float("nan")]

    def note_first_log() -> None:
        if first_log[0] != first_log[0] and '"log"' in _read(run.run_dir):  # still NaN
            first_log[0] = time.time()

    stalls: list[float] = []
    if follow:
        from PySide6.QtCore import QElapsedTimer, QTimer
        from PySide6.QtWidgets import QApplication

        from workbench.qt.train.run_monitor import RunMonitor

        app = QApplication.instance() or QApplication([])
        monitor = RunMonitor(run.run_dir, run)
        monitor.show()
        clock = QElapsedTimer()
        clock.start()
        last = [clock.elapsed()]

        def tick() -> None:
            now = clock.elapsed()
            stalls.append(now - last[0])
            last[0] = now

        probe = QTimer()
        probe.setInterval(16)
        probe.timeout.connect(tick)
        probe.start()
        while run.poll() is None:
            app.processEvents()
            note_first_log()
            time.sleep(0.005)
        probe.stop()
        monitor.poll()
        monitor.close()
    else:
        while run.poll() is None:
            note_first_log()
            time.sleep(0.05)
    figures = {"samples_per_s": _throughput(run.run_dir, spec.batch_size * processes),
               "start_to_first_step_s": first_log[0] - t0}
    if stalls:
        stalls.sort()
        figures["gui_interval_p99_ms"] = stalls[int(0.99 * (len(stalls) - 1))]
        figures["gui_interval_max_ms"] = stalls[-1]
    return figures


def _read(run_dir: Path) -> str:
    try:
        return (run_dir / "metrics.jsonl").read_text()
    except OSError:
        return ""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--followed-only", action="store_true",
                        help="only the GUI-followed 2-process run (its event-loop stalls)")
    args = parser.parse_args()
    from workbench.core.training.spec import demo_spec

    root = Path(tempfile.mkdtemp(prefix="bench-launch-"))
    results = {}
    runs = (("1 process", 1, False), ("2 processes, terminal", 2, False),
            ("2 processes, GUI following", 2, True))
    for name, processes, follow in runs[2:] if args.followed_only else runs:
        spec = demo_spec(root / name.replace(" ", "_").replace(",", "")).replace(
            max_steps=args.steps, logging_steps=1, save_steps=10_000, batch_size=8)
        results[name] = _run(spec, processes, follow)
    if not args.followed_only:
        results["followed / terminal throughput"] = (
            results["2 processes, GUI following"]["samples_per_s"]
            / results["2 processes, terminal"]["samples_per_s"])
    if args.json:
        print(json.dumps(results, indent=1))
        return
    for name, figures in results.items():
        if isinstance(figures, float):
            print(f"{name}: {figures:.3f}")
            continue
        print(name + ": " + ", ".join(f"{k} {v:.3g}" for k, v in figures.items()))


if __name__ == "__main__":
    main()
