"""Keep Trainer construction from clearing the process environment.

accelerate's `KwargsHandler.to_kwargs()` (called by every `Trainer(...)` through
`Accelerator -> GradientAccumulationPlugin`) wraps a dataclass instantiation in
`clear_environment()`: `os.environ.clear()` followed by a restore. That unsets every variable of
the process for a moment. When training runs in a worker thread, any other thread that reads
the environment meanwhile (Qt's event loop does, through getenv) reads freed memory: the
suite crashed with a segmentation fault in the GUI thread exactly there. The replacement
compares with the dataclass's declared field defaults instead, which is what the cleared
environment was for, without touching `os.environ`.
"""

from __future__ import annotations

import dataclasses

_installed = False


def _declared_defaults(cls) -> dict:
    defaults = {}
    for f in dataclasses.fields(cls):
        if f.default is not dataclasses.MISSING:
            defaults[f.name] = f.default
        elif f.default_factory is not dataclasses.MISSING:
            defaults[f.name] = f.default_factory()
    return defaults


def _to_kwargs(self) -> dict:
    """Attributes that differ from the class's declared defaults (no environment changes)."""
    defaults = _declared_defaults(type(self))
    return {k: v for k, v in self.to_dict().items() if k not in defaults or defaults[k] != v}


def make_trainer_thread_safe() -> None:
    """Install the environment-free `to_kwargs` on accelerate's KwargsHandler (idempotent)."""
    global _installed
    if _installed:
        return
    from accelerate.utils.dataclasses import KwargsHandler

    KwargsHandler.to_kwargs = _to_kwargs
    _installed = True
