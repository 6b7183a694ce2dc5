"""The log: platform folder, env override, and the CLI's unexpected errors with tracebacks."""

from __future__ import annotations

import json
import logging.handlers
import sys
from pathlib import Path

import pytest

from workbench.cli import main
from workbench.core import logs


@pytest.mark.skipif(sys.platform in ("win32", "darwin"), reason="the Linux folder rules")
def test_folder_follows_xdg_state_home_then_home(monkeypatch, tmp_path):
    monkeypatch.delenv(logs.LOG_ENV, raising=False)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    assert logs.log_dir() == tmp_path / "state" / "transformer-workbench"
    monkeypatch.delenv("XDG_STATE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert logs.log_dir() == tmp_path / "home" / ".local" / "state" / "transformer-workbench"
    monkeypatch.setenv(logs.LOG_ENV, str(tmp_path / "override"))
    assert logs.log_file() == tmp_path / "override" / "workbench.log"


def test_unexpected_cli_error_leaves_its_traceback_in_the_log(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv(logs.LOG_ENV, str(tmp_path / "logs"))

    def broken(args):  # stands in for a bug inside a command, not for the logging under test
        raise RuntimeError("boom in a command")

    monkeypatch.setattr("workbench.commands.cache.run", broken)
    assert main(["cache", "--json"]) == 1
    error = json.loads(capsys.readouterr().out)["error"]
    log = tmp_path / "logs" / "workbench.log"
    assert error.startswith("unexpected RuntimeError: boom in a command")
    assert str(log) in error  # the message says where the traceback went
    text = log.read_text(encoding="utf-8")
    assert "Traceback (most recent call last)" in text
    assert "RuntimeError: boom in a command" in text and "workbench cache" in text
    handler = next(h for h in logging.getLogger(logs.LOGGER).handlers
                   if isinstance(h, logging.handlers.RotatingFileHandler))
    assert handler.maxBytes == logs.MAX_BYTES and handler.backupCount == logs.BACKUPS
    assert Path(handler.baseFilename) == log


def test_an_unwritable_folder_never_breaks_the_command(monkeypatch, tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    monkeypatch.setenv(logs.LOG_ENV, str(blocker / "logs"))
    monkeypatch.setattr("workbench.commands.cache.run",
                        lambda args: (_ for _ in ()).throw(ValueError("bad")))
    assert main(["cache", "--json"]) == 1
    assert json.loads(capsys.readouterr().out)["error"].startswith("unexpected ValueError: bad")
