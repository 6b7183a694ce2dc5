"""Worker-side entry points: each imports its core module when it runs, off the GUI thread."""

from __future__ import annotations

from typing import Any


def run_diff(a: str, b: str | None, progress=None, cancel=None):
    from workbench.core.diff.weights import diff_checkpoints

    return diff_checkpoints(a, b or None, progress=progress, cancel=cancel)


def run_evaluate(path: str, data: str, save: bool, progress=None, cancel=None, **kwargs: Any):
    """Evaluate and, for a run, save evaluation.json beside it.

    Returns (report, saved path or "", the weights folder evaluated: a run's final/)."""
    from workbench.core.evaluate.report import save_report
    from workbench.core.evaluate.runner import evaluate, resolve_target

    report = evaluate(path, data, progress=progress, cancel=cancel, **kwargs)
    target = resolve_target(path, kwargs.get("task"))
    saved = str(save_report(report, target.run_dir)) if save and target.run_dir is not None \
        else ""
    return report, saved, str(target.model_dir)


def run_export(path: str, out: str, progress=None, cancel=None, **kwargs: Any) -> dict:
    from workbench.core.export.exporter import export_model

    return export_model(path, out, progress=progress, cancel=cancel, **kwargs)


def start_server(path: str, port: int, progress=None, cancel=None):
    """A started ModelServer (the dialog owns it and stops it)."""
    from workbench.core.serve.server import ModelServer

    server = ModelServer(path, port=port)
    server.start(progress=progress, cancel=cancel)
    return server


def ask_server(url: str, model: str, prompt: str, chat: bool) -> str:
    from workbench.core.serve import server

    return (server.chat if chat else server.complete)(url, model, prompt)
