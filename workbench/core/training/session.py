"""One training session: set up data/model/Trainer from a TrainSpec, run it, save, report."""

from __future__ import annotations

import gc
import math
import shutil
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

from workbench.core import devices
from workbench.core.atomic import atomic_folder, commit_folder, staging_folder
from workbench.core.checkpoint.tokenizer_info import TOKENIZER_FILES
from workbench.core.errors import RunFolderInUseError, WorkbenchError
from workbench.core.training.distributed import (
    PeerWatch,
    barrier,
    bind_to_main_network,
    open_rank_log,
    rank_info,
)
from workbench.core.training.events import TrainEvent
from workbench.core.training.faults import disk_full_error, failure_message, save_or_clean_up
from workbench.core.training.runner import RunResult, TrainControl
from workbench.core.training.runs import (
    ERROR_LOG_NAME,
    FINAL_NAME,
    MERGED_NAME,
    SPEC_NAME,
    MetricsLog,
    discard_run,
    has_final_model,
    holds_run,
    load_run_metrics,
    new_run_dir,
)
from workbench.core.training.spec import TrainSpec
from workbench.core.training.tasks import task_info


def is_out_of_memory(error: BaseException) -> bool:
    """True for CUDA/MPS/CPU allocation failures (torch raises several types for them)."""
    import torch

    if isinstance(error, (torch.OutOfMemoryError, MemoryError)):
        return True
    text = str(error).lower()
    return isinstance(error, RuntimeError) and ("out of memory" in text
                                                or "can't allocate memory" in text)


def oom_message(spec: TrainSpec, step: int) -> str:
    """What to turn down after an out-of-memory error, naming the current values."""
    return f"Out of memory on {spec.device} at step {step}. To fit: {memory_tips(spec)}"


def memory_tips(spec: TrainSpec) -> str:
    """The knobs that make a run need less memory, with their current values."""
    tips = [f"reduce batch_size (now {spec.batch_size}; raise grad_accum, now {spec.grad_accum}, "
            f"to keep the effective batch)", f"lower max_length (now {spec.max_length})"]
    if spec.method != "lora":
        tips.append("use method 'lora' (trains far fewer weights)")
    if not spec.gradient_checkpointing:
        tips.append("turn on gradient_checkpointing")
    if spec.precision == "fp32":
        tips.append("use bf16 precision")
    return "; ".join(tips) + "."


def check_training_fits(spec: TrainSpec, num_labels: int) -> None:
    """Refuse, before the model is loaded, a run whose weights, gradients and optimizer states
    alone exceed the device's free memory (InsufficientMemoryError naming both figures)."""
    from workbench.core.model.limits import ensure_fits
    from workbench.core.training.memory_plan import estimate_training_memory
    from workbench.core.units import human_count

    try:
        plan = estimate_training_memory(spec, max(2, num_labels))
    except (WorkbenchError, OSError, ValueError, KeyError):
        return  # no estimate for this model (the preflight says why); training will tell
    # Activations are a rough estimate (they depend on the data): refuse only on the part that
    # is certain, so a run that would fit is never refused.
    certain = plan.weights + plan.gradients + plan.optimizer_states
    ensure_fits(certain, spec.device,
                f"Training {human_count(plan.trainable_parameters)} of "
                f"{human_count(plan.total_parameters)} parameters ({spec.optimizer}, "
                f"{spec.precision})", f"To fit: {memory_tips(spec)}")


class TokenCounter:
    """Counts non-padding input tokens of training batches on the host, before device copy.

    The data loader builds batches ahead of use (accelerate prefetches one), so counts wait in
    a queue and are added when the trainer takes the batch for a step (`consume`).
    """

    def __init__(self) -> None:
        self.tokens = 0
        self._pending: deque[int] = deque()

    def wrap(self, collator: Callable[[list], dict]) -> Callable[[list], dict]:
        """`collator`, noting each batch's token count as it is built (CPU tensors: no sync)."""
        def counting(features: list) -> dict:
            batch = collator(features)
            mask = batch.get("attention_mask")
            self._pending.append(int(mask.sum()) if mask is not None
                                 else int(batch["input_ids"].numel()))
            return batch

        return counting

    def consume(self) -> None:
        """Count the oldest built batch as trained on (called once per training micro-step)."""
        if self._pending:
            self.tokens += self._pending.popleft()


def check_device(spec: TrainSpec) -> None:
    """Raise a WorkbenchError when spec.device is not usable here (Trainer would fall back)."""
    devices.check_device(spec.device)


def trainer_optimizer(spec: TrainSpec) -> str:
    """The TrainingArguments `optim` for spec.optimizer: AdamW as torch's fused kernel where the
    device has one (transformers' own default, 'adamw_torch_fused'), else as spec names it.

    Same algorithm, other implementation: torch's AdamW on CPU tensors defaults to the
    single-tensor path, a Python loop over every parameter: 497 ms per step for MiniLM here,
    against 17 ms fused (measured on 2 cores; the loop also holds the GIL the GUI thread needs).
    A plain Trainer script gets the fused kernel by default, so the workbench must too.
    """
    if spec.optimizer != "adamw_torch":
        return str(spec.optimizer)
    try:
        # Private in torch, but the very list torch.optim.AdamW(fused=True) checks against.
        from torch.utils._foreach_utils import _get_fused_kernels_supported_devices

        fused_devices = _get_fused_kernels_supported_devices()
    except ImportError:  # a torch that moved it: the kernel has existed for cpu/cuda since 2.4
        fused_devices = ["cpu", "cuda"]
    return "adamw_torch_fused" if spec.device.split(":", 1)[0] in fused_devices \
        else "adamw_torch"


def make_trainer_class(task: str = ""):
    """Trainer whose checkpoints are written atomically (staging folder, rename, marker).

    The base class is the task's trainer (tasks.TaskInfo.trainer): transformers' Trainer, or
    TRL's SFTTrainer (itself a Trainer) for chat fine-tuning; the overrides below are the same.
    """
    from transformers import Trainer

    if task and task_info(task).trainer == "trl-sft":
        from trl import SFTTrainer as Trainer

    from workbench.core.training.thread_safety import make_trainer_thread_safe

    make_trainer_thread_safe()  # Trainer runs in a worker thread beside the GUI

    from workbench.core.training.checkpoints import (
        commit_checkpoint,
        prune_checkpoints,
        shared_staging_dir,
        staging_dir,
    )

    class WorkbenchTrainer(Trainer):
        """transformers.Trainer with crash-safe checkpoint writes."""

        workbench_run_dir: Path
        workbench_tokens: TokenCounter
        workbench_keep: int = 0

        def training_step(self, *args, **kwargs):
            self.workbench_tokens.consume()
            return super().training_step(*args, **kwargs)

        def get_train_dataloader(self):
            # Count training tokens only (the eval loader shares the collator).
            inner = self.data_collator
            self.data_collator = self.workbench_tokens.wrap(inner)
            try:
                return super().get_train_dataloader()
            finally:
                self.data_collator = inner

        def _save_checkpoint(self, model, trial):
            step = self.state.global_step
            distributed = self.args.world_size > 1
            # Every rank writes its RNG state into the checkpoint, so with several processes
            # they share one staging folder (named by step); the main rank commits it.
            staged = (shared_staging_dir(self.workbench_run_dir, step) if distributed
                      else staging_dir(self.workbench_run_dir))
            original = self.args.output_dir
            is_main = self.args.process_index == 0

            def write() -> None:
                # Trainer writes <output_dir>/checkpoint-N; point it at the staging folder.
                self.args.output_dir = str(staged)
                try:
                    super(WorkbenchTrainer, self)._save_checkpoint(model, trial)
                finally:
                    self.args.output_dir = original
                if distributed:
                    self.accelerator.wait_for_everyone()
                if is_main:
                    commit_checkpoint(staged / f"checkpoint-{step}", self.workbench_run_dir,
                                      step)

            save_or_clean_up(write, staged, f"the checkpoint at step {step}",
                             self.workbench_run_dir, self)
            if is_main:
                shutil.rmtree(staged, ignore_errors=True)
                prune_checkpoints(self.workbench_run_dir, self.workbench_keep)
            if distributed:
                self.accelerator.wait_for_everyone()

    return WorkbenchTrainer


class TrainingSession:
    """Runs one spec (fresh or resumed) to a RunResult; see runner.run_training."""

    def __init__(self, spec: TrainSpec, emit: Callable[[TrainEvent], None],
                 control: TrainControl, resume_from: str | None = None,
                 extend_epochs: float = 0.0, extra_callbacks: list | None = None,
                 restart: bool = False, watch_control_file: bool = False,
                 free_memory: bool = True) -> None:
        spec.validate()
        self.free_memory = free_memory  # False: the process ends after the run (the CLI)
        if restart and resume_from:
            raise WorkbenchError("Resume and start over exclude each other: resume continues "
                                 "the run, start over discards it. Choose one.")
        if not (math.isfinite(float(extend_epochs)) and 0 <= extend_epochs <= 1e6):
            raise WorkbenchError(f"extend_epochs: {extend_epochs} must be a number of epochs "
                                 f"from 0 to 1000000.")
        self.restart = restart
        self.rebuild_final = False  # resumed at the last step with final/ missing
        self.rank = rank_info()
        self.watch_control_file = watch_control_file
        self.spec = spec
        self.user_emit = emit
        self.control = control
        self.resume_from = resume_from
        self.extend_epochs = float(extend_epochs)
        self.extra_callbacks = list(extra_callbacks or [])
        self.checkpoint: Path | None = None
        self.metrics_log: MetricsLog | None = None
        self.t0 = time.perf_counter()
        self.time_offset = 0.0

    def elapsed(self) -> float:
        """Seconds of this run so far (earlier sessions of a resumed run included)."""
        return self.time_offset + time.perf_counter() - self.t0

    # -- events -----------------------------------------------------------------------------
    def emit(self, event: TrainEvent) -> None:
        """Record the event in metrics.jsonl, then pass it on."""
        if self.metrics_log is not None:
            self.metrics_log.write(event)
        self.user_emit(event)

    @property
    def resumed_step(self) -> int:
        """The step of the checkpoint this run resumes from (0 for a new run)."""
        return int(self.checkpoint.name.rsplit("-", 1)[1]) if self.checkpoint else 0

    def status(self, message: str) -> None:
        """A 'status' event (setup progress) before training starts, at the resumed step."""
        self.emit(TrainEvent("status", self.resumed_step, 0, 0.0, self.elapsed(), {}, message))

    # -- setup ------------------------------------------------------------------------------
    def _prepare_run_dir(self) -> Path:
        from workbench.core.training.checkpoints import clean_staging, resolve_resume

        if self.rank.is_distributed and not (self.resume_from or self.spec.output_dir):
            raise WorkbenchError("A run over several processes needs an explicit output folder "
                                 "(every rank must write to the same run folder): set "
                                 "output_dir or pass --output-dir.")
        if self.resume_from:
            run_dir, self.checkpoint = resolve_resume(self.resume_from)
            if self.rank.is_main:
                clean_staging(run_dir)  # leftovers of a crash, removed at the next open
            past = [e for e in load_run_metrics(run_dir) if e.step <= self.resumed_step]
            self.time_offset = max((e.time for e in past), default=0.0)
            spec = self.spec.replace(output_dir=str(run_dir))
            if self.extend_epochs > 0:
                spec = spec.replace(num_epochs=spec.num_epochs + self.extend_epochs)
        else:
            run_dir = new_run_dir(self.spec.output_dir, self.spec)
            if not self.rank.is_main:
                pass  # the main rank checks and writes the run folder's record
            elif self.restart:
                discard_run(run_dir)
            elif holds_run(run_dir):
                raise _run_exists_error(run_dir)
            spec = self.spec.replace(output_dir=str(run_dir))
        if self.rank.is_main:
            try:
                spec.save(run_dir / SPEC_NAME)
            except OSError as e:
                raise disk_full_error(e, run_dir, "the run's spec.json", 4096) from None
        if self.rank.is_distributed:
            self._rank_log = open_rank_log(run_dir, self.rank)
            network = bind_to_main_network()  # before the Trainer starts the process group
            if network:
                self._rank_log.write(network + "\n")
            self._peer_watch = PeerWatch(run_dir, self.rank.rank).start()
        self.spec = spec
        return run_dir

    def _training_args(self, run_dir: Path, has_eval: bool, steps_per_epoch: int):
        from transformers import TrainingArguments

        spec = self.spec
        max_steps = spec.max_steps
        if self.extend_epochs > 0 and max_steps > 0:
            max_steps += math.ceil(self.extend_epochs * steps_per_epoch)
        eval_strategy = "no" if not has_eval else ("steps" if spec.eval_steps else "epoch")
        if spec.device.startswith("cuda:"):
            import torch

            torch.cuda.set_device(int(spec.device.split(":")[1]))
        args_class, extra = TrainingArguments, {}
        if task_info(spec.task).trainer == "trl-sft":
            from trl import SFTConfig as args_class

            # The data arrive tokenized with labels (chat_data.py), so SFTTrainer only packs
            # them; its own defaults (gradient checkpointing and bf16 on) must not apply.
            extra = {"max_length": spec.max_length, "packing": spec.packing,
                     "assistant_only_loss": False, "completion_only_loss": False,
                     "gradient_checkpointing": spec.gradient_checkpointing}
        return args_class(
            **extra,
            output_dir=str(run_dir / "checkpoints"),
            per_device_train_batch_size=spec.batch_size,
            per_device_eval_batch_size=spec.batch_size * 2,
            num_train_epochs=spec.num_epochs, max_steps=max_steps,
            learning_rate=spec.learning_rate, weight_decay=spec.weight_decay,
            adam_beta1=spec.adam_beta1, adam_beta2=spec.adam_beta2,
            optim=trainer_optimizer(spec), lr_scheduler_type=spec.scheduler,
            warmup_steps=spec.warmup_ratio,  # a float < 1 is a ratio of the total steps
            gradient_accumulation_steps=spec.grad_accum, max_grad_norm=spec.max_grad_norm,
            seed=spec.seed, bf16=spec.precision == "bf16", fp16=spec.precision == "fp16",
            activation_checkpointing=spec.gradient_checkpointing,
            use_cpu=spec.device == "cpu",
            logging_strategy="steps", logging_steps=spec.logging_steps, logging_first_step=True,
            # The default filter hides NaN/inf losses (and syncs every step): we want to see them.
            logging_nan_inf_filter=False,
            eval_strategy=eval_strategy, eval_steps=spec.eval_steps or None,
            save_strategy="steps" if spec.save_steps else "epoch",
            save_steps=spec.save_steps or 500,
            # Trainer's token count syncs the device every step (.item()); TokenCounter counts
            # on the host in the collator instead.
            include_num_input_tokens_seen=False, report_to="none", disable_tqdm=True,
            dataloader_pin_memory=spec.device.startswith("cuda"),
            label_names=list(task_info(spec.task).label_names),
            # With several processes Trainer multiplies the loss by their number, expecting the
            # model to divide a summed token loss by the global token count. Sequence
            # classification losses are batch means that ignore that count, so the scaling
            # would double the gradients (and the logged loss) on 2 ranks: measured here.
            average_tokens_across_devices=spec.task != "sequence-classification",
        )

    # -- run --------------------------------------------------------------------------------
    def run(self) -> RunResult:
        """Set up (raising WorkbenchError on bad spec/data), train, save, and report."""
        import transformers

        from workbench.core.model.loading import load_tokenizer
        from workbench.core.model.parameters import count_parameters
        from workbench.core.training.data import make_collator, prepare_data
        from workbench.core.training.evaluate import metrics_functions
        from workbench.core.training.memory_plan import planned_steps
        from workbench.core.training.model_setup import build_model

        transformers.utils.logging.disable_progress_bar()
        run_dir = self._prepare_run_dir()
        if self.rank.is_main:  # the other ranks' events go to their logs/rank-N.log only
            self.metrics_log = MetricsLog(run_dir)
        if self.rank.is_main and self.watch_control_file:
            from workbench.core.training.control_file import ControlFileWatcher

            self._watcher = ControlFileWatcher(run_dir, self.control).start()
        try:
            self.status("loading tokenizer and data")
            tokenizer = load_tokenizer(self.spec.model_path)
            if tokenizer.pad_token is None:
                # Causal LMs often ship without a pad token; padding with EOS is the convention.
                tokenizer.pad_token = tokenizer.eos_token
            data = prepare_data(self.spec, tokenizer)
            for note in data.notes:
                self.status(note)
            check_training_fits(self.spec, len(data.label_names))
            self.status(f"loading model ({data.num_train_rows} training rows)")
            model = build_model(self.spec, data.label_names)
            trainable, total = count_parameters(model)
            self.status(f"model ready: {trainable:,} of {total:,} parameters trainable")
            steps_per_epoch = planned_steps(self.spec.replace(max_steps=-1, num_epochs=1.0),
                                            data.num_train_rows)
            check_device(self.spec)
            try:
                args = self._training_args(run_dir, data.eval is not None, steps_per_epoch)
            except ValueError as e:  # e.g. bf16 on a GPU without bf16 support
                raise WorkbenchError(f"transformers rejected the training settings: {e}") \
                    from None
            total = args.max_steps if args.max_steps > 0 else math.ceil(
                args.num_train_epochs * steps_per_epoch)
            done = self.resumed_step
            if done >= total and not has_final_model(run_dir):
                # Killed during the final save: only final/ is missing, rebuild it.
                self.rebuild_final = True
            elif done >= total:
                raise WorkbenchError(
                    f"This run already reached step {done} of {total}. To train more, extend "
                    f"it by some epochs (--extend-epochs N); to train it again, start over "
                    f"(workbench train {run_dir / SPEC_NAME} --restart) or start a new run "
                    f"in another output folder.")
            compute_metrics, preprocess = metrics_functions(self.spec.task, data)
            trainer_cls = make_trainer_class(self.spec.task)
            trainer = trainer_cls(
                model=model, args=args, train_dataset=data.train, eval_dataset=data.eval,
                processing_class=tokenizer, data_collator=make_collator(self.spec, tokenizer,
                                                                        model),
                compute_metrics=compute_metrics, preprocess_logits_for_metrics=preprocess)
        except BaseException as e:
            self._record_setup_failure(e)
            self._close_logs()
            raise
        trainer.workbench_run_dir = run_dir
        trainer.workbench_tokens = TokenCounter()
        trainer.workbench_keep = self.spec.keep_checkpoints
        return self._train(trainer, run_dir, model, tokenizer)

    def _train(self, trainer: Any, run_dir: Path, model: Any, tokenizer: Any) -> RunResult:
        from workbench.core.training.callbacks import EventCallback

        spec = self.spec
        callback = EventCallback(
            self.emit, self.control, spec.task, spec.device, spec.stop_on_nan,
            samples_per_step=spec.batch_size * spec.grad_accum, tokens=trainer.workbench_tokens,
            time_offset=self.time_offset, started_at=self.t0,
            sync=_control_sync(spec.device) if self.rank.is_distributed else None)
        from transformers.trainer_callback import PrinterCallback, ProgressCallback

        # Trainer prints log dicts to stdout, which would corrupt the CLI's JSON event stream.
        trainer.remove_callback(PrinterCallback)
        trainer.remove_callback(ProgressCallback)
        trainer.add_callback(callback)
        for extra in self.extra_callbacks:
            trainer.add_callback(extra)
        self.control.live_model, self.control.live_tokenizer = model, tokenizer
        state = trainer.state
        try:
            if self.rebuild_final:
                self._load_last_checkpoint(trainer, callback)
            else:
                trainer.train(resume_from_checkpoint=str(self.checkpoint) if self.checkpoint
                              else None)
            state = trainer.state
            if callback.nan_message:
                return self._end("failed", callback, state, run_dir, None,
                                 callback.nan_message)
            # The decision taken at a step boundary (the same on every rank), not the control
            # read now: a cancel that came after the last step leaves a finished run, and on
            # one rank alone it would skip the final save the others wait for.
            if callback.stopped_by_user:
                saved = " A checkpoint was saved; resume to continue." if \
                    callback.last_save_step == state.global_step else ""
                return self._end("cancelled", callback, state, run_dir, None,
                                 f"Cancelled at step {state.global_step}.{saved}")
            final_dir = self._save_final(trainer, run_dir, tokenizer)
            if trainer.eval_dataset is not None and callback.last_eval_step != state.global_step:
                trainer.evaluate()  # reported through callback.on_evaluate
            if spec.task == "chat-sft" and spec.sample_prompts and self.rank.is_main:
                from workbench.core.training.chat_samples import save_sample_answers

                self.emit(save_sample_answers(spec, run_dir, trainer.model, tokenizer, state,
                                              callback.elapsed()))
            if spec.method == "lora" and spec.save_merged and self.rank.is_main:
                merged = merge_lora(run_dir)
                self.emit(TrainEvent("status", int(state.global_step), int(state.max_steps),
                                     float(state.epoch or 0), callback.elapsed(), {},
                                     f"saved the merged model to {merged}"))
            return self._end("finished", callback, state, run_dir, final_dir,
                             f"Finished at step {state.global_step}; model in {final_dir}.")
        except Exception as e:
            state = trainer.state
            step = int(state.global_step)
            if is_out_of_memory(e):
                message, details = oom_message(spec, step), ""
            else:
                message, details = failure_message(e, step, self.checkpoint, run_dir)
            if details:
                _append_error_log(run_dir, message, details)
                from workbench.core.logs import log_unexpected

                log_unexpected(message.split("\n", 1)[0], details)
            return self._end("failed", callback, state, run_dir, None, message, details)
        finally:
            self.control.live_model = self.control.live_tokenizer = None
            trainer.model = trainer.model_wrapped = trainer.optimizer = None
            del trainer, model
            if self.free_memory:  # a full collection: 0.5-1 s with torch loaded, for nothing
                gc.collect()  # in a process that exits next
            devices.empty_cache(spec.device)
            self._close_logs()

    def _record_setup_failure(self, error: BaseException) -> None:
        """End metrics.jsonl with the "failed" event of a run that never started training.

        The caller reports the error itself (the CLI prints its own events); this record is
        for whoever reads the folder: the Runs list and a follower show "failed" with the
        reason instead of a run that went quiet, and the ranks on other machines (PeerWatch)
        see that the main rank is gone even when its console is a terminal (a hand-started
        launch.sh), instead of waiting for the process group's timeout."""
        if self.metrics_log is None:
            return
        from workbench.core.training.faults import setup_failure_message

        message = setup_failure_message(error)
        self.metrics_log.write(TrainEvent("failed", self.resumed_step, 0, 0.0, self.elapsed(),
                                          {}, message))

    def _close_logs(self) -> None:
        if getattr(self, "_peer_watch", None) is not None:
            self._peer_watch.stop()  # this rank's run has ended: nothing left to wait for
        if self.metrics_log is not None:
            self.metrics_log.close()
        if getattr(self, "_watcher", None) is not None:
            self._watcher.stop()

    def _load_last_checkpoint(self, trainer: Any, callback: Any) -> None:
        """Load the weights and state of the run's last checkpoint without training a step."""
        from transformers import TrainerState

        assert self.checkpoint is not None
        self.status(f"the final save was interrupted; rebuilding {FINAL_NAME}/ from "
                    f"{self.checkpoint.name}")
        # Trainer has no public "load a checkpoint's weights" call; _load_from_checkpoint is the
        # loader train(resume_from_checkpoint=...) itself uses (safetensors, LoRA adapters).
        trainer._load_from_checkpoint(str(self.checkpoint))
        trainer.state = TrainerState.load_from_json(str(self.checkpoint / "trainer_state.json"))
        callback.max_steps = int(trainer.state.max_steps)

    def _end(self, status: str, callback: Any, state: Any, run_dir: Path,
             final_dir: Path | None, message: str, details: str = "") -> RunResult:
        metrics = dict(callback.last_metrics)
        self.emit(TrainEvent(status, int(state.global_step),
                             int(state.max_steps or callback.max_steps),
                             float(state.epoch or 0.0), callback.elapsed(), metrics, message))
        return RunResult(run_dir=str(run_dir),
                         final_model_dir=str(final_dir) if final_dir else None,
                         metrics=metrics, status=status, message=message, details=details)

    def _save_final(self, trainer: Any, run_dir: Path, tokenizer: Any) -> Path:
        """Write final/ (weights as safetensors + tokenizer; LoRA: the adapter) atomically."""
        final = run_dir / FINAL_NAME
        if self.rank.is_distributed:
            # Every rank takes part in save_model (FSDP gathers shards), so all need one path.
            staged = run_dir / ".tmp-final-distributed"
            if self.rank.is_main:
                shutil.rmtree(staged, ignore_errors=True)
                staged.mkdir()
            barrier()
        else:
            staged = staging_folder(run_dir, ".tmp-final-")

        def write() -> None:
            trainer.save_model(str(staged))  # safetensors; a PeftModel saves just its adapter
            if not self.rank.is_main:
                return  # save_model wrote on the main rank only
            if self.spec.method == "lora":
                # The base config with this run's head (labels): the adapter reloads as trained.
                trainer.model.get_base_model().config.save_pretrained(str(staged))
            tokenizer.save_pretrained(str(staged))
            commit_folder(staged, final, replace=True)  # fsync, ordinary permissions, rename

        save_or_clean_up(write, staged, "the final model", run_dir, trainer)
        if self.rank.is_distributed:
            barrier()
        if not self.rank.is_main:
            return final
        self.emit(TrainEvent("status", int(trainer.state.global_step),
                             int(trainer.state.max_steps), float(trainer.state.epoch or 0),
                             self.elapsed(), {},
                             f"saved the final model to {final}"))
        return final


def _run_exists_error(run_dir: Path) -> RunFolderInUseError:
    """Why a new run cannot use `run_dir`, pointing only at actions that will work."""
    from workbench.core.training.checkpoints import latest_checkpoint

    checkpoint = latest_checkpoint(run_dir)
    if checkpoint is None:
        return RunFolderInUseError(
            f"{run_dir} holds a training run that stopped before its first checkpoint, so it "
            f"cannot be resumed. Start over in this folder (workbench train SPEC --restart, or "
            f"'Start over' in the Fine-tune tab), or choose an empty output folder for a new "
            f"run.")
    return RunFolderInUseError(
        f"{run_dir} already holds a training run (newest complete checkpoint: "
        f"{checkpoint.name}). Resume it (workbench train --resume {run_dir}), start over "
        f"(workbench train SPEC --restart: deletes its checkpoints and model), or choose an "
        f"empty output folder for a new run.")


def _append_error_log(run_dir: Path, message: str, details: str) -> None:
    """Keep the traceback of an unexpected failure in the run's error.log (not the message)."""
    try:
        with (run_dir / ERROR_LOG_NAME).open("a", encoding="utf-8") as f:
            f.write(f"{time.strftime('%Y-%m-%d %H:%M:%S')} {message}\n{details}\n")
    except OSError:
        pass  # a full disk: the traceback still travels in RunResult.details and --debug


def merge_lora(run_dir: str | Path) -> Path:
    """Merge a LoRA run's adapter into its base model and save run_dir/merged (safetensors)."""
    from workbench.core.training.evaluate import load_trained_model
    from workbench.core.training.runs import load_run_spec

    run = Path(run_dir)
    adapter = run / FINAL_NAME
    if not (adapter / "adapter_config.json").is_file():
        raise WorkbenchError(f"{run} has no LoRA adapter in {FINAL_NAME}/ to merge.")
    merged = load_trained_model(adapter, load_run_spec(run).task).merge_and_unload()
    with atomic_folder(run / MERGED_NAME, replace=True) as staged:
        merged.save_pretrained(str(staged))
        for name in TOKENIZER_FILES:
            if (adapter / name).is_file():
                shutil.copy2(adapter / name, staged / name)
    return run / MERGED_NAME


def _control_sync(device: str):
    from workbench.core.training.distributed import ControlSync

    return ControlSync(device)
