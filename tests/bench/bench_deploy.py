"""Benchmark: ONNX Runtime vs eager torch, checkpoint diff time/RSS, evaluation throughput.

    python tests/bench/bench_deploy.py [--skip-big] [--huge] [--repeats 5]
                                       [--only onnx|diff|evaluate]

1. MiniLM (real all-MiniLM-L6-v2) exported with `export_model(fmt="onnx")` in fp32 and fp16
   (dynamo, and fp16 with TorchScript): export + verification time; then latency of onnxruntime
   fp32 and fp16 vs eager torch (inference_mode) at batch 1 and 32, sequence 128: median of
   --repeats runs after one warm-up. A tiny T5's encoder + decoder export + verification time
   (auto: dynamo fails on T5, then TorchScript; TorchScript; fp16).
2. `workbench diff A B --json` in a child process: MiniLM against a perturbed copy; two
   1.24B-parameter (Llama-3.2-1B shaped, F16) files of real random data (2.5 GB each on disk,
   under $TMPDIR); with --huge, two 6.7B (Llama-2-7B shaped) sparse files (holes read as
   zeros). Wall time, the kernel's peak RSS (wait4), and the peaks of RssAnon (what the diff
   allocates) and RssFile (mmap'd safetensors pages, clean, which the kernel can drop) sampled
   every 10 ms from /proc/PID/status.
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


def _status_kb(pid: int) -> dict[str, int]:
    """RssAnon, RssFile, VmHWM... (kB) of a live process, from /proc/PID/status."""
    out = {}
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            key, _, value = line.partition(":")
            if key in ("RssAnon", "RssFile", "RssShmem", "VmRSS", "VmHWM"):
                out[key] = int(value.split()[0])
    except (FileNotFoundError, ProcessLookupError):
        pass
    return out


def _diff_cli(a: Path, b: Path, out_json: Path) -> dict:
    """`workbench diff A B --json` as a child: wall time, the kernel's peak RSS (wait4), and
    the peaks of anonymous vs file-backed RSS sampled every 10 ms from /proc/PID/status.

    Anonymous memory is what the diff allocates (chunks, sums); file-backed pages are the
    safetensors mmap, clean pages the kernel can drop under pressure."""
    import threading

    started = time.perf_counter()
    with out_json.open("w") as sink:
        proc = subprocess.Popen([sys.executable, "-m", "workbench", "diff", str(a), str(b),
                                 "--json"], stdout=sink, stderr=subprocess.PIPE, cwd=ROOT,
                                env=dict(os.environ, PYTHONPATH=str(ROOT)))
        peaks = {"RssAnon": 0, "RssFile": 0, "VmRSS": 0}
        done = threading.Event()

        def sample() -> None:
            while not done.is_set():
                now = _status_kb(proc.pid)
                for k in peaks:
                    peaks[k] = max(peaks[k], now.get(k, 0))
                time.sleep(0.01)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - started
        done.set()
        sampler.join()
    if status != 0:
        raise RuntimeError(f"workbench diff failed: {proc.stderr.read().decode()[-2000:]}")
    data = json.loads(out_json.read_text())
    return {"seconds": seconds, "tensors": len(data["tensors"]), "summary": data["summary"],
            "peak_rss_mb": usage.ru_maxrss / 1024, "peak_rss_anon_mb": peaks["RssAnon"] / 1024,
            "peak_rss_file_mb": peaks["RssFile"] / 1024}


def _llama_shapes(vocab: int, hidden: int, kv: int, inter: int, layers: int,
                  tied: bool) -> dict[str, tuple[int, ...]]:
    shapes: dict[str, tuple[int, ...]] = {"model.embed_tokens.weight": (vocab, hidden)}
    for i in range(layers):
        for name, shape in (("self_attn.q_proj", (hidden, hidden)),
                            ("self_attn.k_proj", (kv, hidden)),
                            ("self_attn.v_proj", (kv, hidden)),
                            ("self_attn.o_proj", (hidden, hidden)),
                            ("mlp.gate_proj", (inter, hidden)), ("mlp.up_proj", (inter, hidden)),
                            ("mlp.down_proj", (hidden, inter))):
            shapes[f"model.layers.{i}.{name}.weight"] = shape
        shapes[f"model.layers.{i}.input_layernorm.weight"] = (hidden,)
        shapes[f"model.layers.{i}.post_attention_layernorm.weight"] = (hidden,)
    shapes["model.norm.weight"] = (hidden,)
    if not tied:
        shapes["lm_head.weight"] = (vocab, hidden)
    return shapes


# Llama-3.2-1B (1.24B parameters, tied embeddings) and Llama-2-7B (6.74B) shapes.
LLAMA_1B = _llama_shapes(128256, 2048, 512, 8192, 16, tied=True)
LLAMA_7B = _llama_shapes(32000, 4096, 4096, 11008, 32, tied=False)


# Tensors given random values (name: seed) in the sparse files, so the diff has real work and
# three outcomes: layer 0's q_proj equal in A and B, layer 7's down_proj changed, the rest zeros.
FILLED_A = {"model.layers.0.self_attn.q_proj.weight": 1, "model.layers.7.mlp.down_proj.weight": 2}
FILLED_B = {"model.layers.0.self_attn.q_proj.weight": 1, "model.layers.7.mlp.down_proj.weight": 3}


def _sparse_checkpoint(folder: Path, filled: dict[str, int] | None = None,
                       shapes: dict[str, tuple[int, ...]] = LLAMA_1B,
                       random_seed: int | None = None) -> int:
    """A Llama-shaped F16 safetensors file whose data is a hole (reads as zeros), except
    the tensors in `filled`, which get standard-normal values from their seed; with
    `random_seed`, every tensor not in `filled` gets real random values too (disk is used)."""
    header, offset = {}, 0
    for name, shape in shapes.items():
        size = int(np.prod(shape)) * 2
        header[name] = {"dtype": "F16", "shape": list(shape), "data_offsets": [offset,
                                                                               offset + size]}
        offset += size
    raw = json.dumps(header).encode()
    raw += b" " * (-len(raw) % 8)
    folder.mkdir(parents=True)
    with (folder / "model.safetensors").open("wb") as f:
        f.write(struct.pack("<Q", len(raw)) + raw)
        f.truncate(8 + len(raw) + offset)
        for name in shapes:
            seed = (filled or {}).get(name)
            if seed is None and random_seed is None:
                continue
            rng = np.random.default_rng(seed if seed is not None else
                                        (random_seed, len(name), sum(map(ord, name))))
            f.seek(8 + len(raw) + header[name]["data_offsets"][0])
            rows = header[name]["shape"][0]
            row = int(np.prod(header[name]["shape"][1:]))
            step = max(1, 16_000_000 // max(row, 1))
            for start in range(0, rows, step):  # bounded memory while writing, too
                n = min(step, rows - start) * row
                f.write(rng.standard_normal(n, dtype=np.float32).astype(np.float16).tobytes())
    (folder / "config.json").write_text(json.dumps({"model_type": "llama"}))
    return offset // 2


def bench_diff(tmp: Path, big: bool, huge: bool = False) -> dict:
    """MiniLM vs a perturbed copy; with `big`, two 1.24B checkpoints of real random F16 data
    (2.5 GB each, differing in two tensors); with `huge`, two 6.7B (Llama-2-7B shaped)
    sparse files. Each diff is the CLI in a child process, so the RSS figures are its own."""
    import torch
    import transformers

    from workbench.core.model.loading import demo_checkpoint_path

    minilm = demo_checkpoint_path()
    model = transformers.AutoModel.from_pretrained(minilm)
    with torch.no_grad():
        for p in model.encoder.layer[3].parameters():
            p.add_(0.01 * torch.randn_like(p))
    model.save_pretrained(tmp / "minilm-b")
    out = {"minilm": _diff_cli(minilm, tmp / "minilm-b", tmp / "minilm.json")}
    if big:
        params = _sparse_checkpoint(tmp / "dense-a", FILLED_A, LLAMA_1B, random_seed=0)
        _sparse_checkpoint(tmp / "dense-b", FILLED_B, LLAMA_1B, random_seed=0)
        out["random_1b"] = {"parameters": params,
                            **_diff_cli(tmp / "dense-a", tmp / "dense-b", tmp / "1b.json")}
        for side in ("a", "b"):
            (tmp / f"dense-{side}" / "model.safetensors").unlink()
    if huge:
        params = _sparse_checkpoint(tmp / "big-a", FILLED_A, LLAMA_7B)
        _sparse_checkpoint(tmp / "big-b", FILLED_B, LLAMA_7B)
        out["sparse_7b"] = {"parameters": params,
                            **_diff_cli(tmp / "big-a", tmp / "big-b", tmp / "7b.json")}
    return out


def bench_evaluate(tmp: Path, repeats: int = 3) -> dict:
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

    pipe_call: list[float] = []

    def pipeline_loop():
        """A plain script: build the pipeline (loads the model), run it over the texts."""
        pipe = transformers.pipeline("text-classification", model=str(folder), device="cpu")
        t = time.perf_counter()
        out = pipe(texts, batch_size=batch, truncation=True, max_length=128)
        pipe_call.append(time.perf_counter() - t)
        return out

    contenders = {
        "workbench": lambda: evaluate(folder, data, batch_size=batch, max_length=128),
        "trainer": lambda: evaluate_model(spec, folder),
        "pipeline": pipeline_loop}
    forward: list[float] = []
    results: dict[str, object] = {}
    times: dict[str, list[float]] = {k: [] for k in contenders}
    for rep in range(repeats + 1):  # alternating, so a busy moment hits every contender
        for key, fn in contenders.items():
            t = time.perf_counter()
            results[key] = fn()
            if rep:  # the first round warms caches (datasets' Arrow cache, first imports)
                times[key].append(time.perf_counter() - t)
                if key == "workbench":
                    forward.append(results[key].seconds)
    ours_s, trainer_s, pipe_s = (_median(times[k]) for k in ("workbench", "trainer", "pipeline"))
    ours, trainer = results["workbench"], results["trainer"]
    return {"rows": n, "batch_size": batch, "repeats": repeats,
            "workbench_examples_per_s": n / ours_s, "trainer_examples_per_s": n / trainer_s,
            "pipeline_examples_per_s": n / pipe_s,
            "ratio_vs_trainer": trainer_s / ours_s, "ratio_vs_pipeline": pipe_s / ours_s,
            "accuracy_agrees_with_trainer": abs(ours.metrics["accuracy"]
                                                - trainer["eval_accuracy"]) < 1e-9,
            "workbench_batches_seconds": _median(forward),
            "pipeline_call_seconds": _median(pipe_call[1:]),
            "ratio_batches_vs_pipeline_call": _median(pipe_call[1:]) / _median(forward),
            "all_seconds": times,
            "note": "median of alternating repeats after a warm-up round; each contender "
                    "loads the model and tokenizes inside its timing. batches: workbench's "
                    "forward loop alone (tokenized before), pipeline call: the pipeline over "
                    "the texts once built (it tokenizes inside)"}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--skip-big", action="store_true", help="skip the 1.24B random diff")
    parser.add_argument("--huge", action="store_true", help="also diff two 6.7B sparse files")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--only", choices=("onnx", "diff", "evaluate"), help="one part only")
    args = parser.parse_args()
    parts = {"onnx_vs_torch": lambda tmp: bench_onnx(tmp, args.repeats),
             "diff": lambda tmp: bench_diff(tmp, not args.skip_big, args.huge),
             "evaluate": lambda tmp: bench_evaluate(tmp, args.repeats)}
    with tempfile.TemporaryDirectory() as name:
        results = {key: run(Path(name)) for key, run in parts.items()
                   if args.only is None or key.startswith(args.only)}
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
