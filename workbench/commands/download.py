"""`workbench download REPO`: fetch a Hub repository into the HF cache, or preview its headers.

Progress goes to stderr (one line per finished file, and at most one a second in between);
the snapshot folder (or the preview) goes to stdout, as JSON with --json.
"""

from __future__ import annotations

import argparse
import sys
import time

from workbench.core.units import human_bytes, human_count

PROGRESS_INTERVAL_S = 1.0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("repo", help="repository id on the Hub, e.g. sentence-transformers/"
                                     "all-MiniLM-L6-v2 (HF_ENDPOINT selects a mirror)")
    parser.add_argument("--revision", default="main", help="branch, tag or commit (default main)")
    parser.add_argument("--include", nargs="+", action="extend", metavar="PATTERN",
                        help="download only files matching these patterns, e.g. '*.safetensors' "
                             "'*.json' or one 'model-Q4_K_M.gguf' (default: every file)")
    parser.add_argument("--safetensors", action="store_true",
                        help="only safetensors weights plus config and tokenizer files")
    parser.add_argument("--preview", action="store_true",
                        help="list files, sizes, parameters and dtypes from the safetensors "
                             "headers (range requests); download nothing")


def run(args: argparse.Namespace) -> dict:
    if args.preview:
        from workbench.core.hub.preview import preview_repo

        return {"preview": preview_repo(args.repo, args.revision,
                                        emit=lambda msg: _err(f"{msg}...")).to_json()}
    from workbench.core.hub.download import download_snapshot
    from workbench.core.hub.files import selection_patterns

    if args.include:
        patterns = selection_patterns("include", include=args.include)
    else:
        patterns = selection_patterns("safetensors" if args.safetensors else "all")
    return {"download": download_snapshot(args.repo, args.revision, patterns,
                                          emit=_ProgressPrinter()).to_json()}


class _ProgressPrinter:
    """Turns DownloadProgress events into a few readable stderr lines."""

    def __init__(self) -> None:
        self._last = 0.0

    def __call__(self, event) -> None:
        now = time.monotonic()
        finished = event.file_done == event.file_total and event.files_done > 0
        if not finished and now - self._last < PROGRESS_INTERVAL_S:
            return
        self._last = now
        file_pct = 100 * event.file_done / event.file_total if event.file_total else 100
        _err(f"[{event.files_done}/{event.files_total}] {event.file} {file_pct:.0f}%  "
             f"total {human_bytes(event.done)} / {human_bytes(event.total)} "
             f"({100 * event.fraction:.0f}%)")


def _err(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def render(data: dict) -> str:
    if "download" in data:
        d = data["download"]
        return (f"Downloaded {len(d['files'])} file(s) of {d['repo_id']} at {d['revision']} "
                f"(commit {d['commit'][:12]}, {human_bytes(d['total_size'])}, "
                f"{human_bytes(d['bytes_transferred'])} transferred) to\n{d['snapshot_path']}")
    p = data["preview"]
    lines = [f"{p['repo_id']} at {p['revision']} (commit {p['commit'][:12]})"
             + ("  [gated]" if p["gated"] else "") + ("  [private]" if p["private"] else ""),
             f"  {len(p['files'])} file(s), {human_bytes(p['total_size'])} in all"]
    if p["architecture"]:
        lines.append(f"  {p['architecture']} ({p['model_type'] or 'unknown type'})")
    if p["shards"]:
        dtypes = ", ".join(f"{k} {human_count(v)}" for k, v in p["dtypes"].items())
        lines.append(f"  safetensors: {len(p['shards'])} file(s), "
                     f"{human_bytes(p['safetensors_size'])}, {human_count(p['parameters'])} "
                     f"parameters in {p['tensors']:,} tensors ({dtypes})")
    for f in p["files"]:
        lines.append(f"    {human_bytes(f['size']):>10}  {f['path']}")
    return "\n".join(lines)
