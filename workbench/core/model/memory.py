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
    # The weights as stored: what a runtime that keeps them packed (llama.cpp for GGUF, the
    # GPTQ/AWQ/bitsandbytes kernels) needs; None when nothing is stored (config only).
    as_stored: int | None = None

    def to_json(self) -> dict:
        return asdict(self)


def estimate_memory(num_parameters: int, stored_bytes: int | None = None) -> MemoryEstimate:
    """Estimate memory (bytes, activations excluded) for `num_parameters` parameters, stored in
    `stored_bytes` on disk."""
    n = int(num_parameters)
    return MemoryEstimate(
        num_parameters=n,
        fp32=4 * n, bf16=2 * n, int8=n, int4=(n + 1) // 2,
        adamw_fp32=(4 + 4 + 4 + 4) * n,
        adamw_mixed=(2 + 2 + 4 + 4 + 4) * n,
        as_stored=None if stored_bytes is None else int(stored_bytes),
    )
