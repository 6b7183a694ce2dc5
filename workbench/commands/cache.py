"""`workbench cache`: list models in the local Hugging Face cache."""

from __future__ import annotations

import argparse
import time

from workbench.core.checkpoint.hf_cache import hub_cache_dir, list_cached_models
from workbench.core.units import human_bytes


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dir", help="cache folder (default: HF_HUB_CACHE or HF_HOME/hub)")


def run(args: argparse.Namespace) -> dict:
    from pathlib import Path

    folder = Path(args.dir) if args.dir else hub_cache_dir()
    return {"cache_dir": str(folder),
            "models": [m.to_json() for m in list_cached_models(folder)]}


def render(data: dict) -> str:
    if not data["models"]:
        return f"No models cached in {data['cache_dir']}."
    lines = [f"{len(data['models'])} model(s) in {data['cache_dir']}:"]
    for m in data["models"]:
        used = time.strftime("%Y-%m-%d", time.localtime(m["last_accessed"]))
        lines.append(f"  {m['repo_id']:50} {human_bytes(m['size_on_disk']):>10}  used {used}  "
                     f"{len(m['revisions'])} revision(s)  {m['snapshot_path']}")
    return "\n".join(lines)
