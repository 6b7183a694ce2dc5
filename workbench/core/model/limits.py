"""Bounds on the work a config can ask for, checked before any model (even a meta one) is built.

A meta model costs time and memory per module, not per weight: `num_hidden_layers=1000000`
made inspect run for minutes and past 1.9 GB. The largest public checkpoints have < 200
layers and < 2,000,000 tensors, so the limits below leave a wide margin. Real allocations
(random-weight builds, loading weights, a CPU trace, attention) are checked against the free
memory of their device first (`ensure_fits`).
"""

from __future__ import annotations

from typing import Any

from workbench.core.errors import InsufficientMemoryError, InvalidConfigError
from workbench.core.units import human_bytes

MAX_LAYERS = 512  # Llama-3.1-405B has 126 layers; the largest public models < 200
MAX_EXPERTS = 1024  # DeepSeek-V3 has 256 routed experts per layer
LAYER_FIELDS = ("num_hidden_layers", "num_layers", "num_decoder_layers", "encoder_layers",
                "decoder_layers", "n_layer", "n_layers", "num_encoder_layers")
EXPERT_FIELDS = ("num_local_experts", "num_experts", "n_routed_experts", "moe_num_experts")
# transformers builds id2label/label2id with one entry per label when it reads num_labels:
# 2**64 labels ran out of memory. ImageNet-22k has 21,843; extreme classifiers ~500,000.
MAX_LABELS = 1_000_000
MEMORY_HEADROOM = 0.9  # leave 10% of the free memory to the OS and the app itself


def structure_problems(values: dict[str, Any]) -> list[tuple[str, str]]:
    """(field, message) for every layer or expert count above its limit, sub-configs included."""
    found: list[tuple[str, str]] = []
    stack: list[tuple[str, dict[str, Any]]] = [("", values)]
    while stack:  # iterative: sub-configs (text_config, vision_config...) nest a level or two
        prefix, data = stack.pop()
        for name, value in data.items():
            if isinstance(value, dict) and prefix.count(".") < 4:
                stack.append((f"{prefix}{name}.", value))
                continue
            if type(value) is not int:
                continue
            if name in LAYER_FIELDS and value > MAX_LAYERS:
                found.append((prefix + name, (
                    f"{prefix}{name} = {value:,} is above the limit of {MAX_LAYERS} layers "
                    f"(the largest public models have fewer than 200); building it would take "
                    f"minutes and gigabytes. Use {MAX_LAYERS} or fewer.")))
            elif name == "num_labels" and value > MAX_LABELS:
                found.append((prefix + name, (
                    f"{prefix}{name} = {value:,} is above the limit of {MAX_LABELS:,} labels "
                    f"(transformers makes a name for each). Use {MAX_LABELS:,} or fewer.")))
            elif name in EXPERT_FIELDS and value > MAX_EXPERTS:
                found.append((prefix + name, (
                    f"{prefix}{name} = {value:,} is above the limit of {MAX_EXPERTS} experts "
                    f"per layer (DeepSeek-V3 has 256). Use {MAX_EXPERTS} or fewer.")))
    return found


def check_structure(values: dict[str, Any], source: str = "The config") -> None:
    """Raise InvalidConfigError when the config asks for more layers or experts than allowed."""
    problems = structure_problems(values)
    if problems:
        raise InvalidConfigError(f"{source}: " + " | ".join(msg for _, msg in problems))


def free_memory(device: str = "cpu") -> int | None:
    """Bytes free for new allocations on `device`, or None when it cannot be told."""
    if device.startswith(("cuda", "gpu")):
        try:
            import torch

            index = int(device.split(":")[1]) if ":" in device else 0
            free, _total = torch.cuda.mem_get_info(index)
            return int(free)
        except Exception:  # no CUDA build / no such device: the build itself will say so
            return None
    if device != "cpu" and not device.startswith("cpu"):
        return None  # mps/xpu: no portable free-memory query
    try:
        import psutil

        return int(psutil.virtual_memory().available)
    except ImportError:
        pass
    try:  # Linux without psutil
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def ensure_fits(nbytes: int, device: str, what: str, fix: str) -> None:
    """Raise InsufficientMemoryError when `nbytes` will not fit in `device`'s free memory."""
    free = free_memory(device)
    if free is None or nbytes <= free * MEMORY_HEADROOM:
        return
    raise InsufficientMemoryError(
        f"{what} needs about {human_bytes(nbytes)} on {device}, but only {human_bytes(free)} is "
        f"free there. Nothing was allocated or written. {fix}")
