"""workbench.core must work without Qt: import every core module with PySide6 blocked."""

from __future__ import annotations

import pkgutil
import subprocess
import sys
from pathlib import Path

import workbench.core

BLOCKER = """
import importlib.abc, sys
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        top = name.split('.')[0]
        if top in ('PySide6', 'shiboken6', 'pyqtgraph') or name.startswith('workbench.qt'):
            raise ImportError(f'{name} is blocked: workbench.core must not import Qt')
sys.meta_path.insert(0, Block())
import importlib
for name in sys.argv[1:]:
    importlib.import_module(name)
print('ok', len(sys.argv) - 1)
"""


def _core_modules() -> list[str]:
    return sorted(m.name for m in pkgutil.walk_packages(workbench.core.__path__, "workbench.core."))


def test_every_core_module_imports_without_qt():
    modules = [*_core_modules(), "workbench.cli", "workbench.commands.inspect"]
    proc = subprocess.run([sys.executable, "-c", BLOCKER, *modules], capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip() == f"ok {len(modules)}"


def test_the_blocker_really_blocks():
    proc = subprocess.run([sys.executable, "-c", BLOCKER, "PySide6.QtCore"], capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode != 0 and "blocked" in proc.stderr


def test_import_linter_contract():
    """The same rule as a static contract (import-linter, configured in pyproject.toml)."""
    # The script beside this interpreter: the venv need not be activated.
    lint_imports = Path(sys.executable).with_name("lint-imports")
    proc = subprocess.run([str(lint_imports)], capture_output=True, text=True, timeout=300,
                          cwd=Path(__file__).resolve().parents[2])
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert "0 broken" in proc.stdout and "Contracts: 6 kept" in proc.stdout
