"""Split GGUF models (llama.cpp's `gguf-split`, `convert_hf_to_gguf --split-max-size`).

A split model is `NAME-00001-of-0000N.gguf` ... `NAME-0000N-of-0000N.gguf`: every part has its own
header with `split.no` / `split.count`, the first part also holds the model's metadata, and the
tensors are spread over the parts. Inspection reads every part's header and joins the tensor
tables, so counts and bytes cover the whole model whichever part (or the folder) was opened.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from workbench.core.checkpoint.gguf_header import GgufHeader, read_gguf_header
from workbench.core.errors import CorruptCheckpointError

# The part names of gguf-py (SHARD_NAME_FORMAT) and llama.cpp (llama_split_path).
_PART_NAME = re.compile(r"^(?P<prefix>.+)-(?P<no>\d{5})-of-(?P<count>\d{5})\.gguf$", re.IGNORECASE)


@dataclass(frozen=True)
class SplitModel:
    """The parts of one split GGUF model that are on disk, and the headers read from them."""

    first: Path  # part 1: the model's metadata
    parts: tuple[Path, ...]  # the parts found, in order
    count: int  # how many parts the headers say there are
    headers: tuple[GgufHeader, ...]  # one per found part, same order

    @property
    def missing(self) -> list[str]:
        """File names of the parts the headers promise but the folder does not hold."""
        present = {_part_number(p) for p in self.parts}
        prefix = _PART_NAME.match(self.first.name)["prefix"]
        return [part_name(prefix, n, self.count) for n in range(1, self.count + 1)
                if n not in present]


def part_name(prefix: str, number: int, count: int) -> str:
    return f"{prefix}-{number:05d}-of-{count:05d}.gguf"


def _part_number(path: Path) -> int:
    return int(_PART_NAME.match(path.name)["no"])


def split_count(header: GgufHeader) -> int:
    """How many parts the model whose header this is has (1 for an ordinary file)."""
    count = header.get("split.count")
    return count if isinstance(count, int) and not isinstance(count, bool) and count > 1 else 1


def is_split_set(files: list[Path]) -> bool:
    """True when `files` are all parts of one split model by their names."""
    matches = [_PART_NAME.match(f.name) for f in files]
    return bool(files) and all(matches) and len({(m["prefix"], m["count"]) for m in matches}) == 1


def read_split(path: Path, header: GgufHeader) -> SplitModel:
    """Every part of the split model `path` (one of its parts, whose `header` is read) belongs
    to. Raises CorruptCheckpointError when the name or a sibling's header disagrees with it."""
    count = split_count(header)
    match = _PART_NAME.match(path.name)
    if match is None or int(match["count"]) != count:
        raise CorruptCheckpointError(
            f"{path.name} says it is one of {count} parts of a split GGUF model, but its name "
            f"does not follow llama.cpp's NAME-0000K-of-{count:05d}.gguf pattern, so the other "
            f"parts cannot be found. Rename the parts as gguf-split wrote them, or merge them "
            f"with `llama-gguf-split --merge`.")
    found: list[tuple[Path, GgufHeader]] = []
    for number in range(1, count + 1):
        part = path.with_name(part_name(match["prefix"], number, count))
        if part == path:
            found.append((path, header))
        elif part.is_file():
            sibling = read_gguf_header(part)
            if split_count(sibling) != count or sibling.get("split.no") != number - 1:
                raise CorruptCheckpointError(
                    f"{part.name} is named part {number} of {count} but its header says part "
                    f"{sibling.get('split.no', 0) + 1} of {split_count(sibling)}: the parts come "
                    f"from different models. Download the parts of one model again.")
            found.append((part, sibling))
    first = path.with_name(part_name(match["prefix"], 1, count))
    return SplitModel(first=first, parts=tuple(p for p, _ in found), count=count,
                      headers=tuple(h for _, h in found))
