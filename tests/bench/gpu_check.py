"""GPU check of the launch paths that CPU CI cannot run (prints PASS/FAIL/SKIP per item).

    bash tests/bench/gpu_check.sh        (from a checkout, with the venv activated)

On a machine with CUDA GPUs, in about 5 minutes at most:
  1. preflight  "more processes than GPUs" is refused before any process starts
  2. ddp-nccl   `accelerate launch` (the GUI's ProcessRun) of a tiny BERT, 2 processes (1 with one
                GPU), NCCL, bf16 where supported: finishes its 6 steps, one record, every rank's
                RNG state in the checkpoint, final/ written
  3. fsdp       the same with strategy fsdp (full fine-tune; FSDP with LoRA is refused by design)
  4. in-window  one bf16 step through the Fine-tune view's TrainSession (a QThread, offscreen Qt)
Exit status 0 when nothing failed (SKIPs allowed). Without CUDA every item is SKIP;
`--cpu-dry-run` then runs items 2 and 4 on the CPU (gloo, fp32) to check this script itself.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
ITEM_TIMEOUT_S = 150
results: list[tuple[str, str, str]] = []


def report(name: str, status: str, detail: str = "") -> None:
    results.append((name, status, detail))
    print(f"{status:4} {name}: {detail}", flush=True)


def tiny_model(folder: Path) -> Path:
    import torch
    import transformers

    from workbench.core.model.loading import demo_checkpoint_path

    torch.manual_seed(0)
    config = transformers.BertConfig(hidden_size=64, num_attention_heads=4,
                                     intermediate_size=128, num_hidden_layers=2,
                                     vocab_size=30522, max_position_embeddings=64)
    transformers.BertForSequenceClassification(config).save_pretrained(folder)
    for name in ("tokenizer.json", "tokenizer_config.json", "vocab.txt",
                 "special_tokens_map.json"):
        if (demo_checkpoint_path() / name).is_file():
            shutil.copy(demo_checkpoint_path() / name, folder / name)
    return folder


DEVICE = "cuda"


def spec_for(model: Path, out: Path, precision: str, **changes):
    from tests.fixtures.training import data_file
    from workbench.core.training.spec import TrainSpec

    base = dict(model_path=str(model), task="sequence-classification",
                train_file=str(data_file("sequence-classification")), eval_split=0.25,
                max_length=32, batch_size=4, max_steps=6, logging_steps=1, save_steps=3,
                learning_rate=1e-3, output_dir=str(out), device=DEVICE, precision=precision)
    base.update(changes)
    return TrainSpec(**base)


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def launched(name: str, spec, processes: int, strategy: str) -> None:
    from workbench.core.training.checkpoints import list_checkpoints
    from workbench.core.training.launch import LaunchSpec
    from workbench.core.training.process_run import ProcessRun
    from workbench.core.training.runs import load_run_metrics

    launch = LaunchSpec(mode="processes", num_processes=processes, strategy=strategy,
                        main_port=free_port())
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT),
                                                       os.environ.get("PYTHONPATH", "")]))
    t0 = time.monotonic()
    run = ProcessRun.start(spec, launch, env=env)
    code = run.wait(ITEM_TIMEOUT_S)
    if code is None:
        run.terminate(grace_s=5)
        report(name, "FAIL", f"no end within {ITEM_TIMEOUT_S} s; logs in {run.run_dir}/logs")
        return
    if code != 0:
        report(name, "FAIL", run.failure().message().replace("\n", " | ")[:900])
        return
    events = load_run_metrics(run.run_dir)
    problems = []
    if not events or events[-1].kind != "finished" or events[-1].step != spec.max_steps:
        problems.append(f"last event {events[-1].kind if events else None}")
    if [e.kind for e in events].count("started") != 1:
        problems.append("not exactly one 'started' event")
    checkpoints = list_checkpoints(run.run_dir)
    if not checkpoints:
        problems.append("no checkpoint")
    elif processes > 1:
        names = {p.name for p in checkpoints[-1].iterdir()}
        missing = {f"rng_state_{r}.pth" for r in range(processes)} - names
        if missing:
            problems.append(f"checkpoint lacks {sorted(missing)}")
    if not any((run.run_dir / "final").glob("*.safetensors")):
        problems.append("final/ has no safetensors")
    if run.group_alive():
        problems.append("a process of the group is still alive")
    log = (run.run_dir / "logs" / "rank-0.log")
    backend = "nccl" if "nccl" in log.read_text(errors="replace").lower() else "see rank-0.log"
    losses = [round(e.metrics["loss"], 4) for e in events if e.kind == "log" and
              "loss" in e.metrics]
    detail = (f"{processes} process(es), {spec.precision}, {time.monotonic() - t0:.0f} s, "
              f"losses {losses}, backend {backend}")
    report(name, "FAIL" if problems else "PASS", "; ".join(problems) or detail)


def in_window(spec) -> None:
    from PySide6.QtCore import QCoreApplication, QEventLoop
    from PySide6.QtWidgets import QApplication

    from workbench.qt.common.gc_guard import GuiThreadCollector
    from workbench.qt.train.worker import TrainSession

    app = QApplication.instance() or QApplication([])
    GuiThreadCollector(app).start()
    session = TrainSession(spec)
    events: list = []
    session.eventsArrived.connect(events.extend)
    session.start()
    deadline = time.monotonic() + ITEM_TIMEOUT_S
    while session.running and time.monotonic() < deadline:
        QCoreApplication.processEvents(QEventLoop.ProcessEventsFlag.AllEvents, 50)
        time.sleep(0.01)
    if session.running:
        session.shutdown(timeout_ms=30_000)
        report("in-window", "FAIL", f"no end within {ITEM_TIMEOUT_S} s")
        return
    result = session.result
    if session.error or result is None or result.status != "finished":
        why = session.error[0] if session.error else (result.message if result else "no result")
        report("in-window", "FAIL", why[:900])
        return
    loss = [e.metrics.get("loss") for e in events if e.kind == "log"]
    report("in-window", "PASS", f"1 step {spec.precision} on {spec.device}, loss {loss}, "
                                f"memory {result.metrics.get('memory_mb', 0):.0f} MiB")


def main() -> int:
    import torch

    gpus = torch.cuda.device_count() if torch.cuda.is_available() else 0
    print(f"torch {torch.__version__}, CUDA {torch.version.cuda}, {gpus} GPU(s): "
          + ", ".join(torch.cuda.get_device_name(i) for i in range(gpus)), flush=True)
    global DEVICE
    dry_run = not gpus and "--cpu-dry-run" in sys.argv
    if not gpus and not dry_run:
        for name in ("preflight", "ddp-nccl", "fsdp", "in-window"):
            report(name, "SKIP", "no CUDA device here")
        return 0
    if dry_run:
        DEVICE, precision, processes = "cpu", "fp32", 2
    else:
        precision = "bf16" if torch.cuda.is_bf16_supported() else "fp16"
        processes = min(2, gpus)
    root = Path(tempfile.mkdtemp(prefix="wb-gpu-check-"))
    model = tiny_model(root / "model")
    items = [
        ("preflight", lambda: preflight_item(model, root, gpus, precision)),
        ("ddp-nccl", lambda: launched("ddp-nccl", spec_for(model, root / "ddp", precision),
                                      processes, "ddp")),
        ("fsdp", lambda: launched("fsdp", spec_for(model, root / "fsdp", precision),
                                  processes, "fsdp")),
        ("in-window", lambda: in_window(spec_for(model, root / "window", precision,
                                                 max_steps=1, save_steps=0))),
    ]
    if dry_run:
        items = [items[1], items[3]]
    for name, item in items:
        try:
            item()
        except Exception as e:  # one broken item must not hide the others' results
            report(name, "FAIL", f"{type(e).__name__}: {e}"[:900])
            traceback.print_exc()
    print(f"run folders in {root}")
    failed = [n for n, status, _ in results if status == "FAIL"]
    print("SUMMARY: " + ", ".join(f"{n} {s}" for n, s, _ in results))
    return 1 if failed else 0


def preflight_item(model: Path, root: Path, gpus: int, precision: str) -> None:
    from workbench.core.errors import WorkbenchError
    from workbench.core.training.launch import LaunchSpec, preflight

    try:
        preflight(spec_for(model, root / "refused", precision),
                  LaunchSpec(mode="processes", num_processes=gpus + 1, main_port=free_port()),
                  gpus)
    except WorkbenchError as e:
        report("preflight", "PASS", f"{gpus + 1} processes refused: {e}")
        return
    report("preflight", "FAIL", f"{gpus + 1} processes on {gpus} GPU(s) were not refused")


if __name__ == "__main__":
    raise SystemExit(main())
