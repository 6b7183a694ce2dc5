"""Device discovery: one answer for forms, the status line and pre-flight checks."""

from __future__ import annotations

import pytest
import torch

from workbench.core.devices import (
    available_devices,
    check_device,
    device_memory,
    device_names,
)
from workbench.core.errors import WorkbenchError


def test_devices_follow_what_torch_sees():
    names = device_names()
    gpus = torch.cuda.device_count() if torch.cuda.is_available() else 0
    assert names[0] == "cpu"
    assert [n for n in names if n.startswith("cuda")] == [f"cuda:{i}" for i in range(gpus)]
    cpu = available_devices()[0]
    assert cpu.label == "CPU" and cpu.total_memory == device_memory("cpu") > 0
    for name in names:
        check_device(name)  # everything listed is usable


def test_unusable_devices_are_refused_with_what_to_do():
    gpus = torch.cuda.device_count() if torch.cuda.is_available() else 0
    with pytest.raises(WorkbenchError, match=rf"cuda:{gpus} is not available \({gpus} CUDA"):
        check_device(f"cuda:{gpus}")
    assert device_memory(f"cuda:{gpus}") is None
    with pytest.raises(WorkbenchError, match="cuda or cuda:N"):
        check_device("cuda:first")
    with pytest.raises(WorkbenchError, match="not cpu, mps or cuda:N"):
        check_device("tpu")
    if "mps" not in device_names():
        with pytest.raises(WorkbenchError, match="mps"):
            check_device("mps")
