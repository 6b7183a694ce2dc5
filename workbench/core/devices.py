"""Which compute devices exist here, how much memory they have, and whether a name is usable.

The one place that asks torch about CUDA and MPS; every form, status line and pre-flight check
calls it. Importing torch costs ~1.6 s, so the GUI calls these functions from a worker.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

from workbench.core.errors import WorkbenchError


@dataclass(frozen=True)
class DeviceInfo:
    """One device torch can use: its torch name ('cpu', 'cuda:0', 'mps') and what it is."""

    name: str
    description: str  # e.g. "NVIDIA H200 (139 GiB)", "CPU"
    total_memory: int | None  # bytes; None when unknown

    @property
    def label(self) -> str:
        """'cuda:0 NVIDIA H200 (139 GiB)', 'mps', 'CPU': for a status line."""
        return self.description if self.name == "cpu" else (
            f"{self.name} {self.description}".strip() if self.description else self.name)


def _mps_available(torch) -> bool:
    mps = getattr(torch.backends, "mps", None)  # absent from some CPU-only builds
    return bool(mps is not None and mps.is_available())


def available_devices() -> list[DeviceInfo]:
    """cpu, then each CUDA GPU, then Apple's MPS, as far as they exist here."""
    import torch

    devices = [DeviceInfo("cpu", "CPU", system_memory())]
    if torch.cuda.is_available():
        for i in range(torch.cuda.device_count()):
            props = torch.cuda.get_device_properties(i)
            devices.append(DeviceInfo(f"cuda:{i}", f"{props.name} "
                                      f"({props.total_memory / 2**30:.0f} GiB)",
                                      int(props.total_memory)))
    if _mps_available(torch):
        devices.append(DeviceInfo("mps", "", system_memory()))  # MPS shares system memory
    return devices


def ram_device() -> DeviceInfo:
    """This machine's RAM as a device (no torch needed): what the CPU computes in."""
    return DeviceInfo("cpu", "RAM", system_memory())


def memory_devices(found: Sequence[DeviceInfo] | None = None) -> list[DeviceInfo]:
    """The separate memories a model's weights could be put in: RAM, then each CUDA GPU's own.

    `found` is `available_devices()` (it imports torch; call it from a worker); without it,
    RAM only. MPS shares the RAM, so it adds no memory of its own; unknown sizes are left out.
    """
    ram = ram_device()
    gpus = [d for d in found or () if d.name.startswith("cuda")]
    return [d for d in (ram, *gpus) if d.total_memory]


def device_names() -> list[str]:
    """The torch names of the devices here: ['cpu', 'cuda:0', ..., 'mps']."""
    return [d.name for d in available_devices()]


def system_memory() -> int | None:
    """Physical memory of this machine in bytes, or None where the OS does not say."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None


def device_memory(device: str) -> int | None:
    """Total memory of the device in bytes (CUDA: the GPU's; CPU and MPS: system RAM)."""
    if device.startswith("cuda"):
        import torch

        if not torch.cuda.is_available():
            return None
        index = int(device.split(":")[1]) if ":" in device else 0
        if index >= torch.cuda.device_count():
            return None
        return int(torch.cuda.get_device_properties(index).total_memory)
    return system_memory()


def check_device(device: str, field: str = "device") -> None:
    """Raise a WorkbenchError when `device` is not usable here (torch would fail or fall back)."""
    import torch

    if device.startswith("cuda"):
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        suffix = device.partition(":")[2]
        if device != "cuda" and not suffix.isdigit():
            raise WorkbenchError(f"{field}: '{device}' is not a device name; write cuda or "
                                 f"cuda:N (N from 0).")
        index = int(suffix) if suffix else 0
        if index >= count:
            raise WorkbenchError(
                f"{field}: {device} is not available ({count} CUDA GPU(s) visible to "
                f"torch {torch.__version__}). Choose cpu, or install a CUDA build of torch.")
    elif device == "mps":
        if not _mps_available(torch):
            raise WorkbenchError(f"{field}: mps (Apple GPU) is not available here; choose cpu.")
    elif device != "cpu":
        raise WorkbenchError(f"{field}: '{device}' is not cpu, mps or cuda:N.")


def empty_cache(device: str) -> None:
    """Return cached, unused accelerator memory to the driver (a no-op on the CPU)."""
    import torch

    if device.startswith("cuda") and torch.cuda.is_available():
        torch.cuda.empty_cache()
    elif device == "mps" and getattr(torch, "mps", None) is not None:
        torch.mps.empty_cache()
