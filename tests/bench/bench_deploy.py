"""Benchmark: ONNX Runtime vs eager torch, checkpoint diff time/RSS, evaluation throughput.

    python tests/bench/bench_deploy.py [--skip-big] [--repeats 5] [--only onnx|diff|evaluate]

1. MiniLM (real all-MiniLM-L6-v2) exported with `export_model(fmt="onnx")` in fp32 and fp16
   (dynamo, and fp16 with TorchScript): export + verification time; then latency of onnxruntime
   fp32 and fp16 vs eager torch (inference_mode) at batch 1 and 32, sequence 128: median of
   --repeats runs after one warm-up. A tiny T5's encoder + decoder export + verification time
   (auto: dynamo fails on T5, then TorchScript; TorchScript; fp16).
2. `diff_checkpoints` of MiniLM against a perturbed copy, and of two 1.3B-parameter (Llama-1B
   shaped, F16) sparse safetensors files (holes read as zeros, so no disk is used): wall time and
   peak RSS of a child process doing only the diff (RSS after imports is reported too).
3. Evaluation throughput: `core.evaluate.runner.evaluate` vs Trainer.evaluate
   (`core.training.evaluate.evaluate_model`) and vs a `pipeline("text-classification")` loop, on
   the demo data (300 rows) with MiniLM + a fresh 4-label head; examples/s and the ratios.
No asserts: this prints figures. The CPU is shared with other processes: expect noise.
"""

from __future__ import annotations

import argparse
import json
import os
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

_DIFF_CHILD = """
import json, resource, sys, time
from workbench.core.diff.weights import diff_checkpoints
import torch  # imported before the baseline so the figure is the diff's own memory
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
t = time.perf_counter()
d = diff_checkpoints(sys.argv[1], sys.argv[2])
print(json.dumps({"seconds": time.perf_counter() - t, "tensors": len(d.tensors),
                  "summary": d.summary(),
                  "rss_after_imports_mb": base / 1024,
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def _median(values: list[float]) -> float:
    values = sorted(values)
    return values[len(values) // 2]


def _timed_export(source, out: Path, **kwargs) -> tuple[dict, float]:
    from workbench.core.export.exporter import export_model

    t = time.perf_counter()
    report = export_model(source, out, fmt="onnx", **kwargs)
    return report, time.perf_counter() - t


def bench_onnx(tmp: Path, repeats: int) -> dict:
    import numpy as np
    import onnxruntime as ort
    import torch
    import transformers

    from workbench.core.model.loading import demo_checkpoint_path

    minilm = demo_checkpoint_path()
    out = {}
    folders = {}
    for name, kwargs in (("fp32", {}), ("fp16", {"dtype": "fp16"}),
                         ("fp16_torchscript", {"dtype": "fp16", "onnx_exporter": "torchscript"})):
        folders[name] = tmp / f"minilm-onnx-{name}"
        report, seconds = _timed_export(minilm, folders[name], **kwargs)
        out[f"export_{name}"] = {"seconds": seconds, "passed": report["passed"],
                                 "exporter": report["exporter"],
                                 "max_abs_diff": max(c["max_abs_diff"] for c in report["checks"])}
    sessions = {name: ort.InferenceSession(str(folders[name] / "model.onnx"),
                                           providers=["CPUExecutionProvider"])
                for name in ("fp32", "fp16")}
    model = transformers.AutoModel.from_pretrained(minilm).eval()
    for batch in (1, 32):
        ids = np.random.default_rng(0).integers(1000, 20000, (batch, 128)).astype(np.int64)
        feed = {"input_ids": ids, "attention_mask": np.ones_like(ids),
                "token_type_ids": np.zeros_like(ids)}
        feed = {i.name: feed[i.name] for i in sessions["fp32"].get_inputs()}
        tensors = {k: torch.from_numpy(v) for k, v in feed.items()}
        times = {"onnxruntime": [], "onnxruntime_fp16": [], "torch": []}
        for i in range(repeats + 1):
            measured = {}
            for key, session in (("onnxruntime", sessions["fp32"]),
                                 ("onnxruntime_fp16", sessions["fp16"])):
                t = time.perf_counter()
                session.run(None, feed)
                measured[key] = time.perf_counter() - t
            with torch.inference_mode():
                t = time.perf_counter()
                model(**tensors)
                measured["torch"] = time.perf_counter() - t
            if i:  # the first run of each is a warm-up
                for key, value in measured.items():
                    times[key].append(value)
        ms = {k: _median(v) * 1e3 for k, v in times.items()}
        out[f"batch{batch}"] = {"onnxruntime_ms": ms["onnxruntime"],
                                "onnxruntime_fp16_ms": ms["onnxruntime_fp16"],
                                "torch_ms": ms["torch"],
                                "torch_over_onnxruntime": ms["torch"] / ms["onnxruntime"]}
    out["t5_tiny"] = _bench_t5(tmp)
    return out


def _bench_t5(tmp: Path) -> dict:
    """Export + verify of a tiny T5 (conftest shapes, MiniLM tokenizer): auto (dynamo fails,
    then TorchScript), TorchScript directly, and fp16."""
    from tests.fixtures.training import tiny_model

    t5 = tiny_model("t5")
    out = {}
    for name, kwargs in (("auto", {}), ("torchscript", {"onnx_exporter": "torchscript"}),
                         ("fp16", {"dtype": "fp16", "onnx_exporter": "torchscript"})):
        report, seconds = _timed_export(t5, tmp / f"t5-{name}", **kwargs)
        out[name] = {"seconds": seconds, "passed": report["passed"],
                     "exporter": report["exporter"],
                     "same_tokens": report["generation"]["same_tokens"]}
    return out


def _diff_child(a: Path, b: Path) -> dict:
    result = subprocess.run([sys.executable, "-c", _DIFF_CHILD, str(a), str(b)], check=True,
                            capture_output=True, text=True, cwd=ROOT,
                            env=dict(os.environ, PYTHONPATH=str(ROOT)))
    return json.loads(result.stdout.strip().splitlines()[-1])


# Tensors given random values (name: seed) in the sparse files, so the diff has real work and
# three outcomes: layer 0's q_proj equal in A and B, layer 7's down_proj changed, the rest zeros.
FILLED_A = {"model.layers.0.self_attn.q_proj.weight": 1, "model.layers.7.mlp.down_proj.weight": 2}
FILLED_B = {"model.layers.0.self_attn.q_proj.weight": 1, "model.layers.7.mlp.down_proj.weight": 3}


def _sparse_checkpoint(folder: Path, filled: dict[str, int] | None = None) -> int:
    """A Llama-1B-shaped F16 safetensors file whose data is a hole (reads as zeros), except
    the tensors in `filled`, which get standard-normal values from their seed."""
    shapes = {"model.embed_tokens.weight": (128256, 2048)}
    for i in range(16):
        for name, shape in (("self_attn.q_proj", (2048, 2048)), ("self_attn.k_proj", (512, 2048)),
                            ("self_attn.v_proj", (512, 2048)), ("self_attn.o_proj", (2048, 2048)),
                            ("mlp.gate_proj", (8192, 2048)), ("mlp.up_proj", (8192, 2048)),
                            ("mlp.down_proj", (2048, 8192))):
            shapes[f"model.layers.{i}.{name}.weight"] = shape
    header, offset = {}, 0
    for name, shape in shapes.items():
        size = shape[0] * shape[1] * 2
        header[name] = {"dtype": "F16", "shape": list(shape), "data_offsets": [offset,
                                                                               offset + size]}
        offset += size
    raw = json.dumps(header).encode()
    raw += b" " * (-len(raw) % 8)
    folder.mkdir(parents=True)
    with (folder / "model.safetensors").open("wb") as f:
        f.write(struct.pack("<Q", len(raw)) + raw)
        f.truncate(8 + len(raw) + offset)
        for name, seed in (filled or {}).items():
            start = 8 + len(raw) + header[name]["data_offsets"][0]
            values = np.random.default_rng(seed).standard_normal(header[name]["shape"])
            f.seek(start)
            f.write(values.astype(np.float16).tobytes())
    (folder / "config.json").write_text(json.dumps({"model_type": "llama"}))
    return offset // 2


def bench_diff(tmp: Path, big: bool) -> dict:
    import torch
    import transformers

    from workbench.core.model.loading import demo_checkpoint_path

    minilm = demo_checkpoint_path()
    model = transformers.AutoModel.from_pretrained(minilm)
    with torch.no_grad():
        for p in model.encoder.layer[3].parameters():
            p.add_(0.01 * torch.randn_like(p))
    model.save_pretrained(tmp / "minilm-b")
    out = {"minilm": _diff_child(minilm, tmp / "minilm-b")}
    if big:
        params = _sparse_checkpoint(tmp / "big-a", FILLED_A)
        _sparse_checkpoint(tmp / "big-b", FILLED_B)
        out["sparse_1b"] = {"parameters": params, **_diff_child(tmp / "big-a", tmp / "big-b")}
    return out


def bench_evaluate(tmp: Path) -> dict:
    import csv

    import torch
    import transformers

    from workbench.core.evaluate.runner import evaluate
    from workbench.core.model.loading import demo_checkpoint_path
    from workbench.core.training.evaluate import evaluate_model
    from workbench.core.training.spec import TrainSpec

    data = tmp / "demo.csv"
    rows = []
    for name in ("train.csv", "eval.csv"):
        with (ROOT / "resources" / "demo_data" / name).open() as f:
            rows += list(csv.DictReader(f))
    with data.open("w", newline="") as f:
        writer = csv.DictWriter(f, ["text", "label"])
        writer.writeheader()
        writer.writerows(rows)
    labels = sorted({r["label"] for r in rows})
    torch.manual_seed(0)
    model = transformers.AutoModelForSequenceClassification.from_pretrained(
        demo_checkpoint_path(), num_labels=len(labels),
        id2label=dict(enumerate(labels)), label2id={n: i for i, n in enumerate(labels)})
    folder = tmp / "minilm-cls"
    model.save_pretrained(folder)
    tokenizer = transformers.AutoTokenizer.from_pretrained(demo_checkpoint_path())
    tokenizer.save_pretrained(folder)
    n, batch = len(rows), 32

    spec = TrainSpec(model_path=str(folder), task="sequence-classification",
                     train_file=str(data), eval_file=str(data), batch_size=batch // 2,
                     max_length=128)  # evaluate_model uses 2 x batch_size for eval
    texts = [r["text"] for r in rows]

    def warm(fn):
        """(result, seconds) of the second of two calls: caches (datasets' Arrow cache of
        the CSV, first imports) are warm for every contender."""
        fn()
        t = time.perf_counter()
        result = fn()
        return result, time.perf_counter() - t

    ours, ours_s = warm(lambda: evaluate(folder, data, batch_size=batch, max_length=128))
    trainer, trainer_s = warm(lambda: evaluate_model(spec, folder))
    pipe = transformers.pipeline("text-classification", model=str(folder), device="cpu")
    _, pipe_s = warm(lambda: pipe(texts, batch_size=batch, truncation=True, max_length=128))
    return {"rows": n, "batch_size": batch,
            "workbench_examples_per_s": n / ours_s, "trainer_examples_per_s": n / trainer_s,
            "pipeline_examples_per_s": n / pipe_s,
            "ratio_vs_trainer": trainer_s / ours_s, "ratio_vs_pipeline": pipe_s / ours_s,
            "accuracy_agrees_with_trainer": abs(ours.metrics["accuracy"]
                                                - trainer["eval_accuracy"]) < 1e-9,
            "workbench_forward_seconds": ours.seconds,
            "note": "warm second call; workbench and Trainer include model load and "
                    "tokenization, the pipeline was loaded once outside the timing"}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--skip-big", action="store_true", help="skip the 1.3B sparse diff")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--only", choices=("onnx", "diff", "evaluate"), help="one part only")
    args = parser.parse_args()
    parts = {"onnx_vs_torch": lambda tmp: bench_onnx(tmp, args.repeats),
             "diff": lambda tmp: bench_diff(tmp, not args.skip_big),
             "evaluate": bench_evaluate}
    with tempfile.TemporaryDirectory() as name:
        results = {key: run(Path(name)) for key, run in parts.items()
                   if args.only is None or key.startswith(args.only)}
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
