"""Benchmark: time from an edit of a Llama-3-70B-sized config to an updated estimate.

    python tests/bench/bench_config_estimate.py [--edits 15]

Prints (1) the core `analyze` call (validate + transformers config + meta-device build + count)
cold and warm, and (2) the GUI path: a form edit in ConfigEditorPanel until `analysisUpdated`
arrives on the GUI thread (worker thread start included). Target: <= 300 ms per edit.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

LLAMA3_70B = {
    "model_type": "llama", "architectures": ["LlamaForCausalLM"], "vocab_size": 128256,
    "hidden_size": 8192, "intermediate_size": 28672, "num_hidden_layers": 80,
    "num_attention_heads": 64, "num_key_value_heads": 8, "max_position_embeddings": 8192,
    "rms_norm_eps": 1e-5, "rope_theta": 500000.0, "bos_token_id": 128000,
    "eos_token_id": 128001, "tie_word_embeddings": False,
}


def summary(label: str, ms: list[float]) -> str:
    return (f"{label}: median {statistics.median(ms):.1f} ms, min {min(ms):.1f}, "
            f"max {max(ms):.1f} (n={len(ms)})")


def bench_core(edits: int) -> None:
    from workbench.core.config.schema import schema_for
    from workbench.core.model.builder import analyze

    schema = schema_for(LLAMA3_70B)
    t = time.perf_counter()
    first = analyze(LLAMA3_70B, schema, original=LLAMA3_70B)
    print(f"core cold analyze (imports torch/transformers): "
          f"{(time.perf_counter() - t) * 1000:.0f} ms, {first.estimate.num_parameters:,} params")
    times = []
    for i in range(edits):
        values = {**LLAMA3_70B, "num_hidden_layers": 79 - i}  # a new value every time
        t = time.perf_counter()
        a = analyze(values, schema, original=LLAMA3_70B)
        times.append((time.perf_counter() - t) * 1000)
        assert a.estimate is not None
    print(summary("core warm analyze per edit", times))
    # The spikes are full (gen-2) garbage collections walking torch/transformers' objects;
    # gc.freeze() after the imports moves those out of the collector's way.
    import gc

    gc.collect()
    gc.freeze()
    times = []
    for i in range(edits):
        values = {**LLAMA3_70B, "num_hidden_layers": 59 - i}
        t = time.perf_counter()
        analyze(values, schema, original=LLAMA3_70B)
        times.append((time.perf_counter() - t) * 1000)
    gc.unfreeze()
    print(summary("core warm analyze per edit, after gc.freeze()", times))


def bench_gui(edits: int) -> None:
    from PySide6.QtCore import QEventLoop, QTimer
    from PySide6.QtWidgets import QApplication

    from workbench.qt.common.tasks import TaskRunner
    from workbench.qt.config.editor_panel import ConfigEditorPanel

    QApplication.instance() or QApplication(sys.argv)
    runner = TaskRunner()
    panel = ConfigEditorPanel(LLAMA3_70B, runner)
    panel.resize(1300, 900)
    panel.show()

    def wait_ready(timeout_ms: int = 60_000) -> None:
        # Block in Qt's event loop (GIL released), as the real app does between events.
        while not panel.ready:
            loop = QEventLoop()
            panel.analysisUpdated.connect(loop.quit)
            QTimer.singleShot(timeout_ms, loop.quit)
            loop.exec()
            panel.analysisUpdated.disconnect(loop.quit)

    wait_ready()
    latencies = []
    for i in range(edits):
        editor = panel.form.rows["num_hidden_layers"].editor
        editor.setValue(79 - i)  # a real widget edit, a new value every time
        wait_ready()
        latencies.append(panel.last_latency_ms)
    print(summary("GUI edit -> estimate shown", latencies))
    print(f"  last estimate: {panel.estimate.num_parameters:,} params")
    panel.shutdown()
    runner.shutdown()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--edits", type=int, default=15)
    args = parser.parse_args()
    print(f"CPU cores: {os.cpu_count()}; note the machine may be shared (timings vary)")
    bench_core(args.edits)
    bench_gui(args.edits)


if __name__ == "__main__":
    main()
