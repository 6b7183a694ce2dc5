"""Read shapes from pickled PyTorch weights (.bin/.pt/.pth) with the weights_only unpickler only."""

from __future__ import annotations

import pickle
import re
from pathlib import Path

from workbench.core.checkpoint.tensors import TORCH_TO_CODE, TensorInfo
from workbench.core.errors import CorruptCheckpointError, UnsafePickleError


def read_pickle_tensors(path: Path, shard_name: str | None = None) -> list[TensorInfo]:
    """Return the tensors of a pickled state dict; refuse anything weights_only rejects.

    The file is memory-mapped, so data pages are never read; only shapes and dtypes are kept.
    """
    import torch

    try:
        try:
            state = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
        except RuntimeError as e:
            # Legacy (pre-zip) pickles cannot be memory-mapped; weights_only still guards them.
            if "mmap" not in str(e):
                raise
            state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        culprit = _unsafe_global(str(e))
        raise UnsafePickleError(
            f"{path.name} was refused: loading it would need "
            f"{culprit or 'code outside the safe allow-list'}, and pickled files can run "
            f"arbitrary code. It was not loaded. Convert it to safetensors with a tool you trust, "
            f"or get a safetensors copy from its author.") from None
    except (EOFError, RuntimeError, ValueError, OSError) as e:
        raise CorruptCheckpointError(
            f"{path.name} could not be read as PyTorch weights ({type(e).__name__}: {e}). "
            f"The file may be truncated or not a PyTorch checkpoint.") from None

    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise CorruptCheckpointError(
            f"{path.name} holds a {type(state).__name__}, not a dictionary of tensors.")
    shard = shard_name or path.name
    tensors = []
    for name, value in state.items():
        if isinstance(value, torch.Tensor):
            dtype = TORCH_TO_CODE.get(str(value.dtype).removeprefix("torch."), "F32")
            tensors.append(TensorInfo(str(name), dtype, tuple(value.shape), shard))
    return tensors


def _unsafe_global(message: str) -> str | None:
    """Pick the offending global (e.g. 'posix.system') out of torch's weights_only message."""
    match = re.search(r"GLOBAL ([\w.]+)", message)
    return f"the global '{match.group(1)}'" if match else None
