"""Exports of real tiny models and the real MiniLM, each reloaded and compared with its source."""

from __future__ import annotations

import json
import threading

import pytest
import torch

from tests.fixtures.training import Recorder, data_file, tiny_model, tiny_spec
from workbench.core.errors import CancelledError, WorkbenchError
from workbench.core.export.exporter import export_model
from workbench.core.training.runner import run_training


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """A full and a LoRA sequence-classification run (3 steps each), the full one evaluated."""
    from workbench.core.evaluate.report import save_report
    from workbench.core.evaluate.runner import evaluate

    root = tmp_path_factory.mktemp("export-runs")
    out = {}
    for name, method in (("full", "full"), ("lora", "lora")):
        spec = tiny_spec("sequence-classification", root / name, method=method)
        assert run_training(spec, Recorder()).status == "finished"
        out[name] = root / name
    save_report(evaluate(out["full"], data_file("sequence-classification")), out["full"])
    return out


def _leftovers(folder):
    return [p.name for p in folder.iterdir() if ".partial-" in p.name]


def test_hf_export_is_sharded_verified_and_documented(runs, tmp_path):
    out = tmp_path / "export"
    report = export_model(runs["full"], out, max_shard_size="100KB")
    assert report["passed"] and report["out"] == str(out)
    names = {p.name for p in out.iterdir()}
    assert "model.safetensors.index.json" in names and "model.safetensors" not in names
    assert sum(n.startswith("model-") for n in names) > 1
    assert {"config.json", "tokenizer.json", "README.md", "export_report.json"} <= names
    from workbench.core.checkpoint.tokenizer_info import TOKENIZER_FILES

    assert {n for n in TOKENIZER_FILES if (runs["full"] / "final" / n).is_file()} <= names
    saved = json.loads((out / "export_report.json").read_text())
    assert saved["passed"] and [c["probe"] for c in saved["checks"]] == ["short", "max_length"]
    import csv

    with data_file("sequence-classification").open() as f:  # the probes come from the run's data
        assert saved["probe_texts"][0] == next(csv.DictReader(f))["text"]
    assert all(c["max_abs_diff"] < 1e-4 and c["top1_agreement"] == 1.0 for c in saved["checks"])
    card = (out / "README.md").read_text()
    assert f'base_model: "{tiny_model("bert")}"' in card
    assert "| learning_rate | 0.001 |" in card and "| accuracy |" in card
    # A user's reload: the same logits as the run's final model.
    import transformers

    tok = transformers.AutoTokenizer.from_pretrained(out)
    batch = tok(["a good day"], return_tensors="pt")
    a = transformers.AutoModelForSequenceClassification.from_pretrained(out)(**batch).logits
    b = transformers.AutoModelForSequenceClassification.from_pretrained(
        runs["full"] / "final")(**batch).logits
    assert torch.allclose(a, b)
    assert _leftovers(tmp_path) == []


def test_lora_export_merges_and_checks_the_merge(runs, tmp_path):
    with pytest.raises(WorkbenchError, match="--merge-lora"):
        export_model(runs["lora"], tmp_path / "unmerged")
    report = export_model(runs["lora"], tmp_path / "merged", merge=True, dtype="bf16")
    assert report["passed"], report["checks"]
    assert report["merged_lora"]["nonzero_updates"] > 0
    assert report["merged_lora"]["max_relative_error"] < 1e-3
    from workbench.core.diff.weights import diff_checkpoints

    names = {p.name for p in (tmp_path / "merged").iterdir()}
    assert "adapter_config.json" not in names and "model.safetensors" in names
    diff = diff_checkpoints(tiny_model("bert"), tmp_path / "merged")
    moved = {t.name for t in diff.tensors if t.status == "changed"
             and t.relative_change > 1e-2}  # more than bf16 rounding
    assert any("attention.self.query" in n for n in moved)


def test_untrained_adapter_is_refused(tmp_path):
    import peft
    import transformers

    base = transformers.AutoModelForSequenceClassification.from_pretrained(tiny_model("bert"))
    lora = peft.get_peft_model(base, peft.LoraConfig(r=2, target_modules=["query"],
                                                     task_type="SEQ_CLS"))
    lora.save_pretrained(tmp_path / "adapter")  # peft starts lora_B at zero
    with pytest.raises(WorkbenchError, match="never trained"):
        export_model(tmp_path / "adapter", tmp_path / "out", merge=True)
    assert not (tmp_path / "out").exists() and _leftovers(tmp_path) == []


def test_onnx_export_of_gpt2_checks_perplexity(tmp_path):
    report = export_model(tiny_model("gpt2"), tmp_path / "gpt2", fmt="onnx")
    assert report["passed"] and report["task"] == "causal-lm"
    ppl = report["perplexity"]
    assert ppl["passed"] and ppl["before"] == pytest.approx(ppl["after"], rel=1e-4)


def test_a_failed_check_marks_the_export_failed(tmp_path):
    import transformers

    model = transformers.AutoModelForCausalLM.from_pretrained(tiny_model("gpt2"))
    with torch.no_grad():
        model.lm_head.weight.mul_(1e5)  # logits beyond fp16's range: fp16 gives inf
    model.save_pretrained(tmp_path / "hot")
    for name in ("tokenizer.json", "tokenizer_config.json", "vocab.txt"):
        (tmp_path / "hot" / name).write_bytes((tiny_model("gpt2") / name).read_bytes())
    report = export_model(tmp_path / "hot", tmp_path / "half", dtype="fp16")
    assert not report["passed"] and report["status"] == "failed"
    assert not (tmp_path / "half").exists()
    saved = json.loads((tmp_path / "half.failed" / "export_report.json").read_text())
    assert saved["status"] == "failed" and not all(c["passed"] for c in saved["checks"])
    onnx = export_model(tmp_path / "hot", tmp_path / "half-onnx", fmt="onnx", dtype="fp16",
                        onnx_exporter="torchscript")  # the same overflow in onnxruntime
    assert not onnx["passed"] and onnx["out"] == str(tmp_path / "half-onnx.failed")
    assert (tmp_path / "half-onnx.failed" / "model.onnx").is_file()
    assert not (tmp_path / "half-onnx").exists()


def test_bad_arguments_are_refused_before_work(runs, tmp_path):
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "notes.txt").write_text("mine")
    with pytest.raises(WorkbenchError, match="not empty"):
        export_model(runs["full"], busy)
    assert (busy / "notes.txt").read_text() == "mine"
    with pytest.raises(WorkbenchError, match="bf16 ONNX cannot run in onnxruntime"):
        export_model(runs["full"], tmp_path / "a", fmt="onnx", dtype="bf16")
    with pytest.raises(WorkbenchError, match="max-shard-size"):
        export_model(runs["full"], tmp_path / "b", max_shard_size="big")
    with pytest.raises(WorkbenchError, match="Unknown ONNX exporter 'tvm'; use auto, dynamo"):
        export_model(runs["full"], tmp_path / "c", fmt="onnx", onnx_exporter="tvm")
    with pytest.raises(WorkbenchError, match="--onnx-exporter applies to --format onnx"):
        export_model(runs["full"], tmp_path / "c", onnx_exporter="torchscript")
    with pytest.raises(WorkbenchError, match="Unknown dtype"):
        export_model(runs["full"], tmp_path / "d", dtype="int3")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["busy"]


def test_cancel_leaves_nothing(runs, tmp_path):
    cancel = threading.Event()

    def progress(message: str) -> None:
        if message.startswith("Reloading"):
            cancel.set()  # the files are written: cancel must still leave no export

    with pytest.raises(CancelledError):
        export_model(runs["full"], tmp_path / "out", progress=progress, cancel=cancel)
    assert list(tmp_path.iterdir()) == []


def test_cli_export(runs, tmp_path, capsys):
    from workbench.cli import main

    assert main(["export", str(runs["full"]), "--out", str(tmp_path / "e"), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["passed"]
    assert main(["export", str(runs["full"]), "--out", str(tmp_path / "e"), "--json"]) == 1
    assert "not empty" in json.loads(capsys.readouterr().out)["error"]


def test_cli_export_onnx_with_the_torchscript_exporter(tmp_path, capsys):
    from workbench.cli import main

    out = tmp_path / "ts"
    assert main(["export", str(tiny_model("gpt2")), "--out", str(out), "--format", "onnx",
                 "--onnx-exporter", "torchscript", "--dtype", "fp16"]) == 0
    text = capsys.readouterr().out
    assert "(onnx, fp16): passed" in text and "exporter: torchscript" in text
    saved = json.loads((out / "export_report.json").read_text())
    assert saved["exporter"] == "torchscript" and saved["perplexity"]["passed"]
    assert main(["export", str(tiny_model("gpt2")), "--out", str(tmp_path / "x"), "--format",
                 "onnx", "--dtype", "bf16"]) == 1
    assert "bf16 ONNX cannot run" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()
    with pytest.raises(SystemExit):
        main(["export", "--help"])
    usage = " ".join(capsys.readouterr().out.split())  # argparse wraps to the terminal
    assert "--onnx-exporter {auto,dynamo,torchscript}" in usage and "no KV cache" in usage


def test_a_merge_that_changed_nothing_is_an_error(tmp_path):
    """B @ A != 0 but the weights do not move: peft's real merge_adapter() ran, then the base
    weights were loaded back (the bug: a merged model restored from its base checkpoint), so
    every LoRA layer says "merged" and merge_and_unload skips it."""
    import peft
    import transformers

    from workbench.core.export.source import merge_lora

    base = transformers.AutoModelForSequenceClassification.from_pretrained(tiny_model("bert"))
    lora = peft.get_peft_model(base, peft.LoraConfig(r=2, target_modules=["query"],
                                                     task_type="SEQ_CLS"))
    with torch.no_grad():
        for name, p in lora.named_parameters():
            if "lora_B" in name:
                p.normal_()  # a trained adapter: B @ A != 0
    originals = {n: m.get_base_layer().weight.detach().clone() for n, m in lora.named_modules()
                 if isinstance(m, peft.tuners.lora.LoraLayer)}
    lora.merge_adapter()
    modules = dict(lora.named_modules())
    with torch.no_grad():
        for name, weight in originals.items():
            assert not torch.equal(modules[name].get_base_layer().weight, weight)  # it merged
            modules[name].get_base_layer().weight.copy_(weight)  # ...and was undone
    with pytest.warns(UserWarning, match="already merged"),  \
            pytest.raises(WorkbenchError, match="did not apply the adapter"):
        merge_lora(lora)  # peft skips the layers it thinks merged; the check catches it
