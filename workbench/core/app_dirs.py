"""Where the application keeps its own files, per platform (XDG on Linux).

One owner for these paths: the GUI and the CLI must agree on them (a run started in a terminal
appears in the GUI's runs list; the log a user attaches is the one both write).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

APP_NAME = "transformer-workbench"


def data_dir() -> Path:
    """User data (training runs): ~/.local/share/transformer-workbench on Linux."""
    if sys.platform == "win32":
        base = Path(os.environ.get("APPDATA") or Path.home() / "AppData" / "Roaming")
    elif sys.platform == "darwin":
        base = Path.home() / "Library" / "Application Support"
    else:
        base = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")
    return base / APP_NAME


def state_dir() -> Path:
    """State that may be deleted (logs): ~/.local/state/transformer-workbench on Linux."""
    if sys.platform == "win32":
        base = Path(os.environ.get("LOCALAPPDATA") or Path.home() / "AppData" / "Local")
    elif sys.platform == "darwin":
        base = Path.home() / "Library" / "Logs"
    else:
        base = Path(os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state")
    return base / APP_NAME
