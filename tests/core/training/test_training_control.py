"""Learning, cancel, pause/resume, NaN, OOM and LoRA on tiny real models (CPU, a few steps)."""

from __future__ import annotations

import math
import threading
import time

import pytest
import torch
from transformers import TrainerCallback

from tests.fixtures.training import Recorder, tiny_spec
from workbench.core.training.evaluate import load_trained_model
from workbench.core.training.runner import TrainControl, run_training
from workbench.core.training.session import merge_lora

CLS = "sequence-classification"


def test_loss_decreases_on_a_learnable_toy_set(tmp_path):
    rec = Recorder()
    spec = tiny_spec(CLS, tmp_path / "run", max_steps=40, logging_steps=5, eval_split=0.25,
                     learning_rate=1e-2, warmup_ratio=0.1, save_steps=1000)
    result = run_training(spec, rec)
    assert result.status == "finished"
    losses = [loss for step, loss in sorted(rec.losses().items())]
    assert losses[-1] < 0.5 * losses[0], losses
    assert result.metrics["eval_accuracy"] > 0.75  # words decide the label: learnable


def test_cancel_stops_within_one_step(tmp_path):
    control = TrainControl()
    seen = []

    def on_event(event):
        if event.kind == "log" and event.step == 3:
            seen.append(event.step)
            control.cancel()

    rec = Recorder(on_event)
    result = run_training(tiny_spec(CLS, tmp_path / "run", max_steps=50), rec, control)
    assert result.status == "cancelled"
    assert rec.events[-1].kind == "cancelled"
    assert rec.events[-1].step <= seen[0] + 1
    assert result.final_model_dir is None
    assert "eval" not in rec.kinds()  # a cancelled run does not spend time evaluating


def test_cancel_can_save_a_checkpoint(tmp_path):
    from workbench.core.training.checkpoints import latest_checkpoint

    control = TrainControl()
    rec = Recorder(lambda e: control.cancel(save_checkpoint=True)
                   if e.kind == "log" and e.step == 2 else None)
    result = run_training(tiny_spec(CLS, tmp_path / "run", max_steps=50), rec, control)
    assert result.status == "cancelled" and "checkpoint" in result.message
    assert latest_checkpoint(result.run_dir).name == f"checkpoint-{rec.events[-1].step}"


def test_pause_blocks_and_resume_continues(tmp_path):
    control = TrainControl()
    rec = Recorder(lambda e: control.pause() if e.kind == "log" and e.step == 2 else None)
    spec = tiny_spec(CLS, tmp_path / "run", max_steps=6)
    box = {}
    worker = threading.Thread(target=lambda: box.update(r=run_training(spec, rec, control)))
    worker.start()
    try:
        deadline = time.monotonic() + 60
        while not control.is_waiting and worker.is_alive() and time.monotonic() < deadline:
            time.sleep(0.02)
        assert control.is_waiting and control.is_paused
        n_events, step = len(rec.events), rec.events[-1].step
        assert rec.events[-1].kind == "paused"
        time.sleep(0.5)
        assert len(rec.events) == n_events  # nothing happens while paused
        # The live model is reachable for inspection while paused (e.g. attention view).
        model, tok = control.live_model, control.live_tokenizer
        with torch.inference_mode():
            out = model(**tok("a good day", return_tensors="pt"), output_attentions=True)
        assert out.logits.shape == (1, 2)
        control.resume()
        worker.join(60)
    finally:
        control.cancel()
        worker.join(60)
    assert box["r"].status == "finished"
    kinds = rec.kinds()
    assert kinds.index("paused") < kinds.index("resumed") < kinds.index("finished")
    assert max(e.step for e in rec.events) == 6 and step <= 3
    assert control.live_model is None


def test_nan_loss_stops_with_a_message(tmp_path):
    rec = Recorder()
    spec = tiny_spec(CLS, tmp_path / "run", max_steps=20, learning_rate=1e30, max_grad_norm=0.0)
    result = run_training(spec, rec)
    assert result.status == "failed"
    assert "diverged" in result.message and "learning rate" in result.message
    assert rec.events[-1].kind == "failed" and rec.events[-1].step < 20
    bad = [e for e in rec.events if e.kind == "log" and not all(
        v == v and abs(v) != float("inf") for k, v in e.metrics.items()
        if k in ("loss", "grad_norm"))]
    assert bad, "the NaN/inf value itself must reach the curves"


def test_nan_can_be_ignored(tmp_path):
    spec = tiny_spec(CLS, tmp_path / "run", max_steps=4, learning_rate=1e30, max_grad_norm=0.0,
                     stop_on_nan=False, eval_split=0.0)
    assert run_training(spec, Recorder()).status == "finished"


class _OutOfMemoryAt(TrainerCallback):
    """Raises the allocator's error at a step, as a too-large batch would."""

    def __init__(self, step: int) -> None:
        self.step = step

    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step == self.step:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")


def test_out_of_memory_is_reported_with_the_knobs(tmp_path):
    control = TrainControl()
    rec = Recorder()
    result = run_training(tiny_spec(CLS, tmp_path / "run", max_steps=10), rec, control,
                          extra_callbacks=[_OutOfMemoryAt(2)])
    assert result.status == "failed"
    for knob in ("batch_size (now 8", "max_length (now 32", "lora", "gradient_checkpointing",
                 "bf16"):
        assert knob in result.message
    assert rec.events[-1].kind == "failed" and rec.events[-1].step == 2
    assert control.live_model is None
    # The process is still usable: the next run works.
    assert run_training(tiny_spec(CLS, tmp_path / "again", max_steps=1, eval_split=0.0),
                        Recorder()).status == "finished"


class _LogitsAtEnd(TrainerCallback):
    def __init__(self, inputs) -> None:
        self.inputs = inputs
        self.logits = None

    def on_train_end(self, args, state, control, model=None, **kwargs):
        model.eval()
        with torch.inference_mode():
            self.logits = model(**self.inputs).logits.clone()


def test_lora_adapter_saves_and_reloads(tmp_path):
    from transformers import AutoTokenizer

    spec = tiny_spec(CLS, tmp_path / "run", method="lora", lora_r=4, max_steps=4,
                     learning_rate=1e-2, eval_split=0.0, save_merged=True)
    inputs = dict(AutoTokenizer.from_pretrained(spec.model_path)("a good day",
                                                                 return_tensors="pt"))
    probe = _LogitsAtEnd(inputs)
    result = run_training(spec, Recorder(), extra_callbacks=[probe])
    assert result.status == "finished"
    final = __import__("pathlib").Path(result.final_model_dir)
    assert (final / "adapter_model.safetensors").is_file()
    assert (final / "adapter_config.json").is_file()
    assert not (final / "model.safetensors").exists()  # only the adapter, not a full copy
    reloaded = load_trained_model(final, CLS)
    with torch.inference_mode():
        logits = reloaded(**inputs).logits
    torch.testing.assert_close(logits, probe.logits, atol=1e-5, rtol=1e-4)
    merged = final.parent / "merged"  # save_merged=True wrote it at the end of the run
    assert (merged / "model.safetensors").is_file()
    from workbench.core.model.loading import load_model
    from workbench.core.training.tasks import task_info

    with torch.inference_mode():
        merged_logits = load_model(merged, auto_class=task_info(CLS).auto_class)(**inputs).logits
    torch.testing.assert_close(merged_logits, probe.logits, atol=1e-4, rtol=1e-3)
    assert merge_lora(result.run_dir) == merged  # on demand too (replaces the folder)


def test_lora_trains_only_adapters_and_head(tmp_path):
    from workbench.core.model.parameters import count_parameters
    from workbench.core.training.model_setup import build_model

    spec = tiny_spec(CLS, tmp_path / "x", method="lora", lora_r=4)
    model = build_model(spec, ["neg", "pos"])
    trainable, total = count_parameters(model)
    names = [n for n, p in model.named_parameters() if p.requires_grad]
    assert trainable < 0.05 * total
    # LoRA matrices, plus full copies of the weights the checkpoint lacked (head, pooler).
    assert all("lora_" in n or "modules_to_save" in n for n in names)
    assert any("classifier" in n for n in names)


def test_freezing_embeddings_and_layers(tmp_path):
    from workbench.core.training.model_setup import build_model

    spec = tiny_spec(CLS, tmp_path / "x", freeze_embeddings=True, freeze_layers=1)
    model = build_model(spec, ["neg", "pos"])
    frozen = {n for n, p in model.named_parameters() if not p.requires_grad}
    assert any(".embeddings." in n for n in frozen)
    assert any(".layer.0." in n for n in frozen)
    assert not any(".layer.1." in n for n in frozen)
    with pytest.raises(Exception, match="freeze_layers"):
        build_model(spec.replace(freeze_layers=5), ["neg", "pos"])


@pytest.mark.parametrize("changes", [
    {"optimizer": "adafactor", "scheduler": "cosine", "precision": "bf16",
     "gradient_checkpointing": True},
    {"optimizer": "sgd", "grad_accum": 2, "freeze_layers": 1, "freeze_embeddings": True,
     "scheduler": "polynomial", "weight_decay": 0.01},
    {"method": "lora", "gradient_checkpointing": True, "scheduler": "constant_with_warmup",
     "warmup_ratio": 0.5, "lora_target_modules": ["query", "key", "value"]},
], ids=["adafactor-bf16-ckpt", "sgd-accum-frozen", "lora-ckpt"])
def test_optimisation_knobs_train(tmp_path, changes):
    rec = Recorder()
    result = run_training(tiny_spec(CLS, tmp_path / "run", max_steps=2, eval_split=0.0,
                                    **changes), rec)
    assert result.status == "finished", result.message
    logs = [e for e in rec.events if e.kind == "log"]
    assert [e.step for e in logs] == [1, 2]
    assert all(math.isfinite(e.metrics["loss"]) for e in logs)


def test_save_now_writes_a_checkpoint_at_the_next_step(tmp_path):
    from workbench.core.training.checkpoints import list_checkpoints

    control = TrainControl()
    rec = Recorder(lambda e: control.save_now() if e.kind == "log" and e.step == 2 else None)
    spec = tiny_spec(CLS, tmp_path / "run", max_steps=5, eval_split=0.0, save_steps=1000)
    result = run_training(spec, rec, control)
    assert result.status == "finished"
    saved = [e.step for e in rec.events if e.kind == "checkpoint"]
    assert saved == [3, 5]  # the requested one, then the final one
    assert [c.name for c in list_checkpoints(result.run_dir)] == ["checkpoint-3", "checkpoint-5"]


def test_cancel_while_paused_stops(tmp_path):
    control = TrainControl()
    rec = Recorder(lambda e: control.pause() if e.kind == "log" and e.step == 1 else None)
    box = {}
    spec = tiny_spec(CLS, tmp_path / "run", max_steps=20)
    worker = threading.Thread(target=lambda: box.update(r=run_training(spec, rec, control)))
    worker.start()
    deadline = time.monotonic() + 60
    while not control.is_waiting and worker.is_alive() and time.monotonic() < deadline:
        time.sleep(0.02)
    control.cancel()
    worker.join(60)
    assert not worker.is_alive()
    assert box["r"].status == "cancelled" and rec.events[-1].step <= 2
    assert "resumed" not in rec.kinds()


class _CancelDuringBroadcast:
    """A ControlSync whose broadcast is overtaken by the control file: the main rank decided
    'go on' and sent it, then the watcher thread cancelled before the callback looked again."""

    def step_boundary(self, ctl, on_paused=None, on_resumed=None):
        decided = (False, ctl.is_cancelled, ctl.save_on_cancel)
        ctl.cancel(save_checkpoint=True)  # lands while the other ranks receive 'go on'
        return decided


def test_every_rank_acts_on_the_broadcast_decision_not_a_later_cancel():
    from transformers import TrainerControl, TrainerState, TrainingArguments

    from workbench.core.training.callbacks import EventCallback

    control = TrainControl()
    callback = EventCallback(lambda e: None, control, CLS, "cpu", stop_on_nan=False,
                             samples_per_step=8, sync=_CancelDuringBroadcast())
    state = TrainerState(global_step=3, max_steps=10)
    flow = TrainerControl()
    callback.on_step_end(TrainingArguments(output_dir="unused", use_cpu=True), state, flow)
    # the other ranks train on (they got 'go on'): this rank must too, or it would wait for
    # them in the checkpoint's barrier while they wait for it in the gradient all-reduce
    assert not flow.should_training_stop and not flow.should_save
    assert not callback.stopped_by_user
    flow = TrainerControl()
    callback.sync = _CancelDuringBroadcast()  # the next boundary broadcasts the cancel
    callback.on_step_end(TrainingArguments(output_dir="unused", use_cpu=True), state, flow)
    assert flow.should_training_stop and flow.should_save and callback.stopped_by_user


def test_a_cancel_after_the_last_step_leaves_a_finished_run(tmp_path):
    control = TrainControl()

    class CancelAtTheEnd(TrainerCallback):
        def on_train_end(self, args, state, trainer_control, **kwargs):
            control.cancel(save_checkpoint=True)  # e.g. the control file, after the last step

    rec = Recorder()
    spec = tiny_spec(CLS, tmp_path / "run", max_steps=3, eval_split=0.0, save_steps=1000)
    result = run_training(spec, rec, control, extra_callbacks=[CancelAtTheEnd()])
    # every step was trained: the run is finished and has its model (on several ranks, one
    # that reported "cancelled" here would skip the final save the others wait for)
    assert result.status == "finished", result.message
    assert result.final_model_dir is not None


def test_adamw_runs_as_torchs_fused_kernel(tmp_path):
    seen = {}

    class Optimizer(TrainerCallback):
        def on_step_end(self, args, state, trainer_control, optimizer=None, **kwargs):
            seen.update(optimizer.param_groups[0])

    spec = tiny_spec(CLS, tmp_path / "run", max_steps=1, eval_split=0.0, save_steps=1000)
    assert spec.optimizer == "adamw_torch"
    assert run_training(spec, Recorder(), extra_callbacks=[Optimizer()]).status == "finished"
    # the fused kernel, as a plain Trainer script gets by default: on CPU the unfused AdamW is
    # a Python loop over every tensor (30x slower for MiniLM here)
    assert seen["fused"] is True and seen["weight_decay"] == spec.weight_decay
