"""Before launch: planned steps, the learning-rate schedule, and a rough memory estimate."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

from workbench.core.devices import device_memory
from workbench.core.model.config_roles import ConfigSizes, config_sizes
from workbench.core.model.parameters import count_parameters
from workbench.core.training.spec import TrainSpec
from workbench.core.training.tasks import auto_model_class, task_info

_BYTES = {"fp32": 4, "bf16": 2, "fp16": 2}


def planned_steps(spec: TrainSpec, num_train_rows: int) -> int:
    """Optimizer steps the run will take (max_steps, or epochs x steps per epoch)."""
    if spec.max_steps > 0:
        return spec.max_steps
    # Trainer's formula: batches per epoch, then optimizer steps rounding up the remainder.
    per_epoch = max(1, math.ceil(math.ceil(num_train_rows / spec.batch_size) / spec.grad_accum))
    return max(1, math.ceil(spec.num_epochs * per_epoch))


def lr_schedule(spec: TrainSpec, num_steps: int) -> list[float]:
    """The learning rate at each of `num_steps` steps, from transformers' own schedulers."""
    import torch
    from transformers import get_scheduler

    num_steps = max(1, int(num_steps))
    param = torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.SGD([param], lr=spec.learning_rate)
    warmup = math.ceil(num_steps * spec.warmup_ratio)
    scheduler = get_scheduler(spec.scheduler, optimizer, num_warmup_steps=warmup,
                              num_training_steps=num_steps)
    rates = []
    for _ in range(num_steps):
        # Trainer logs the rate used by each step, i.e. before that step's scheduler.step().
        rates.append(float(scheduler.get_last_lr()[0]))
        optimizer.step()
        scheduler.step()
    return rates


@dataclass(frozen=True)
class MemoryPlan:
    """Bytes a run needs on its device, by part, and whether it fits."""

    total_parameters: int
    trainable_parameters: int
    weights: int
    gradients: int
    optimizer_states: int
    activations: int | None  # None when the config does not give the sizes it depends on
    total: int
    device_bytes: int | None  # None when unknown
    warnings: list[str] = field(default_factory=list)

    @property
    def fits(self) -> bool:
        """False when the estimate exceeds what the device has."""
        return self.device_bytes is None or self.total <= self.device_bytes

    def to_json(self) -> dict:
        return dict(asdict(self), fits=self.fits)


def _meta_model(spec: TrainSpec, num_labels: int) -> Any:
    """The model for spec.task built on the meta device: shapes only, no memory, ~fast."""
    import torch
    import transformers

    from workbench.core.model.loading import pretrained_source

    folder, source = pretrained_source(spec.model_path)
    if source:  # a GGUF file: transformers' config from its metadata, without the vocabulary
        from workbench.core.checkpoint.gguf_model import gguf_config_dict
        from workbench.core.model.architecture import config_from_dict

        config = config_from_dict(gguf_config_dict(folder / source["gguf_file"]))
    else:
        config = transformers.AutoConfig.from_pretrained(folder, trust_remote_code=False)
    if task_info(spec.task).classifies:
        config.num_labels = max(2, num_labels)
    auto = auto_model_class(spec.task)
    with torch.device("meta"):
        return auto.from_config(config, trust_remote_code=False)


def _lora_trainable(model: Any, spec: TrainSpec) -> int:
    from workbench.core.training.lora_targets import matches
    from workbench.core.training.model_setup import default_lora_targets

    targets = spec.lora_target_modules or default_lora_targets(model)
    count = 0
    for name, module in model.named_modules():
        if matches(targets, name) and hasattr(module, "weight"):
            rows, cols = module.weight.shape[:2]
            count += spec.lora_r * (rows + cols)
    head = getattr(model, "classifier", None) or getattr(model, "score", None)
    if head is not None and task_info(spec.task).classifies:
        count += sum(p.numel() for p in head.parameters())
    return count


def _activation_bytes(spec: TrainSpec, sizes: ConfigSizes, width: int) -> int | None:
    """Activations kept for the backward pass, or None when the config lacks a size it needs."""
    hidden, layers, heads = sizes.hidden, sizes.layers, sizes.heads
    if hidden is None or layers is None or heads is None:
        return None  # never a BERT-base guess: a wrong size is worse than "unknown"
    s, b = spec.max_length, spec.batch_size
    # Korthikanti et al. 2022: about s*b*h*(34 + 5*a*s/h) bytes per layer at 2-byte activations.
    per_layer = s * b * hidden * (34 + 5 * heads * s / hidden) * (width / 2)
    if spec.gradient_checkpointing:
        activations = int(layers * s * b * hidden * width + per_layer)
    else:
        activations = int(layers * per_layer)
    if task_info(spec.task).reports_perplexity and sizes.vocab:
        activations += b * s * sizes.vocab * 4 * 2  # fp32 logits and their gradient
    return activations


def estimate_training_memory(spec: TrainSpec, num_labels: int = 2) -> MemoryPlan:
    """Rough bytes for weights, gradients, optimizer states and activations of this run."""
    model = _meta_model(spec, num_labels)
    config = model.config
    total = count_parameters(model).total
    if spec.method == "lora":
        trainable = _lora_trainable(model, spec)
    else:
        trainable = total
        if spec.freeze_embeddings:
            trainable -= model.get_input_embeddings().weight.numel()
    width = _BYTES[spec.precision]
    # Mixed precision keeps fp32 master weights in the optimizer; weights/grads at 2 bytes.
    weights = total * 4 + (trainable * width if spec.precision != "fp32" else 0)
    gradients = trainable * 4
    states = {"adamw_torch": 8, "adafactor": 4, "sgd": 0}[spec.optimizer] * trainable
    activations = _activation_bytes(spec, config_sizes(config), width)
    warnings = []
    if activations is None:
        warnings.append(
            "Activation memory is unknown: the config does not say its hidden size, layer "
            "count and attention heads (e.g. an attention-free model), so the total counts "
            "weights, gradients and optimizer states only.")
    need = weights + gradients + states + (activations or 0)
    available = device_memory(spec.device)
    if available is not None and need > available:
        warnings.append(
            f"The run needs about {need / 2**30:.1f} GiB but {spec.device} has "
            f"{available / 2**30:.1f} GiB: lower batch_size or max_length, use LoRA, "
            f"gradient checkpointing or bf16.")
    return MemoryPlan(total_parameters=total, trainable_parameters=trainable, weights=weights,
                      gradients=gradients, optimizer_states=states, activations=activations,
                      total=need, device_bytes=available, warnings=warnings)
