"""Build the model to train: the task head (sized from the labels), freezing, LoRA adapters."""

from __future__ import annotations

import pickle
from typing import Any

from workbench.core.errors import MissingDependencyError, WorkbenchError
from workbench.core.training.lora_targets import (
    default_targets,
    leaf_names,
    linear_paths,
    model_modules,
)
from workbench.core.training.spec import TrainSpec
from workbench.core.training.tasks import auto_model_class, task_info


def load_for_task(spec: TrainSpec, label_names: list[str]):
    """Load spec.model_path with the head for spec.task (new head when labels are given).

    The names of weights that were newly initialised (missing from the checkpoint: the new
    head, sometimes a pooler) are kept in `model.workbench_new_weights`, so LoRA can train and
    save them too instead of losing them on reload.
    """
    import torch

    from workbench.core.errors import ModelBuildError
    from workbench.core.model.loading import pretrained_source

    kwargs: dict[str, Any] = {}
    if label_names:
        kwargs.update(num_labels=len(label_names),
                      id2label=dict(enumerate(label_names)),
                      label2id={n: i for i, n in enumerate(label_names)},
                      ignore_mismatched_sizes=True)
    # The new head's random init must depend on the seed only, for reproducible runs.
    torch.manual_seed(spec.seed)
    folder, source = pretrained_source(spec.model_path)  # source: {"gguf_file": ...} or {}
    auto = auto_model_class(spec.task)
    try:
        model, info = auto.from_pretrained(folder, dtype=torch.float32, trust_remote_code=False,
                                           output_loading_info=True, **source, **kwargs)
    except pickle.UnpicklingError as e:
        from workbench.core.errors import UnsafePickleError
        from workbench.core.training.faults import refused_content

        raise UnsafePickleError(
            f"Could not load {folder}: its weights file holds {refused_content(e)}, not plain "
            f"tensor data, so it was not loaded. Use a safetensors copy of this model (or "
            f"convert the file with a tool you trust).") from None
    except (OSError, ValueError, RuntimeError, KeyError) as e:
        raise ModelBuildError(f"Could not load {folder} for {spec.task}: {e}") from None
    if source:
        from workbench.core.model.loading import release_dequantized_gguf

        release_dequantized_gguf(model)
    new = set(info.get("missing_keys", [])) | {k[0] if isinstance(k, tuple) else k
                                              for k in info.get("mismatched_keys", [])}
    model.workbench_new_weights = sorted(new)
    model.train()
    return model


def linear_module_names(model: Any) -> list[str]:
    """Distinct leaf names of the model's layers LoRA can adapt (Linear, Conv1D...)."""
    return leaf_names(linear_paths(model_modules(model)))


def default_lora_targets(model: Any) -> tuple[str, ...] | str:
    """What LoRA adapts in `model` when the spec names nothing (see core.training.lora_targets)."""
    return default_targets(getattr(model.config, "model_type", ""), model_modules(model))


def _layer_list(model: Any):
    """The model's main stack of transformer blocks (the longest ModuleList), or None."""
    import torch

    best = None
    for _, module in model.named_modules():
        if isinstance(module, torch.nn.ModuleList) and (best is None or len(module) > len(best)):
            best = module
    return best


def apply_freezing(model: Any, spec: TrainSpec) -> None:
    """Freeze the embeddings and/or the first spec.freeze_layers blocks (full fine-tuning)."""
    if spec.freeze_embeddings:
        base = getattr(model, getattr(model, "base_model_prefix", ""), model)
        embeddings = getattr(base, "embeddings", None) or model.get_input_embeddings()
        for p in embeddings.parameters():
            p.requires_grad_(False)
    if spec.freeze_layers:
        layers = _layer_list(model)
        if layers is None:
            raise WorkbenchError("freeze_layers: this model has no list of layers to freeze.")
        if spec.freeze_layers > len(layers):
            raise WorkbenchError(f"freeze_layers: the model has {len(layers)} layers; "
                                 f"{spec.freeze_layers} cannot be frozen.")
        for layer in list(layers)[: spec.freeze_layers]:
            for p in layer.parameters():
                p.requires_grad_(False)


def apply_lora(model: Any, spec: TrainSpec):
    """Wrap `model` with LoRA adapters (peft); new heads stay fully trainable."""
    try:
        from peft import LoraConfig, get_peft_model
    except ImportError:
        raise MissingDependencyError("LoRA needs peft: `pip install peft`.") from None
    targets = spec.lora_target_modules or default_lora_targets(model)
    missing = set() if isinstance(targets, str) else set(targets) - set(linear_module_names(model))
    if missing:
        raise WorkbenchError(
            f"lora_target_modules: {', '.join(sorted(missing))} not found in the model. "
            f"Linear layers are: {', '.join(linear_module_names(model))}.")
    # Newly initialised modules (head, pooler...) must be trained and saved in full.
    new_modules = sorted({name.rsplit(".", 1)[0] for name in
                          getattr(model, "workbench_new_weights", [])})
    config = LoraConfig(r=spec.lora_r, lora_alpha=spec.lora_alpha,
                        lora_dropout=spec.lora_dropout,
                        target_modules=targets if isinstance(targets, str) else list(targets),
                        task_type=task_info(spec.task).peft_task_type,
                        modules_to_save=new_modules or None)
    return get_peft_model(model, config)


def build_model(spec: TrainSpec, label_names: list[str]):
    """The ready-to-train model: head, freezing, LoRA, gradient checkpointing."""
    model = load_for_task(spec, label_names)
    if spec.method == "lora":
        model = apply_lora(model, spec)
    else:
        apply_freezing(model, spec)
    if spec.gradient_checkpointing:
        if not getattr(model, "supports_gradient_checkpointing", True):
            raise WorkbenchError("gradient_checkpointing: this model does not support it; "
                                 "turn it off.")
        if spec.method == "lora":
            model.enable_input_require_grads()  # checkpointed frozen inputs need grads for LoRA
    return model

