"""Load torch's shared libraries with the GIL released, before `import torch` needs them.

Importing torch maps ~500 MB of shared libraries (libtorch_cpu and friends) and relocates them.
CPython holds the GIL through the dlopen of an extension module, and `ctypes.CDLL` holds it too,
so while a worker imported torch the GUI thread froze for 160-440 ms. A call into a C function
through ctypes releases the GIL; calling libc's `dlopen` on the same libraries first does that
work while other threads run, and `import torch` then finds them loaded (the dynamic loader
matches already-loaded objects by name). They are opened RTLD_LOCAL, as the import itself would
open them, so no symbol becomes visible that would not have been.
"""

from __future__ import annotations

import ctypes
import os
import sys
from importlib.util import find_spec
from pathlib import Path

# In the order torch loads them (each may need the ones before); absent ones (CPU builds have
# no CUDA libraries) are skipped.
# Only the C++ libraries: libtorch_python and the _C extension talk to Python, and a library's
# initialisers run inside dlopen, here without the GIL.
TORCH_LIBRARIES = ("lib/libtorch_global_deps.so", "lib/libc10.so", "lib/libc10_cuda.so",
                   "lib/libtorch_cpu.so", "lib/libtorch_cuda.so", "lib/libtorch.so")


def preload_torch_libraries() -> list[str]:
    """dlopen torch's C++ libraries without the GIL (Linux only; nothing
    once torch is imported). Returns the files loaded; on any failure it stops and leaves the
    rest, and any error message, to `import torch`."""
    if not sys.platform.startswith("linux") or "torch" in sys.modules:
        return []
    dlopen = _libc_dlopen()
    spec = find_spec("torch")
    if dlopen is None or spec is None or not spec.submodule_search_locations:
        return []
    root = Path(next(iter(spec.submodule_search_locations)))
    loaded = []
    for name in TORCH_LIBRARIES:
        path = root / name
        if not path.is_file():
            continue
        if not dlopen(os.fsencode(path), os.RTLD_NOW | os.RTLD_LOCAL):
            break  # e.g. a missing system library: the import will name it
        loaded.append(name)
    return loaded


def _libc_dlopen():
    """libc's dlopen as a ctypes function (calls to it release the GIL), or None."""
    for library in (None, "libc.so.6", "libdl.so.2"):  # glibc < 2.34 keeps dlopen in libdl
        try:
            dlopen = ctypes.CDLL(library).dlopen
        except (OSError, AttributeError):
            continue
        dlopen.restype = ctypes.c_void_p
        dlopen.argtypes = (ctypes.c_char_p, ctypes.c_int)
        return dlopen
    return None
