"""Pickled PyTorch weights (.bin/.pt/.pth): the one place that unpickles them, weights_only only."""

from __future__ import annotations

import pickle
import re
from pathlib import Path
from typing import Any

from workbench.core.checkpoint.tensors import TORCH_TO_CODE, TensorInfo
from workbench.core.errors import CorruptCheckpointError, UnsafePickleError

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
    state = unwrap_state_dict(state)
    if not isinstance(state, dict):
        raise CorruptCheckpointError(
            f"{path.name} holds a {type(state).__name__}, not a dictionary of tensors.")
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


def _unsafe_global(message: str) -> str | None:
    """Pick the offending global (e.g. 'posix.system') out of torch's weights_only message."""
    match = re.search(r"GLOBAL ([\w.]+)", message)
    return f"the global '{match.group(1)}'" if match else None
