"""The --json output contract: strict JSON (non-finite floats as {"__float__": ...}), errors as
{"error": ...} with exit status 1, and a traceback only with --debug."""

from __future__ import annotations

import json
import math
import shutil

import pytest

from workbench.cli import main
from workbench.core import jsonio


def strict_loads(text: str):
    """A strict RFC 8259 parser: bare NaN / Infinity are errors."""
    def refuse(name):
        raise ValueError(f"non-standard JSON constant {name}")

    return json.loads(text, parse_constant=refuse)


def test_dumps_is_strict_and_round_trips():
    value = {"a": math.nan, "b": [math.inf, -math.inf, 1.5], "c": {"d": (math.inf,)}}
    text = jsonio.dumps(value)
    parsed = strict_loads(text)
    assert parsed["b"][0] == {"__float__": "Infinity"}
    back = jsonio.loads(text, source="t")
    assert math.isnan(back["a"]) and back["b"] == [math.inf, -math.inf, 1.5]


def test_inspect_json_is_strict_with_non_finite_config_values(tmp_path, minilm_path, capsys):
    folder = tmp_path / "m"
    folder.mkdir()
    data = json.loads((minilm_path / "config.json").read_text())
    text = json.dumps({**data, "layer_norm_eps": math.nan, "x": math.inf})  # bare NaN/Infinity
    (folder / "config.json").write_text(text)
    assert main(["inspect", str(folder), "--json"]) == 0
    out = strict_loads(capsys.readouterr().out)
    assert out["config"]["layer_norm_eps"] == {"__float__": "NaN"}
    assert out["config"]["x"] == {"__float__": "Infinity"}


def test_errors_are_strict_json_with_status_1(tmp_path, capsys):
    (tmp_path / "x.safetensors").write_bytes(b"\x05\0\0\0\0\0\0\0{bad}")
    assert main(["inspect", str(tmp_path / "x.safetensors"), "--json"]) == 1
    out = strict_loads(capsys.readouterr().out)
    assert set(out) == {"error"} and "not valid JSON" in out["error"]


@pytest.fixture
def crashing_inspect(monkeypatch):
    """An internal bug in a command (what --debug exists for)."""
    import workbench.commands.inspect as command

    def run(_args):
        raise RuntimeError("internal bug")

    monkeypatch.setattr(command, "run", run)


def test_unexpected_errors_show_no_traceback(crashing_inspect, tmp_path, capsys):
    assert main(["inspect", str(tmp_path), "--json"]) == 1
    captured = capsys.readouterr()
    assert "Traceback" not in captured.out + captured.err
    assert "unexpected RuntimeError: internal bug" in strict_loads(captured.out)["error"]


def test_debug_shows_the_traceback_on_stderr(crashing_inspect, tmp_path, capsys):
    assert main(["inspect", str(tmp_path), "--json", "--debug"]) == 1
    captured = capsys.readouterr()
    assert "Traceback" in captured.err and "Traceback" not in captured.out
    strict_loads(captured.out)


def test_json_help_documents_the_float_form(capsys):
    with pytest.raises(SystemExit):
        main(["cache", "--help"])
    assert '{"__float__": "NaN"}' in capsys.readouterr().out


def test_shard_folder_copy_keeps_working(tmp_path, tiny_models, capsys):
    """A real checkpoint still inspects to strict JSON end to end."""
    folder = tmp_path / "gpt2"
    shutil.copytree(tiny_models["gpt2"], folder)
    assert main(["inspect", str(folder), "--json", "--tensors"]) == 0
    out = strict_loads(capsys.readouterr().out)
    assert out["num_tensors"] > 0 and out["architecture"] == "GPT2LMHeadModel"


def test_text_output_never_sends_control_characters(tmp_path, capsys):
    from tests.core.hostile.stfiles import st

    name = "evil\x1b[2J\x1b]0;owned\x07.weight"
    st(tmp_path / "w.safetensors", {name: {"dtype": "F32", "shape": [1],
                                           "data_offsets": [0, 4]}}, b"\0" * 4)
    assert main(["inspect", str(tmp_path / "w.safetensors"), "--tensors"]) == 0
    out = capsys.readouterr().out
    assert "\x1b" not in out and "\\x1b[2J" in out


def test_unexpected_error_message_is_one_line(monkeypatch, tmp_path, capsys):
    import workbench.commands.inspect as command

    def run(_args):
        raise RuntimeError("first line\nTraceback (most recent call last):\n  File x")

    monkeypatch.setattr(command, "run", run)
    assert main(["inspect", str(tmp_path), "--json"]) == 1
    error = strict_loads(capsys.readouterr().out)["error"]
    assert "first line" in error and "Traceback" not in error
