"""Tensor descriptions shared by every weights format (header-level facts, never data)."""

from __future__ import annotations

import math
from dataclasses import dataclass

# Bytes per element for each safetensors dtype code; pickled torch dtypes map onto the same codes.
DTYPE_BYTES: dict[str, float] = {
    "F64": 8, "F32": 4, "F16": 2, "BF16": 2, "F8_E4M3": 1, "F8_E5M2": 1, "F8_E8M0": 1,
    "F4": 0.5, "F6_E2M3": 0.75, "F6_E3M2": 0.75, "C64": 8,
    "I64": 8, "I32": 4, "I16": 2, "I8": 1, "U64": 8, "U32": 4, "U16": 2, "U8": 1, "BOOL": 1,
}

# Bits per element: exact for the sub-byte F4/F6 codes, so sizes never go through a float.
DTYPE_BITS: dict[str, int] = {code: int(size * 8) for code, size in DTYPE_BYTES.items()}

TORCH_TO_CODE = {
    "float64": "F64", "float32": "F32", "float16": "F16", "bfloat16": "BF16",
    "float8_e4m3fn": "F8_E4M3", "float8_e5m2": "F8_E5M2", "complex64": "C64",
    "int64": "I64", "int32": "I32", "int16": "I16", "int8": "I8",
    "uint64": "U64", "uint32": "U32", "uint16": "U16", "uint8": "U8", "bool": "BOOL",
}


@dataclass(frozen=True)
class TensorInfo:
    """One stored tensor: where it lives and what it is, read from a header."""

    name: str
    dtype: str  # safetensors code: F32, BF16, I64, ...
    shape: tuple[int, ...]
    shard: str  # file name relative to the checkpoint folder
    data_offsets: tuple[int, int] | None = None  # safetensors only
    stored_bytes: int | None = None  # set where the dtype alone does not give it (GGUF blocks)

    @property
    def numel(self) -> int:
        return math.prod(self.shape)

    @property
    def nbytes(self) -> int:
        if self.stored_bytes is not None:
            return self.stored_bytes
        return self.numel * DTYPE_BITS.get(self.dtype, 0) // 8

    def to_json(self) -> dict:
        return {
            "name": self.name, "dtype": self.dtype, "shape": list(self.shape),
            "numel": self.numel, "bytes": self.nbytes, "shard": self.shard,
        }
