"""Cyclic garbage made in a worker thread is collected on the GUI thread."""

from __future__ import annotations

import gc
import threading
from typing import ClassVar

from workbench.qt.gc_guard import GuiThreadCollector


class _Cycle:
    finalised_on: ClassVar[list[str]] = []

    def __init__(self):
        self.me = self

    def __del__(self):
        _Cycle.finalised_on.append(threading.current_thread().name)


def test_worker_garbage_is_finalised_on_the_gui_thread(qtbot):
    collector = GuiThreadCollector(interval_ms=10)
    collector.start()
    try:
        assert not gc.isenabled()
        _Cycle.finalised_on.clear()

        def make_garbage():
            for _ in range(50_000):  # far past every threshold: would trigger gc here
                _Cycle()

        worker = threading.Thread(target=make_garbage, name="worker")
        worker.start()
        worker.join()
        qtbot.waitUntil(lambda: len(_Cycle.finalised_on) >= 49_000, timeout=10_000)
        assert set(_Cycle.finalised_on) == {threading.main_thread().name}
    finally:
        collector.stop()
        gc.disable()  # the session-wide collector (tests/qt/conftest.py) stays in charge
