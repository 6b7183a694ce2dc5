"""Read and validate a safetensors header without touching tensor data (no torch needed)."""

from __future__ import annotations

import json
import struct
from pathlib import Path

from workbench.core.checkpoint.tensors import DTYPE_BYTES, TensorInfo
from workbench.core.errors import CorruptCheckpointError

# The safetensors library refuses headers above 100 MB; a 70B model's header is ~100 KB.
MAX_HEADER_BYTES = 100_000_000


def read_safetensors_header(path: Path, shard_name: str | None = None
                            ) -> tuple[list[TensorInfo], dict[str, str]]:
    """Return (tensors in file order, __metadata__) of one .safetensors file, validating it."""
    shard = shard_name or path.name
    size = path.stat().st_size
    fix = "Re-download or re-save the file; it cannot be read as it is."
    if size < 8:
        raise CorruptCheckpointError(
            f"{path.name} is truncated ({size} bytes): a safetensors file starts with an "
            f"8-byte header length. {fix}")
    with path.open("rb") as f:
        (header_len,) = struct.unpack("<Q", f.read(8))
        if header_len > MAX_HEADER_BYTES:
            raise CorruptCheckpointError(
                f"{path.name} declares an absurd header size ({header_len:,} bytes, the limit "
                f"is {MAX_HEADER_BYTES:,}): the file is corrupt or not safetensors. {fix}")
        if header_len > size - 8:
            raise CorruptCheckpointError(
                f"{path.name} is truncated: its header needs {header_len:,} bytes but the file "
                f"has only {size - 8:,} after the length field. {fix}")
        raw = f.read(header_len)
    try:
        header = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise CorruptCheckpointError(
            f"{path.name} has a corrupt header (not valid JSON: {e}). {fix}") from None
    if not isinstance(header, dict):
        raise CorruptCheckpointError(f"{path.name} has a corrupt header (not a JSON object). {fix}")

    return tensors_from_header(path.name, shard, header, size - 8 - header_len, fix)


def tensors_from_header(file_name: str, shard: str, header: dict, data_len: int | None,
                        fix: str) -> tuple[list[TensorInfo], dict[str, str]]:
    """Validate a decoded header (local or remote); data_len None: the data size is unknown.

    With data_len None (a remote header whose length prefix is not known), entries and their
    tiling are still checked; only "nothing missing or left over at the end" is not.
    """
    header = dict(header)
    metadata = header.pop("__metadata__", None) or {}
    if not isinstance(metadata, dict):
        raise CorruptCheckpointError(f"{file_name}: __metadata__ is not an object. {fix}")
    tensors = [_tensor_from_entry(file_name, shard, name, entry) for name, entry in header.items()]
    if data_len is None:
        data_len = max((t.data_offsets[1] for t in tensors if t.data_offsets), default=0)
    _check_layout(file_name, tensors, data_len, fix)
    tensors.sort(key=lambda t: t.data_offsets or (0, 0))
    return tensors, {str(k): str(v) for k, v in metadata.items()}


def _tensor_from_entry(file_name: str, shard: str, name: str, entry: object) -> TensorInfo:
    bad = f"{file_name}: the header entry for tensor '{name}' is corrupt"
    if not isinstance(entry, dict):
        raise CorruptCheckpointError(f"{bad} (not an object).")
    dtype, shape, offsets = entry.get("dtype"), entry.get("shape"), entry.get("data_offsets")
    if dtype not in DTYPE_BYTES:
        raise CorruptCheckpointError(f"{bad}: unknown dtype {dtype!r}.")
    if not isinstance(shape, list) or not all(isinstance(d, int) and d >= 0 for d in shape):
        raise CorruptCheckpointError(f"{bad}: shape {shape!r} is not a list of sizes.")
    if (not isinstance(offsets, list) or len(offsets) != 2
            or not all(isinstance(o, int) and o >= 0 for o in offsets) or offsets[0] > offsets[1]):
        raise CorruptCheckpointError(f"{bad}: data_offsets {offsets!r} are invalid.")
    tensor = TensorInfo(name, dtype, tuple(shape), shard, (offsets[0], offsets[1]))
    if offsets[1] - offsets[0] != tensor.nbytes:
        raise CorruptCheckpointError(
            f"{bad}: it declares {offsets[1] - offsets[0]:,} bytes but {dtype} {shape} "
            f"needs {tensor.nbytes:,}.")
    return tensor


def _check_layout(file_name: str, tensors: list[TensorInfo], data_len: int, fix: str) -> None:
    """Tensors must tile the data section exactly: no overlaps, no gaps, nothing past the end."""
    spans = sorted(t.data_offsets for t in tensors if t.data_offsets)
    end = 0
    by_span = {t.data_offsets: t.name for t in tensors}
    for begin, stop in spans:
        if begin < end:
            raise CorruptCheckpointError(
                f"{file_name} is corrupt: tensor '{by_span[(begin, stop)]}' overlaps the "
                f"previous tensor (offsets {begin:,}-{stop:,}, previous ends at {end:,}). {fix}")
        if begin > end:
            raise CorruptCheckpointError(
                f"{file_name} is corrupt: a gap of {begin - end:,} bytes before tensor "
                f"'{by_span[(begin, stop)]}'. {fix}")
        end = stop
    if end > data_len:
        raise CorruptCheckpointError(
            f"{file_name} is truncated: its tensors need {end:,} bytes of data but only "
            f"{data_len:,} are present. {fix}")
    if end < data_len:
        raise CorruptCheckpointError(
            f"{file_name} is corrupt: {data_len - end:,} bytes after the last tensor are not "
            f"covered by the header. {fix}")
