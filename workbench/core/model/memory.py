"""Memory estimates from a parameter count: inference at several precisions and full fine-tuning."""

from __future__ import annotations

from dataclasses import asdict, dataclass

GIB = 1024**3


@dataclass(frozen=True)
class MemoryEstimate:
    """Bytes needed for the weights at each precision, and for AdamW full fine-tuning."""

    num_parameters: int
    fp32: int
    bf16: int
    int8: int
    int4: int
    adamw_fp32: int  # fp32 weights + grads + two fp32 optimizer states (16 B/param)
    adamw_mixed: int  # bf16 weights + bf16 grads + fp32 master copy + two fp32 states (16 B/param)

    def to_json(self) -> dict:
        return asdict(self)


def estimate_memory(num_parameters: int) -> MemoryEstimate:
    """Estimate memory (bytes, activations excluded) for `num_parameters` parameters."""
    n = int(num_parameters)
    return MemoryEstimate(
        num_parameters=n,
        fp32=4 * n, bf16=2 * n, int8=n, int4=(n + 1) // 2,
        adamw_fp32=(4 + 4 + 4 + 4) * n,
        adamw_mixed=(2 + 2 + 4 + 4 + 4) * n,
    )
