"""`workbench download` against a local Hub: JSON on stdout, progress on stderr, clean errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.fixtures.hub_server import PARAMETERS
from workbench.cli import main


def test_download_json_prints_the_snapshot_and_progress_on_stderr(served, capsys):
    assert main(["download", "tiny/bert", "--include", "*.json", "*.md", "--json"]) == 0
    out, err = capsys.readouterr()
    result = json.loads(out)["download"]
    assert sorted(result["files"]) == ["README.md", "config.json", "model.safetensors.index.json"]
    assert (Path(result["snapshot_path"]) / "config.json").is_file()
    assert "[3/3]" in err and "(100%)" in err


def test_preview_json_downloads_no_weights(served, capsys):
    assert main(["download", "tiny/bert", "--preview", "--json"]) == 0
    preview = json.loads(capsys.readouterr().out)["preview"]
    assert preview["parameters"] == PARAMETERS and preview["dtypes"] == {"F32": PARAMETERS}
    assert not [r for r in served.requests if r.method == "GET" and "/resolve/" in r.path
                and r.path.endswith(".safetensors") and not r.range]
    assert main(["download", "tiny/bert", "--preview"]) == 0
    human = capsys.readouterr().out
    assert "152.3 K parameters" in human and "BertModel (bert)" in human


def test_missing_repo_is_a_json_error_not_a_traceback(served, capsys):
    assert main(["download", "nobody/nothing", "--json"]) == 1
    out, err = capsys.readouterr()
    assert "nobody/nothing was not found" in json.loads(out)["error"]
    assert "Traceback" not in err


def test_the_installed_command_reads_hf_endpoint_and_cache_from_the_environment(served, tmp_path):
    """A real process: huggingface_hub's import-time constants come from the environment, and
    the CLI's own offline default is lifted for the download."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "WORKBENCH_OFFLINE_BY_DEFAULT")}
    env.update(HF_ENDPOINT=served.url, HF_HUB_CACHE=str(tmp_path / "cli-cache"),
               PYTHONPATH=os.getcwd())
    proc = subprocess.run(
        [sys.executable, "-m", "workbench", "download", "tiny/bert", "--include", "config.json",
         "--json"], env=env, capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    snapshot = Path(json.loads(proc.stdout)["download"]["snapshot_path"])
    assert snapshot.is_relative_to(tmp_path / "cli-cache")
    assert (snapshot / "config.json").read_bytes() == served.repos["tiny/bert"].files["config.json"]
    # The user's own offline setting is obeyed, with a message that says what to do.
    env["HF_HUB_OFFLINE"] = "1"
    proc = subprocess.run(
        [sys.executable, "-m", "workbench", "download", "tiny/bert", "--json"], env=env,
        capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 1
    assert "Offline mode is on" in json.loads(proc.stdout)["error"]
