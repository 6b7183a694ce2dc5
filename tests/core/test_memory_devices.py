"""The memories the Overview draws lines for: RAM always, then each CUDA GPU's own memory."""

from __future__ import annotations

import torch

from workbench.core.devices import (
    DeviceInfo,
    available_devices,
    memory_devices,
    ram_device,
    system_memory,
)


def test_ram_first_then_every_gpu_torch_sees():
    found = memory_devices(available_devices())
    gpus = torch.cuda.device_count() if torch.cuda.is_available() else 0
    assert found[0] == ram_device() and found[0].total_memory == system_memory() > 0
    assert [d.name for d in found[1:]] == [f"cuda:{i}" for i in range(gpus)]
    for i, d in enumerate(found[1:]):
        assert d.total_memory == torch.cuda.get_device_properties(i).total_memory


def test_mps_and_unknown_sizes_add_no_line_and_no_argument_means_ram_only():
    devices = [DeviceInfo("cpu", "CPU", 8 * 2**30), DeviceInfo("mps", "", 8 * 2**30),
               DeviceInfo("cuda:0", "NVIDIA H200 (139 GiB)", 139 * 2**30),
               DeviceInfo("cuda:1", "?", None)]
    assert [d.name for d in memory_devices(devices)] == ["cpu", "cuda:0"]
    assert memory_devices(devices)[0].total_memory == system_memory()  # this machine's RAM
    assert memory_devices() == [ram_device()]
