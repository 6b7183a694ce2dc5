"""torch's C++ libraries are dlopened before `import torch` (with the GIL released), and torch
then imports and computes as usual. Each case runs in a fresh interpreter: this one has torch."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux dlopen")


def _run(code: str) -> dict:
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=300, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_preloaded_libraries_are_the_ones_torch_then_uses():
    result = _run(
        "import json, sys\n"
        "from workbench.core.native_preload import preload_torch_libraries\n"
        "loaded = preload_torch_libraries()\n"
        "before = 'torch' in sys.modules\n"
        "maps = open('/proc/self/maps').read()\n"
        "mapped = [n for n in loaded if n.rsplit('/', 1)[-1] in maps]\n"
        "import torch\n"
        "value = torch.nn.functional.linear(torch.ones(2, 3), torch.ones(4, 3)).sum().item()\n"
        "print(json.dumps({'loaded': loaded, 'mapped': mapped, 'torch_before': before,\n"
        "                  'value': value}))\n")
    assert {"lib/libc10.so", "lib/libtorch_cpu.so"} <= set(result["loaded"])
    assert result["mapped"] == result["loaded"]  # really in this process's memory
    assert not result["torch_before"]  # loaded without importing torch
    assert result["value"] == 24.0


def test_nothing_is_loaded_once_torch_is_imported():
    result = _run(
        "import json, torch\n"
        "from workbench.core.native_preload import preload_torch_libraries\n"
        "print(json.dumps({'loaded': preload_torch_libraries()}))\n")
    assert result["loaded"] == []
