"""The real MiniLM fine-tuned a few steps with the real Trainer, evaluated, then exported to HF,
ONNX (dynamo) and fp16 ONNX (TorchScript), each reloaded as a user would and compared."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from tests.fixtures.training import Recorder
from workbench.core.export.exporter import export_model
from workbench.core.training.runner import run_training
from workbench.core.training.spec import demo_data_dir, demo_spec


@pytest.fixture(scope="module")
def minilm_run(minilm_path, tmp_path_factory):
    """The demo classification run on MiniLM, 4 steps at length 32, evaluated on eval.csv."""
    from workbench.core.evaluate.report import save_report
    from workbench.core.evaluate.runner import evaluate

    root = tmp_path_factory.mktemp("minilm-run")
    spec = demo_spec(root / "run").replace(model_path=str(minilm_path), max_steps=4,
                                           batch_size=8, max_length=32, logging_steps=1,
                                           learning_rate=5e-4)
    rec = Recorder()
    result = run_training(spec, rec)
    assert result.status == "finished", result.message
    assert len(rec.losses()) == 4  # the real Trainer ran 4 optimiser steps
    report = evaluate(result.run_dir, demo_data_dir() / "eval.csv", max_length=32)
    save_report(report, result.run_dir)
    return Path(result.run_dir), report


@pytest.fixture(scope="module")
def exports(minilm_run, tmp_path_factory):
    """{"hf", "onnx", "onnx-fp16"}: (report, folder) of the fine-tuned run's exports."""
    run_dir, _ = minilm_run
    root = tmp_path_factory.mktemp("minilm-exports")
    out = {}
    for name, kwargs in (("hf", {}), ("onnx", {"fmt": "onnx"}),
                         ("onnx-fp16", {"fmt": "onnx", "dtype": "fp16",
                                        "onnx_exporter": "torchscript"})):
        out[name] = (export_model(run_dir, root / name, **kwargs), root / name)
    return out


def _run_model(run_dir):
    import transformers

    return transformers.AutoModelForSequenceClassification.from_pretrained(
        run_dir / "final").eval()


def _feed(session, batch: int, length: int, seed: int) -> dict[str, np.ndarray]:
    ids = np.random.default_rng(seed).integers(1000, 20000, (batch, length)).astype(np.int64)
    mask = np.ones_like(ids)
    mask[-1, length - 2:] = 0  # padding in the last row
    feed = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
    return {i.name: feed[i.name] for i in session.get_inputs()}


def test_fine_tuned_minilm_is_evaluated_and_exported_to_hf(minilm_run, exports):
    run_dir, evaluation = minilm_run
    report, folder = exports["hf"]
    assert report["passed"] and report["task"] == "sequence-classification"
    assert [c["shape"] for c in report["checks"]] == [[3, 4], [1, 4]]  # 4 topics
    assert all(c["top1_agreement"] == 1.0 and c["max_abs_diff"] < 1e-4
               for c in report["checks"])
    card = (folder / "README.md").read_text()
    accuracy = evaluation.metrics["accuracy"]
    assert evaluation.num_examples == 60 and f"| accuracy | {accuracy:.4g} |" in card
    assert "eval.csv" in card and "| max_steps | 4 |" in card
    import transformers

    tok = transformers.AutoTokenizer.from_pretrained(folder)
    texts = [line.split(",")[0] for line in
             (demo_data_dir() / "eval.csv").read_text().splitlines()[1:9]]
    batch = tok(texts, padding=True, return_tensors="pt")
    exported = transformers.AutoModelForSequenceClassification.from_pretrained(folder).eval()
    with torch.no_grad():
        assert torch.equal(exported(**batch).logits, _run_model(run_dir)(**batch).logits)
    assert exported.config.id2label == _run_model(run_dir).config.id2label


def test_onnx_export_of_the_run_uses_dynamo_with_dynamic_axes(minilm_run, exports):
    import onnxruntime as ort

    run_dir, _ = minilm_run
    report, folder = exports["onnx"]
    assert report["passed"]
    saved = json.loads((folder / "export_report.json").read_text())
    assert saved["passed"] and saved["exporter"] == "dynamo" and saved["exporter_note"] is None
    layout = saved["onnx_layout"]["files"]["model.onnx"]
    assert layout["outputs"]["logits"]["shape"] == ["batch", 4]
    assert all(v["shape"] == ["batch", "sequence"] for v in layout["inputs"].values())
    session = ort.InferenceSession(str(folder / "model.onnx"))
    model = _run_model(run_dir)
    for batch, length in ((1, 5), (5, 17), (32, 128)):  # none is a probe's shape
        feed = _feed(session, batch, length, seed=batch)
        got = session.run(None, feed)[0]
        with torch.no_grad():
            want = model(**{k: torch.from_numpy(v) for k, v in feed.items()}).logits.numpy()
        assert got.shape == (batch, 4)
        assert np.abs(got - want).max() < 1e-4 and (got.argmax(-1) == want.argmax(-1)).all()


def test_fp16_onnx_with_the_torchscript_exporter(minilm_run, exports):
    import onnxruntime as ort

    run_dir, _ = minilm_run
    report, folder = exports["onnx-fp16"]
    assert report["passed"], report["checks"]
    assert report["exporter"] == "torchscript" and report["exporter_note"] is None
    assert report["dtype"] == "fp16" and "(fp16)" in (folder / "README.md").read_text()
    session = ort.InferenceSession(str(folder / "model.onnx"))
    assert session.get_outputs()[0].type == "tensor(float16)"
    fp32 = ort.InferenceSession(str(exports["onnx"][1] / "model.onnx"))
    model = _run_model(run_dir)
    feed = _feed(session, 16, 48, seed=7)
    half = session.run(None, feed)[0]
    assert half.dtype == np.float16
    with torch.no_grad():
        want = model(**{k: torch.from_numpy(v) for k, v in feed.items()}).logits.numpy()
    # fp16 rounds at ~5e-4 per op: the same bound as the export's own check (verify.TOLERANCES)
    assert np.abs(half.astype(np.float32) - want).max() <= 2e-2 * max(1.0, np.abs(want).max())
    assert (half.argmax(-1) == want.argmax(-1)).all()
    def size(f):  # model.onnx plus its external data file (model.onnx.data), if any
        return sum(p.stat().st_size for p in f.glob("model.onnx*"))

    assert size(folder) < 0.6 * size(exports["onnx"][1])  # the weights are stored in fp16
    assert fp32.get_outputs()[0].type == "tensor(float)"
