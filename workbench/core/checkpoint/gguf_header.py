"""Read a GGUF file's header (metadata and tensor table) without touching tensor data.

The reading is done by llama.cpp's own `gguf.GGUFReader` (memory-mapped). It trusts the counts
and lengths it reads: an array length of 2**63 makes it loop for ever, a short file surfaces as
IndexError or a reshape ValueError. So `_check_layout` first walks the header with every count
and length bounded by the bytes actually present, and only a header that passes is handed over.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from workbench.core.checkpoint.tensors import TensorInfo
from workbench.core.errors import CorruptCheckpointError

GGUF_MAGIC = b"GGUF"
SUPPORTED_VERSIONS = (2, 3)
MAX_DIMS = 4  # GGML_MAX_DIMS
MAX_NAME_BYTES = 65_535  # llama.cpp caps tensor names at 64 bytes; keys are short too
MAX_ARRAY_LEN = 1 << 24  # real vocabularies are ~256 K entries
MAX_COUNT = 1 << 22  # tensors or metadata keys; a 405B model has ~1,100 tensors
MAX_NESTING = 3
_FIXED = {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}  # type -> bytes
_STRING, _ARRAY = 8, 9
SMALL_ARRAY = 64  # numeric arrays up to this length are shown in full
FIX = "Re-download the file or convert the model again with llama.cpp's convert_hf_to_gguf.py."


@dataclass(frozen=True)
class GgufHeader:
    """What a GGUF header says: version, metadata values (long arrays as a summary), tensors."""

    version: int
    metadata: dict[str, Any]  # scalars, strings, short numeric lists; long arrays -> ArrayInfo
    tensors: tuple[TensorInfo, ...]  # shapes in torch order, dtype = ggml type name
    alignment: int
    data_offset: int
    array_lengths: dict[str, int] = field(default_factory=dict)  # every array key -> length

    def get(self, key: str, default: Any = None) -> Any:
        return self.metadata.get(key, default)


def read_gguf_header(path: Path) -> GgufHeader:
    """Validate and read the header of `path`; any defect raises CorruptCheckpointError."""
    size = path.stat().st_size
    with path.open("rb") as f:
        head = f.read(4)
    if head != GGUF_MAGIC:
        raise CorruptCheckpointError(
            f"{path.name} is not a GGUF file: it does not start with the bytes 'GGUF'. {FIX}")
    if size < 24:
        raise CorruptCheckpointError(
            f"{path.name} is truncated ({size} bytes): a GGUF header needs at least 24. {FIX}")
    import numpy as np

    blob = np.memmap(path, mode="r", dtype=np.uint8)
    version, alignment, data_offset = _check_layout(path.name, blob)
    return _read_with_gguf(path, version, alignment, data_offset)


class _Walker:
    """Bounded little- or big-endian reads from the mapped file; a short read is corruption."""

    def __init__(self, name: str, blob, order: str):
        self.name, self.blob, self.order, self.pos = name, blob, order, 0
        self.size = len(blob)

    def fail(self, what: str) -> CorruptCheckpointError:
        return CorruptCheckpointError(f"{self.name} has a corrupt GGUF header: {what} "
                                      f"(at byte {self.pos:,}). {FIX}")

    def take(self, fmt: str) -> tuple:
        n = struct.calcsize(self.order + fmt)
        if self.pos + n > self.size:
            raise CorruptCheckpointError(
                f"{self.name} is truncated: its GGUF header ends before byte "
                f"{self.pos + n:,} (the file has {self.size:,}). {FIX}")
        values = struct.unpack_from(self.order + fmt, self.blob, self.pos)
        self.pos += n
        return values

    def skip(self, n: int, what: str) -> None:
        if n < 0 or self.pos + n > self.size:
            raise self.fail(f"{what} of {n:,} bytes runs past the end of the file")
        self.pos += n

    def string(self, what: str, limit: int | None = None) -> int:
        (n,) = self.take("Q")
        if limit is not None and n > limit:
            raise self.fail(f"{what} is {n:,} bytes long (the limit is {limit:,})")
        start = self.pos
        self.skip(n, what)
        return start

    def value(self, vtype: int, what: str, depth: int = 0) -> None:
        if vtype in _FIXED:
            self.skip(_FIXED[vtype], what)
        elif vtype == _STRING:
            self.string(what)
        elif vtype == _ARRAY:
            if depth >= MAX_NESTING:
                raise self.fail(f"{what} nests arrays more than {MAX_NESTING} deep")
            etype, count = self.take("IQ")
            if etype not in _FIXED and etype not in (_STRING, _ARRAY):
                raise self.fail(f"{what} is an array of unknown value type {etype}")
            if count > MAX_ARRAY_LEN:
                raise self.fail(f"{what} claims {count:,} elements (the limit is "
                                f"{MAX_ARRAY_LEN:,})")
            if etype in _FIXED:
                self.skip(count * _FIXED[etype], what)
                return
            if count * (8 if etype == _STRING else 12) > self.size - self.pos:
                raise self.fail(f"{what} claims {count:,} elements, more than the file can hold")
            for _ in range(count):
                self.value(etype, what, depth + 1)
        else:
            raise self.fail(f"{what} has unknown value type {vtype}")


def _check_layout(name: str, blob) -> tuple[int, int, int]:
    """Walk the whole header with bounded reads; return (version, alignment, data offset)."""
    from gguf.constants import GGML_QUANT_SIZES, GGMLQuantizationType

    (raw_version,) = struct.unpack_from("<I", blob, 4)
    order = "<" if raw_version & 0xFFFF else ">"  # a big-endian file reads as v<<16 here
    w = _Walker(name, blob, order)
    w.pos = 4
    version, n_tensors, n_kv = w.take("IQQ")
    if version not in SUPPORTED_VERSIONS:
        raise CorruptCheckpointError(
            f"{name} is GGUF version {version}; this reader handles versions "
            f"{' and '.join(map(str, SUPPORTED_VERSIONS))} (version 1 files date from before "
            f"August 2023). Convert the model again with a current llama.cpp.")
    for count, what, least in ((n_tensors, "tensor", 24), (n_kv, "metadata key", 13)):
        if count > MAX_COUNT or count * least > w.size - w.pos:
            raise w.fail(f"it claims {count:,} {what}s, more than the file can hold")
    alignment = 32
    keys: set[bytes] = set()
    for _ in range(n_kv):
        start = w.string("a metadata key", MAX_NAME_BYTES)
        key = bytes(blob[start:w.pos])
        if key in keys:
            raise w.fail(f"metadata key {key[:80]!r} appears twice")
        keys.add(key)
        (vtype,) = w.take("I")
        value_at = w.pos
        w.value(vtype, f"the value of {key[:80]!r}")
        if key == b"general.alignment":
            if vtype != 4:
                raise w.fail("general.alignment is not a uint32")
            (alignment,) = struct.unpack_from(order + "I", blob, value_at)
            if alignment == 0 or alignment & (alignment - 1) or alignment > 1 << 20:
                raise w.fail(f"general.alignment {alignment} is not a power of two")
    entries = []
    names: set[bytes] = set()
    for _ in range(n_tensors):
        start = w.string("a tensor name", MAX_NAME_BYTES)
        tname = bytes(blob[start:w.pos])
        if tname in names:
            raise w.fail(f"tensor {tname[:80]!r} appears twice")
        names.add(tname)
        (n_dims,) = w.take("I")
        if not 1 <= n_dims <= MAX_DIMS:
            raise w.fail(f"tensor {tname[:80]!r} has {n_dims} dimensions (1 to {MAX_DIMS})")
        dims = w.take(f"{n_dims}Q")
        ggml_type, offset = w.take("IQ")
        try:
            block, type_size = GGML_QUANT_SIZES[GGMLQuantizationType(ggml_type)]
        except (ValueError, KeyError):
            raise w.fail(f"tensor {tname[:80]!r} has unknown ggml type {ggml_type}") from None
        if dims[0] % block:
            raise w.fail(f"tensor {tname[:80]!r}: its row of {dims[0]:,} values is not a "
                         f"whole number of {block}-value blocks")
        numel = 1
        for d in dims:
            numel *= d
        entries.append((tname, offset, numel // block * type_size))
    data_offset = -(-w.pos // alignment) * alignment
    data_len = w.size - data_offset
    for tname, offset, nbytes in entries:
        if offset % alignment:
            raise w.fail(f"tensor {tname[:80]!r} starts at offset {offset:,}, which is not "
                         f"aligned to {alignment} bytes")
        if offset + nbytes > data_len:
            raise CorruptCheckpointError(
                f"{name} is truncated: tensor {tname[:80]!r} needs bytes up to "
                f"{offset + nbytes:,} of the data section, which has only {max(data_len, 0):,}. "
                f"{FIX}")
    return version, alignment, data_offset


def _read_with_gguf(path: Path, version: int, alignment: int, data_offset: int) -> GgufHeader:
    """Read the (already validated) header with gguf.GGUFReader; no tensor data is touched."""
    from gguf import GGUFReader, GGUFValueType

    try:
        reader = GGUFReader(path)
    except (ValueError, KeyError, IndexError, TypeError, OverflowError,
            UnicodeDecodeError) as e:
        # The layout check above should leave nothing for the reader to trip on; if it does,
        # the file is still corrupt in a way the user can only fix by getting a good copy.
        raise CorruptCheckpointError(f"{path.name} could not be read as GGUF ({e}). {FIX}") \
            from None
    metadata: dict[str, Any] = {}
    lengths: dict[str, int] = {}
    try:
        for key, f in reader.fields.items():
            if key.startswith("GGUF."):
                continue
            if f.types and f.types[0] == GGUFValueType.ARRAY:
                lengths[key] = len(f.data)
                numeric = f.types[-1] not in (GGUFValueType.STRING, GGUFValueType.ARRAY)
                small = len(f.data) <= SMALL_ARRAY and len(f.types) == 2
                metadata[key] = f.contents() if small and numeric else _ArraySummary(
                    f.types[-1].name, len(f.data))
            else:
                metadata[key] = f.contents()
        tensors = tuple(
            TensorInfo(t.name, t.tensor_type.name, tuple(int(d) for d in reversed(t.shape)),
                       path.name, stored_bytes=int(t.n_bytes))
            for t in reader.tensors)
    except UnicodeDecodeError as e:
        raise CorruptCheckpointError(f"{path.name} holds a metadata text or tensor name that is "
                                     f"not UTF-8 ({e}). {FIX}") from None
    return GgufHeader(int(version), metadata, tensors, alignment, data_offset, lengths)


@dataclass(frozen=True)
class _ArraySummary:
    """A long metadata array, described instead of copied (a vocabulary has ~100 K strings)."""

    element_type: str
    length: int

    def __str__(self) -> str:
        return f"[{self.length:,} x {self.element_type}]"
