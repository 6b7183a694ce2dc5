"""Import what the feature views need off the GUI thread, once the window is up.

pyqtgraph takes ~0.8 s to import here; imported lazily on the GUI thread it froze the window
the first time Attention, Graph or Fine-tune opened. The feature views' own modules (the
Fine-tune form, the config editor, the graph view and the core modules behind them) cost
another 0.1-0.2 s each on first use. Pure-Python imports in a worker release the GIL every few
milliseconds, so the window keeps painting meanwhile; a view opened while the import still runs
waits for it (Python's import lock) instead of importing twice. What does not release the GIL
is kept out of the way: torch's shared libraries are mapped first with the GIL released
(core/native_preload.py), and the cyclic collector is off while the modules import.
"""

from __future__ import annotations

# Modules whose import only defines classes and plain values (no fonts, pixmaps or widgets):
# a module listed here must never make a QFont, QPixmap or QWidget at import time.
MODULES = (
    "pyqtgraph",
    # a checkpoint's tab and its Overview (~60 ms of imports on the first open otherwise)
    "workbench.qt.checkpoint_tab",
    "workbench.qt.attention.view",
    "workbench.core.graph.layout",
    # Edit config and File > New Model
    "workbench.qt.config.editor_view",
    "workbench.qt.config.new_model_dialog",
    # Fine-tune: the view, its pages, and the core modules its workers and form read
    "workbench.qt.train.view",
    "workbench.qt.train.runs_view",
    "workbench.qt.train.chat_preview",
    "workbench.qt.train.launch_panel",
    "workbench.core.training.spec",
    "workbench.core.training.lora_targets",
    "peft.utils.constants",  # the LoRA defaults the form asks for in a worker when it opens
    "workbench.core.training.memory_plan",
    "workbench.core.training.data",
    "workbench.core.training.runs",
    "workbench.core.training.chat_templates",
    # Graph
    "workbench.qt.graph.view",
)


def start_prewarm(runner) -> None:
    """Start `prewarm_imports` on `runner`; other workers wait for it (tasks.imports_settled)."""
    from workbench.qt.common.tasks import imports_settled

    imports_settled.clear()
    try:
        runner.start(prewarm_imports)
    except BaseException:
        imports_settled.set()
        raise


def prewarm_imports() -> None:
    """Worker side: import the plotting library and the feature views' modules, then fill the
    per-class caches those views read when they open (pure Python, no Qt objects)."""
    from workbench.qt.common.tasks import imports_settled

    try:
        _import_and_fill_caches()
    finally:
        imports_settled.set()


prewarm_imports.settles_imports = True  # the one worker that does not wait for itself


def _import_and_fill_caches() -> None:
    """Import MODULES by name (qt.common depends on no feature package: a listed module that
    has per-class caches to fill offers a `prewarm()` of its own, called here)."""
    import gc
    import importlib

    from workbench.core.native_preload import preload_torch_libraries

    preload_torch_libraries()  # first: the listed modules import torch, whose dlopen held the GIL
    # No cyclic collection while they import: the ~1M objects they create set off full
    # collections of 100-240 ms each, and a collection holds the GIL, so the window froze for
    # as long (measured with a 1 ms ticker thread: 4 pauses over 150 ms; none with the
    # collector off, and the imports take 4.8 s instead of 6.4 s). Then, as the device probe
    # does (main_window._device_summary), the long-lived objects are moved out of the
    # collector's view, so no later full collection pauses the GUI thread for them either
    # (measured: the next tab opened 40-60 ms slower without).
    collecting = gc.isenabled()
    gc.disable()
    try:
        from workbench.core.training.spec import field_docs

        modules = [importlib.import_module(name) for name in MODULES]
        field_docs()  # parses TrainSpec's source for the form's tooltips (~40 ms), cached
        gc.freeze()
    finally:
        if collecting:
            gc.enable()
    for module in modules:
        hook = getattr(module, "prewarm", None)
        if callable(hook):
            hook()  # e.g. the launch editor's docs, New Model's schemas and demo vocabulary
