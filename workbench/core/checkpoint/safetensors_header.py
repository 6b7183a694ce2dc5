"""Read and validate a safetensors header without touching tensor data (no torch needed).

The rules are the safetensors library's own (0.8, `tensor.rs`), so a file it refuses is refused
here too, checked by tests/core/hostile/test_safetensors_differential.py:
- 8-byte little-endian length N, N <= 100,000,000, then N bytes of UTF-8 JSON starting with "{";
- `__metadata__` is absent, null, or an object of strings;
- every other key is a tensor {"dtype", "shape", "data_offsets"} with a known dtype, unsigned
  integer dims and offsets below 2**64, element count below 2**64, a whole number of bytes
  (sub-byte F4/F6 tensors must end on a byte boundary);
- tensors tile the data section exactly: no gap, no overlap, nothing after the last one.
Where this reader is stricter (a repeated key, which the library lets the last copy win; "-0"
or more than 100 levels of nesting in a field the library ignores; more than 2,000,000
tensors), the comment at the limit says why; the differential test lists these cases.
"""

from __future__ import annotations

import struct
from pathlib import Path

from workbench.core import jsonio
from workbench.core.checkpoint.file_kind import describe_file
from workbench.core.checkpoint.tensors import DTYPE_BITS, TensorInfo
from workbench.core.errors import CorruptCheckpointError

# The safetensors library refuses headers above 100 MB; a 70B model's header is ~100 KB.
MAX_HEADER_BYTES = 100_000_000
# The largest public checkpoints hold < 2,000,000 tensors in all their shards together.
MAX_TENSORS = 2_000_000
U64 = 2**64
HEADER_LIMITS = jsonio.JsonLimits(
    max_bytes=MAX_HEADER_BYTES,
    max_depth=100,  # a header needs 3 levels; serde_json stops at 128, Python's limit is ~1000
    max_int_digits=20,  # 2**64 - 1 has 20 digits
    max_string=MAX_HEADER_BYTES,
    max_keys=4 * MAX_TENSORS + 10_000,  # 3 fields per tensor, plus metadata
    allow_nonfinite=False,  # serde_json (the library's parser) has no NaN/Infinity
    reject_duplicates=True,  # the library refuses them; "last one wins" would hide a forgery
    negative_zero=False,  # every number in a header is a u64; serde refuses "-0" as one
    surrogates=False,  # serde refuses "\\ud800" escapes: names must be real Unicode
)
FIX = "Re-download or re-save the file; it cannot be read as it is."


def read_safetensors_header(path: Path, shard_name: str | None = None
                            ) -> tuple[list[TensorInfo], dict[str, str]]:
    """Return (tensors in file order, __metadata__) of one .safetensors file, validating it."""
    shard = shard_name or path.name
    name = _display(path.name)
    try:
        size = path.stat().st_size
        if size < 8:
            raise CorruptCheckpointError(
                f"{name} is truncated ({size} bytes): a safetensors file starts with an "
                f"8-byte header length. {FIX}")
        with path.open("rb") as f:
            head = f.read(8)
            (header_len,) = struct.unpack("<Q", head)
            if header_len > MAX_HEADER_BYTES:
                raise CorruptCheckpointError(
                    f"{name} declares an absurd header size ({header_len:,} bytes; the limit, "
                    f"the safetensors library's, is {MAX_HEADER_BYTES:,}): the file is corrupt "
                    f"or not safetensors{_sniff(path)}. {FIX}")
            if header_len > size - 8:
                raise CorruptCheckpointError(
                    f"{name} is truncated: its header needs {header_len:,} bytes but the "
                    f"file has only {size - 8:,} after the length field{_sniff(path)}. {FIX}")
            raw = f.read(header_len)
    except OSError as e:
        raise CorruptCheckpointError(f"{name} cannot be read: {e.strerror or e}.") from None
    header = jsonio.loads(raw, source=name, error=CorruptCheckpointError,
                          limits=HEADER_LIMITS, what="header")
    if not isinstance(header, dict):
        raise CorruptCheckpointError(f"{name} has a corrupt header (not a JSON object). {FIX}")
    return tensors_from_header(name, shard, header, size - 8 - header_len)


def tensors_from_header(file_name: str, shard: str, header: dict, data_len: int | None
                        ) -> tuple[list[TensorInfo], dict[str, str]]:
    """Validate a decoded header (local or remote); data_len None: the data size is unknown.

    With data_len None (a remote header whose length prefix is not known), entries and their
    tiling are still checked; only "nothing missing or left over at the end" is not.
    """
    header = dict(header)
    metadata = _metadata(file_name, header.pop("__metadata__", None))
    if len(header) > MAX_TENSORS:
        raise CorruptCheckpointError(
            f"{file_name} lists {len(header):,} tensors; the limit is {MAX_TENSORS:,} (the "
            f"largest public checkpoints have fewer in all shards together). {FIX}")
    tensors = [_tensor_from_entry(file_name, shard, key, entry) for key, entry in header.items()]
    if data_len is None:
        data_len = max((t.data_offsets[1] for t in tensors if t.data_offsets), default=0)
    _check_layout(file_name, tensors, data_len)
    tensors.sort(key=lambda t: t.data_offsets or (0, 0))
    return tensors, metadata


def _metadata(file_name: str, metadata: object) -> dict[str, str]:
    if metadata is None:
        return {}
    if not isinstance(metadata, dict):
        raise CorruptCheckpointError(f"{file_name}: __metadata__ must be an object of strings, "
                                     f"not {type(metadata).__name__}. {FIX}")
    for key, value in metadata.items():
        if not isinstance(value, str):
            raise CorruptCheckpointError(
                f"{file_name}: __metadata__ field {_display(key)} is a "
                f"{type(value).__name__}; safetensors allows only strings there. {FIX}")
    return metadata


def _is_u64(value: object) -> bool:
    return type(value) is int and 0 <= value < U64  # bool is an int subclass: refuse it


def _tensor_from_entry(file_name: str, shard: str, name: str, entry: object) -> TensorInfo:
    bad = f"{file_name}: the header entry for tensor {_display(name)} is corrupt"
    if not isinstance(entry, dict):
        raise CorruptCheckpointError(f"{bad} (a {type(entry).__name__}, not an object). {FIX}")
    dtype, shape, offsets = entry.get("dtype"), entry.get("shape"), entry.get("data_offsets")
    if not isinstance(dtype, str) or dtype not in DTYPE_BITS:
        raise CorruptCheckpointError(
            f"{bad}: unknown dtype {_short(dtype)}; safetensors knows "
            f"{', '.join(DTYPE_BITS)}. {FIX}")
    if not isinstance(shape, list) or not all(_is_u64(d) for d in shape):
        raise CorruptCheckpointError(
            f"{bad}: shape {_short(shape)} must be a list of whole numbers from 0 to "
            f"2**64 - 1. {FIX}")
    if (not isinstance(offsets, list) or len(offsets) != 2
            or not all(_is_u64(o) for o in offsets) or offsets[0] > offsets[1]):
        raise CorruptCheckpointError(
            f"{bad}: data_offsets {_short(offsets)} must be [begin, end] with "
            f"0 <= begin <= end < 2**64. {FIX}")
    numel = 1
    for d in shape:
        numel *= d
        if numel >= U64:  # the library multiplies in u64 with an overflow check
            raise CorruptCheckpointError(
                f"{bad}: shape {_short(shape)} has 2**64 or more elements. {FIX}")
    bits = numel * DTYPE_BITS[dtype]
    if bits >= U64 or bits % 8:
        raise CorruptCheckpointError(
            f"{bad}: {numel:,} elements of {dtype} ({DTYPE_BITS[dtype]} bits each) do not "
            f"make a whole number of bytes below 2**64. {FIX}")
    tensor = TensorInfo(name, dtype, tuple(shape), shard, (offsets[0], offsets[1]))
    if offsets[1] - offsets[0] != bits // 8:
        raise CorruptCheckpointError(
            f"{bad}: it declares {offsets[1] - offsets[0]:,} bytes but {dtype} "
            f"{_short(shape)} needs {bits // 8:,}. {FIX}")
    return tensor


def _check_layout(file_name: str, tensors: list[TensorInfo], data_len: int) -> None:
    """Tensors must tile the data section exactly: no overlaps, no gaps, nothing past the end."""
    end = 0
    for t in sorted(tensors, key=lambda t: t.data_offsets):
        begin, stop = t.data_offsets
        if begin < end:
            raise CorruptCheckpointError(
                f"{file_name} is corrupt: tensor {_display(t.name)} overlaps the previous "
                f"tensor (offsets {begin:,}-{stop:,}, previous ends at {end:,}). {FIX}")
        if begin > end:
            raise CorruptCheckpointError(
                f"{file_name} is corrupt: a gap of {begin - end:,} bytes before tensor "
                f"{_display(t.name)}. {FIX}")
        end = stop
    if end > data_len:
        raise CorruptCheckpointError(
            f"{file_name} is truncated: its tensors need {end:,} bytes of data but only "
            f"{data_len:,} are present. {FIX}")
    if end < data_len:
        raise CorruptCheckpointError(
            f"{file_name} is corrupt: {data_len - end:,} bytes after the last tensor are not "
            f"covered by the header. {FIX}")


def _display(name: str, limit: int = 120) -> str:
    """A name safe to print anywhere: lone surrogates and control characters escaped."""
    text = name if len(name) <= limit else name[:limit] + "..."
    return f"'{text}'" if text.isprintable() else ascii(text)


def _short(value: object, limit: int = 80) -> str:
    text = ascii(value)
    return text if len(text) <= limit else text[:limit] + "..."


def _sniff(path: Path) -> str:
    """What the file looks like instead, for the message (a git-lfs pointer, JSON, a zip...)."""
    kind = describe_file(path)
    return f" (it looks like {kind})" if kind else ""
