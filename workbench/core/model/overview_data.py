"""What the Overview's charts show, as plain numbers: the parameter breakdown and the dtype mix
as segments of a whole, and the weights at each precision against each device's memory.

Qt-free so the numbers behind every bar can be tested (and printed by a CLI); the Qt layer only
draws them. The facts come from their owners: `parameter_breakdown` and `memory_rows`
(breakdown.py), the memory estimate (memory.py), the devices (core/devices.py).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from workbench.core.devices import DeviceInfo
from workbench.core.model.breakdown import (
    MemoryRow,
    ParameterBreakdown,
    fits_on,
    memory_rows,
    parameter_breakdown,
)

if TYPE_CHECKING:  # inspection builds on core.model; the data only reads its result
    from workbench.core.checkpoint.inspection import CheckpointInfo


@dataclass(frozen=True)
class Segment:
    """One part of a stacked bar: its label, its value and its share of the bar (0..1)."""

    label: str
    value: int
    share: float


@dataclass(frozen=True)
class DeviceLine:
    """A device's memory as a line across the memory bars."""

    name: str  # the line's label: "RAM", "cuda:0"
    description: str  # what it is: "RAM", "NVIDIA H200 (139 GiB)"
    total: int  # bytes


@dataclass(frozen=True)
class OverviewData:
    """The numbers behind the Overview's Parameters, DType mix and Memory cards."""

    parameters: int  # the model's parameters (tied weights once); stored elements without a tree
    breakdown: ParameterBreakdown | None
    parameter_parts: tuple[Segment, ...]  # embeddings / blocks / head / other, zeros left out
    dtype_bytes: tuple[Segment, ...]  # stored bytes per dtype, largest first
    dtype_elements: dict[str, int]  # stored elements per dtype
    memory: tuple[MemoryRow, ...]  # the weights at fp32 ... int4 (+ as stored), with fits
    finetune: tuple[MemoryRow, ...]  # full fine-tuning with AdamW (fp32, mixed precision)
    devices: tuple[DeviceLine, ...]  # RAM, then each CUDA GPU

    def exceeds(self, row: MemoryRow) -> tuple[str, ...]:
        """The devices `row` does not fit in."""
        return tuple(d.name for d in self.devices if d.name not in row.fits)


def segments(pairs: Iterable[tuple[str, int]]) -> tuple[Segment, ...]:
    """(label, value) pairs as segments of their sum; zero values are left out."""
    kept = [(label, int(value)) for label, value in pairs if value > 0]
    total = sum(v for _, v in kept)
    return tuple(Segment(label, v, v / total) for label, v in kept)


def device_lines(devices: Sequence[DeviceInfo]) -> tuple[DeviceLine, ...]:
    """Devices with a known memory size as lines: the CPU's is named "RAM"."""
    return tuple(DeviceLine("RAM" if d.name == "cpu" else d.name,
                            d.description or d.name, int(d.total_memory))
                 for d in devices if d.total_memory)


def dtype_bytes(info: CheckpointInfo) -> dict[str, int]:
    """Stored bytes per dtype (GGUF block types included), in the order dtypes first appear."""
    out: dict[str, int] = {}
    for t in info.tensors:
        out[t.dtype] = out.get(t.dtype, 0) + t.nbytes
    return out


def overview_data(info: CheckpointInfo, devices: Sequence[DeviceInfo],
                  breakdown: ParameterBreakdown | None = None) -> OverviewData:
    """The chart data for `info` against `devices` (see core.devices.memory_devices);
    `breakdown`: parameter_breakdown of `info`, where already known."""
    if breakdown is None:
        breakdown = parameter_breakdown(info.module_tree, info.tensors)
    if breakdown is not None and breakdown.parameters:
        parameters, parts = breakdown.parameters, segments(breakdown.parts())
    else:
        parameters, parts = info.num_parameters, ()
    by_dtype = sorted(dtype_bytes(info).items(), key=lambda kv: -kv[1])
    lines = device_lines(devices)
    targets = [(d.name, d.total) for d in lines]
    memory = finetune = ()
    if info.memory is not None:
        m = info.memory
        memory = tuple(memory_rows(m, targets, as_stored=bool(info.gguf or info.quantization)))
        finetune = tuple(MemoryRow(label, size, fits_on(size, targets))
                         for label, size in (("AdamW fp32", m.adamw_fp32),
                                             ("AdamW mixed", m.adamw_mixed)))
    return OverviewData(parameters=parameters, breakdown=breakdown, parameter_parts=parts,
                        dtype_bytes=segments(by_dtype), dtype_elements=dict(info.dtypes),
                        memory=memory, finetune=finetune, devices=lines)
