"""Splitter positions that survive a restart: saved when moved, restored when first shown.

Feature views are built lazily and own their splitters, so instead of each view reading
QSettings, one application event filter restores any splitter the first time it is shown and
saves it whenever the user drags it. A splitter is named by the workbench widget that holds it
and its index among that widget's splitters (stable: views build their layout in code).
"""

from __future__ import annotations

from PySide6.QtCore import QEvent, QObject, QSettings
from PySide6.QtWidgets import QSplitter, QWidget

_SEEN = "_workbench_splitter_restored"  # dynamic property: restored once per splitter


def splitter_key(splitter: QSplitter) -> str:
    """`splitters/<OwnerClass>/<index>`: the nearest workbench ancestor and which splitter."""
    owner: QWidget | None = splitter.parentWidget()
    while owner is not None and not type(owner).__module__.startswith("workbench."):
        owner = owner.parentWidget()
    if owner is None:
        return ""
    index = list(owner.findChildren(QSplitter)).index(splitter)
    return f"splitters/{type(owner).__name__}/{index}"


class SplitterMemory(QObject):
    """Install on the QApplication: restores and saves every workbench splitter."""

    def __init__(self, settings: QSettings, parent: QObject | None = None):
        super().__init__(parent)
        self.settings = settings

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        # The type test first: it sees every event of the app, and event.type() makes a
        # Python enum object each call (~4 us: 20-40 ms over a view's first show).
        if (isinstance(watched, QSplitter) and event.type() == QEvent.Type.Show
                and not watched.property(_SEEN)):
            watched.setProperty(_SEEN, True)
            key = splitter_key(watched)
            if key:
                state = self.settings.value(key)
                if state is not None:
                    watched.restoreState(state)
                watched.splitterMoved.connect(lambda *_a, s=watched, k=key: self._save(s, k))
        return False

    def _save(self, splitter: QSplitter, key: str) -> None:
        self.settings.setValue(key, splitter.saveState())
