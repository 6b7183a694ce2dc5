"""Pickled PyTorch weights (.bin/.pt/.pth): the one place that unpickles them, weights_only only.

Before torch sees a file, its first bytes say what it is: only a zip archive (torch.save's
format) or a legacy pickle goes on, so random bytes, a git-lfs pointer or a JSON file are
reported as what they are. A zip archive's declared sizes are checked first (a 778 KB deflated
pickle can expand to 400 million items), and the weights_only unpickler does the rest.
"""

from __future__ import annotations

import pickle
import re
import warnings
import zipfile
from pathlib import Path
from typing import Any

from workbench.core.checkpoint.file_kind import describe_bytes, describe_file
from workbench.core.checkpoint.safetensors_header import MAX_TENSORS
from workbench.core.checkpoint.tensors import TORCH_TO_CODE, TensorInfo
from workbench.core.errors import CorruptCheckpointError, UnsafePickleError

# The pickle inside torch.save's archive describes tensors (~100 bytes each), never their data:
# 2,000,000 tensors fit in 256 MB. Tensor records are stored uncompressed by torch.save.
MAX_PICKLE_BYTES = 256_000_000
MAX_COMPRESSION_RATIO = 100  # a compressed member may not expand more than this
ZIP_MAGIC = b"PK\x03\x04"
_PICKLE_PROTOCOLS = (b"\x80\x02", b"\x80\x03", b"\x80\x04", b"\x80\x05")
# Training scripts often save {"state_dict": sd, "epoch": ...} or {"model": sd, "optimizer": ...}
# instead of the bare state dict; these keys hold the weights in such wrappers.
WRAPPER_KEYS = ("state_dict", "model_state_dict", "model", "module")


def load_pickle_state_dict(path: str | Path) -> dict[str, Any]:
    """{name: tensor} of a pickled checkpoint, wrappers unwrapped; refuse what weights_only rejects.

    The file is memory-mapped where its format allows, so tensor data pages are read only when
    a caller touches them.
    """
    import torch

    path = Path(path)
    with path.open("rb") as f:
        head = f.read(512)
    if head.startswith(ZIP_MAGIC):
        _check_archive(path)
    elif not head.startswith(_PICKLE_PROTOCOLS):
        kind = describe_bytes(head) or "neither a zip archive nor a pickle"
        raise CorruptCheckpointError(
            f"{path.name} is not PyTorch weights: it is {kind}"
            f"{'' if head else ' (the file is empty)'}. Re-download it, or open the file that "
            f"holds the weights.")
    try:
        with warnings.catch_warnings():  # a damaged header's "protocol 217" warning is noise
            warnings.simplefilter("ignore", UserWarning)
            try:
                state = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
            except RuntimeError as e:
                # Legacy (pre-zip) pickles cannot be memory-mapped; weights_only still guards them.
                if "mmap" not in str(e):
                    raise
                state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        culprit = _unsafe_global(str(e))
        if culprit is None:
            raise CorruptCheckpointError(
                f"{path.name} is a damaged pickle: the weights_only unpickler stopped at an "
                f"invalid instruction ({_first_line(e)}). Re-download or re-save it.") from None
        raise UnsafePickleError(
            f"{path.name} was refused: loading it would need {culprit}, and pickled files can "
            f"run arbitrary code. It was not loaded. Convert it to safetensors with a tool you "
            f"trust, or get a safetensors copy from its author.") from None
    except Exception as e:
        # The weights_only unpickler and torch's zip reader raise whatever they hit on a damaged
        # stream (KeyError, IndexError, AssertionError, struct.error...): all mean "corrupt".
        raise CorruptCheckpointError(
            f"{path.name} could not be read as PyTorch weights ({type(e).__name__}: "
            f"{_first_line(e)}). The file may be truncated or not a PyTorch checkpoint"
            f"{_looks_like(path)}.") from None

    state = unwrap_state_dict(state)
    if not isinstance(state, dict):
        raise CorruptCheckpointError(
            f"{path.name} holds a {type(state).__name__}, not a dictionary of tensors.")
    if len(state) > MAX_TENSORS:
        raise CorruptCheckpointError(
            f"{path.name} holds {len(state):,} entries; the limit is {MAX_TENSORS:,} tensors.")
    return {str(k): v for k, v in state.items() if isinstance(v, torch.Tensor)}


def unwrap_state_dict(state: Any) -> Any:
    """The state dict inside a training-script wrapper ({"state_dict": ...}, {"model": ...})."""
    import torch

    for _ in range(3):  # e.g. {"model": {"state_dict": ...}}; bounded, never a loop on odd data
        if not isinstance(state, dict) or any(isinstance(v, torch.Tensor) for v in state.values()):
            return state
        inner = next((state[k] for k in WRAPPER_KEYS if isinstance(state.get(k), dict)), None)
        if inner is None:
            return state
        state = inner
    return state


def read_pickle_tensors(path: Path, shard_name: str | None = None) -> list[TensorInfo]:
    """Names, dtypes and shapes of a pickled state dict (data pages stay unread)."""
    shard = shard_name or path.name
    tensors = []
    for name, value in load_pickle_state_dict(path).items():
        dtype = TORCH_TO_CODE.get(str(value.dtype).removeprefix("torch."), "F32")
        tensors.append(TensorInfo(name, dtype, tuple(value.shape), shard))
    return tensors


def _check_archive(path: Path) -> None:
    """Refuse a torch.save archive whose members would expand past the limits when read."""
    try:
        with zipfile.ZipFile(path) as archive:
            members = archive.infolist()
    except (zipfile.BadZipFile, OSError, ValueError, NotImplementedError, EOFError) as e:
        raise CorruptCheckpointError(
            f"{path.name} starts like a zip archive (torch.save's format) but is not a valid "
            f"one ({e}). The file is truncated or corrupt; re-download it.") from None
    for m in members:
        expands = m.compress_type != zipfile.ZIP_STORED
        if m.filename.endswith(".pkl") and m.file_size > MAX_PICKLE_BYTES:
            raise CorruptCheckpointError(
                f"{path.name}: its pickle {m.filename} declares {m.file_size:,} bytes; a "
                f"state dict's pickle is far smaller (limit {MAX_PICKLE_BYTES:,}). Refusing to "
                f"unpack it.")
        if expands and m.file_size > MAX_COMPRESSION_RATIO * max(m.compress_size, 1):
            raise CorruptCheckpointError(
                f"{path.name}: member {m.filename} is compressed {m.compress_size:,} -> "
                f"{m.file_size:,} bytes (more than {MAX_COMPRESSION_RATIO}x), which torch.save "
                f"never writes: a decompression bomb or a corrupt file. Refusing to unpack it.")


def _first_line(error: BaseException, limit: int = 200) -> str:
    """The line of torch's message that says what failed, without its advice to re-run the load
    with weights_only=False (which would let the file run code)."""
    lines = [ln.strip() for ln in str(error).splitlines() if ln.strip()
             and "weights_only" not in ln and "Weights only" not in ln and "torch.load" not in ln]
    line = lines[0] if lines else type(error).__name__
    return line if len(line) <= limit else line[:limit] + "..."


def _looks_like(path: Path) -> str:
    kind = describe_file(path)
    return f" (it looks like {kind})" if kind else ""


def _unsafe_global(message: str) -> str | None:
    """Pick the offending global (e.g. 'posix.system') out of torch's weights_only message."""
    match = re.search(r"GLOBAL ([\w.]+)", message)
    if match:
        return f"the global '{match.group(1)}'"
    if "Unsupported global" in message or "is not an allowed global" in message:
        return "a global outside the safe allow-list"
    return None
