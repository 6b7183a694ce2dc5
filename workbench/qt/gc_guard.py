"""Run Python's cyclic garbage collector only on the GUI thread.

A collection that happens to trigger in a worker thread (training, attention, model loading all
allocate heavily there) can finalise Qt objects caught in reference cycles on that thread, and Qt
may crash when a widget is destroyed off the GUI thread. (A preventive guard: the one crash seen
in the suite had another cause, see workbench/core/training/thread_safety.py.) So automatic collection is switched off
and a GUI-thread timer collects each generation when its threshold is passed (pyqtgraph's
GarbageCollector does the same).
"""

from __future__ import annotations

import gc

from PySide6.QtCore import QObject, QTimer

INTERVAL_MS = 500


class GuiThreadCollector(QObject):
    """While alive (and started), cyclic garbage is collected on the GUI thread only."""

    def __init__(self, parent: QObject | None = None, interval_ms: int = INTERVAL_MS):
        super().__init__(parent)
        self._thresholds = gc.get_threshold()
        self._timer = QTimer(self)
        self._timer.setInterval(interval_ms)
        self._timer.timeout.connect(self.collect_if_due)

    def start(self) -> None:
        gc.disable()
        self._timer.start()

    def stop(self) -> None:
        """Give collection back to the interpreter."""
        self._timer.stop()
        gc.enable()

    def collect_if_due(self) -> None:
        """Collect the generations whose allocation counts passed their thresholds."""
        counts = gc.get_count()
        generation = -1
        for gen in range(3):
            if counts[gen] > self._thresholds[gen]:
                generation = gen
            else:
                break
        if generation >= 0:
            gc.collect(generation)
