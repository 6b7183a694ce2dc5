"""Benchmark: the `workbench graph` report (fold + shape-only trace) of a Llama-3-70B-shaped
checkpoint against the real MiniLM, core only, after imports and one warm-up.

    python tests/bench/bench_graph_trace.py [--repeat 3]

Prints median wall and CPU times of graph_report (and inspect + graph) for each model and their
ratio, with the load average (the machine is shared: CPU time is the steadier figure). No asserts.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.bench.fake_70b import make_fake_llama70b


def _time(folder: Path, repeat: int) -> tuple[float, float, float, str | None]:
    """Median (inspect + graph wall, graph wall, graph CPU) seconds, and the trace's error."""
    from workbench.core.checkpoint.inspection import inspect_checkpoint
    from workbench.core.graph.dataflow import graph_report

    info = inspect_checkpoint(folder)
    graph_report(info.module_tree, info.config)  # warm-up: first-call costs of torch
    runs, graphs, cpus = [], [], []
    for _ in range(repeat):
        t = time.perf_counter()
        info = inspect_checkpoint(folder)
        t_graph, cpu = time.perf_counter(), time.process_time()
        report = graph_report(info.module_tree, info.config)
        cpus.append(time.process_time() - cpu)
        end = time.perf_counter()
        runs.append(end - t)
        graphs.append(end - t_graph)
    return (statistics.median(runs), statistics.median(graphs), statistics.median(cpus),
            report.trace.error)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    import torch  # noqa: F401  (imports are not what is measured)
    import transformers  # noqa: F401

    from workbench.core.model.loading import demo_checkpoint_path

    with tempfile.TemporaryDirectory() as tmp:
        big = make_fake_llama70b(Path(tmp) / "llama-3-70b")
        big_t = _time(big, args.repeat)
        small_t = _time(demo_checkpoint_path(), args.repeat)
    for name, (total, graph, cpu, err) in (("70B (80 layers)", big_t),
                                           ("MiniLM (6 layers)", small_t)):
        print(f"{name:18} inspect + graph {total * 1000:7.1f} ms; graph_report "
              f"{graph * 1000:7.1f} ms wall, {cpu * 1000:7.1f} ms CPU; error={err}")
    print(f"graph_report 70B / MiniLM: {big_t[1] / small_t[1]:.2f}x wall, "
          f"{big_t[2] / small_t[2]:.2f}x CPU (load average {os.getloadavg()[0]:.1f} on "
          f"{os.cpu_count()} cores)")


if __name__ == "__main__":
    main()
