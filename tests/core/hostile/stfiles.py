"""Write safetensors files byte by byte, so tests can build any header, valid or hostile."""

from __future__ import annotations

import json
import os
import struct
from pathlib import Path


def header_text(header: dict) -> bytes:
    """A header dict as compact JSON bytes (the way the safetensors library writes it)."""
    return json.dumps(header, separators=(",", ":")).encode("utf-8")


def st(path: Path, header: dict | bytes | str, data: bytes | int = 0) -> Path:
    """Write the 8-byte length, the JSON header and the data section; return `path`.

    `data` may be a byte count: the file is then extended sparsely (no bytes written), so a
    real 90 MB checkpoint's header can be reused in thousands of cases for free.
    """
    raw = header if isinstance(header, bytes) else (
        header.encode("utf-8", "surrogatepass") if isinstance(header, str) else header_text(header))
    with path.open("wb") as f:
        f.write(struct.pack("<Q", len(raw)))
        f.write(raw)
        if isinstance(data, bytes):
            f.write(data)
        else:
            f.truncate(8 + len(raw) + data)
    return path


def overwrite(path: Path, header: bytes, data_len: int, declared_len: int | None = None) -> None:
    """Rewrite `path` in place as length + header + `data_len` sparse bytes.

    Reopening a large file with "wb" frees its blocks each time (slow on some filesystems);
    writing over it and setting its size is a metadata change.
    """
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        declared = len(header) if declared_len is None else declared_len
        os.pwrite(fd, struct.pack("<Q", declared) + header, 0)
        os.ftruncate(fd, 8 + len(header) + data_len)
    finally:
        os.close(fd)


def read_header(path: Path) -> tuple[bytes, int]:
    """(raw header bytes, data section length) of an existing safetensors file."""
    with path.open("rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        raw = f.read(n)
    return raw, path.stat().st_size - 8 - n


def library_verdict(path: Path) -> str | None:
    """None when the safetensors library opens the file and every tensor; else its error."""
    from safetensors import safe_open

    try:
        with safe_open(str(path), "np") as f:
            for key in f.keys():
                f.get_slice(key).get_shape()
            f.metadata()
    except Exception as e:  # SafetensorError and friends: any refusal counts
        return f"{type(e).__name__}: {e}"
    return None
