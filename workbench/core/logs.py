"""The app's log: a rotating file in the platform's log/state folder, shared by CLI and GUI.

Unexpected errors and their tracebacks go here, so a user can attach the file to a bug report.
The folder is $WORKBENCH_LOG_DIR (tests, portable installs), else the state folder of
core/app_dirs (Linux $XDG_STATE_HOME/transformer-workbench or ~/.local/state/...; macOS
~/Library/Logs/transformer-workbench; Windows %LOCALAPPDATA%/transformer-workbench).
The GUI calls the same function, so both always write to one file.
"""

from __future__ import annotations

import logging
import os
import threading
from logging.handlers import RotatingFileHandler
from pathlib import Path

LOG_NAME = "workbench.log"
LOG_ENV = "WORKBENCH_LOG_DIR"
MAX_BYTES = 1_000_000  # per file; with BACKUPS the log never exceeds ~4 MB
BACKUPS = 3
LOGGER = "workbench"

_lock = threading.Lock()
_handler: RotatingFileHandler | None = None


def log_dir() -> Path:
    """The folder the log file lives in (not created here)."""
    from workbench.core.app_dirs import state_dir

    override = os.environ.get(LOG_ENV)
    return Path(override).expanduser() if override else state_dir()


def log_file() -> Path:
    """The current log file's path."""
    return log_dir() / LOG_NAME


def logger() -> logging.Logger:
    """The app's logger, writing to the log file once `setup_logging` ran."""
    setup_logging()
    return logging.getLogger(LOGGER)


def setup_logging() -> Path | None:
    """Attach the rotating file handler (once, or again when the folder changed).

    Returns the log file, or None when its folder cannot be created: logging must never stop
    the app, so then records go nowhere (the error itself is still shown to the user).
    """
    global _handler
    path = log_file()
    with _lock:
        if _handler is not None and Path(_handler.baseFilename) == path.absolute():
            return path
        log = logging.getLogger(LOGGER)
        if _handler is not None:
            log.removeHandler(_handler)
            _handler.close()
            _handler = None
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            handler = RotatingFileHandler(path, maxBytes=MAX_BYTES, backupCount=BACKUPS,
                                          encoding="utf-8", delay=True)
        except OSError:
            return None
        handler.setFormatter(logging.Formatter(
            "%(asctime)s %(levelname)s %(name)s [%(threadName)s] %(message)s"))
        log.addHandler(handler)
        log.setLevel(logging.INFO)
        log.propagate = False  # the CLI's stderr stays clean (JSON output must parse)
        _handler = handler
        return path


def log_unexpected(message: str, details: str = "") -> Path | None:
    """Write an unexpected error and its traceback text to the log; the log file, or None."""
    path = setup_logging()
    logging.getLogger(LOGGER).error("%s\n%s", message, details.rstrip() or "(no traceback)")
    if _handler is not None:
        _handler.flush()
    return path
