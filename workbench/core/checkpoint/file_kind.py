"""Say what a file that fails to parse as weights actually is, from its first bytes."""

from __future__ import annotations

from pathlib import Path

SNIFF_BYTES = 512


def describe_bytes(head: bytes) -> str | None:
    """A short description of what `head` (a file's first bytes) looks like, or None."""
    text = head.lstrip()
    if head.startswith(b"version https://git-lfs"):
        return ("a git-lfs pointer, not the weights: the real file was never downloaded "
                "(run `git lfs pull` in the repository, or download the file itself)")
    if head.startswith(b"PK\x03\x04"):
        return "a zip archive (the format torch.save writes)"
    if head[:1] == b"\x80" and head[1:2] in (b"\x02", b"\x03", b"\x04", b"\x05"):
        return "a legacy PyTorch pickle"
    if head.startswith(b"GGUF"):
        return "a GGUF file (llama.cpp)"
    if head.startswith(b"\x93NUMPY"):
        return "a NumPy .npy array"
    if text[:1] in (b"{", b"["):
        return "a JSON text file"
    if text[:1] == b"<":
        return "an HTML or XML page (perhaps an error page saved instead of the download)"
    if head and all(32 <= b < 127 or b in (9, 10, 13) for b in head):
        return "a plain text file"
    return None


def describe_file(path: Path) -> str | None:
    """What the file at `path` looks like (see `describe_bytes`); None if unknown/unreadable."""
    try:
        with Path(path).open("rb") as f:
            return describe_bytes(f.read(SNIFF_BYTES))
    except OSError:
        return None
