"""Splitter positions that survive a restart: restored when first shown, saved when moved.

Feature views are built lazily and own their splitters, so instead of each view reading
QSettings, every workbench splitter is a `RememberedSplitter`: on its first show it restores
the position saved under its key and from then on saves it whenever the user drags it. A
splitter is named by the workbench widget that holds it and its index among that widget's
splitters (stable: views build their layout in code). The main window says where positions
are kept (`remember_splitters_in`); a view shown without a window remembers nothing.

(An application-wide event filter did this before; it ran Python for every event of the app,
20-190 ms over a dialog's first show.)
"""

from __future__ import annotations

from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QSplitter, QWidget

_settings: QSettings | None = None


def remember_splitters_in(settings: QSettings | None) -> None:
    """Keep splitter positions in `settings` from now on (None: stop remembering)."""
    global _settings
    _settings = settings


def splitter_key(splitter: QSplitter) -> str:
    """`splitters/<OwnerClass>/<index>`: the nearest workbench ancestor and which splitter."""
    owner: QWidget | None = splitter.parentWidget()
    while owner is not None and not type(owner).__module__.startswith("workbench."):
        owner = owner.parentWidget()
    if owner is None:
        return ""
    index = list(owner.findChildren(QSplitter)).index(splitter)
    return f"splitters/{type(owner).__name__}/{index}"


class RememberedSplitter(QSplitter):
    """A QSplitter whose position is restored on first show and saved when the user moves it."""

    _restored = False

    def showEvent(self, event) -> None:
        super().showEvent(event)
        if self._restored or _settings is None:
            return
        self._restored = True
        key = splitter_key(self)
        if not key:
            return
        settings = _settings
        state = settings.value(key)
        if state is not None:
            self.restoreState(state)
        self.splitterMoved.connect(lambda *_a: settings.setValue(key, self.saveState()))
