"""Cyclic garbage made in a worker thread is collected on the GUI thread."""

from __future__ import annotations

import gc
import threading
from typing import ClassVar


class _Cycle:
    finalised_on: ClassVar[list[str]] = []

    def __init__(self):
        self.me = self

    def __del__(self):
        _Cycle.finalised_on.append(threading.current_thread().name)


def _in_worker(fn) -> None:
    worker = threading.Thread(target=fn, name="worker")
    worker.start()
    worker.join()


def test_worker_garbage_is_finalised_on_the_gui_thread(qtbot):
    """The session-wide guard (tests/qt/conftest.py, as in the app) is active here."""
    assert not gc.isenabled()
    _Cycle.finalised_on.clear()

    def make_garbage():
        for _ in range(50_000):  # far past every threshold: would trigger gc here
            _Cycle()

    _in_worker(make_garbage)
    qtbot.waitUntil(lambda: len(_Cycle.finalised_on) >= 49_000, timeout=10_000)

    def explicit_collect():  # what accelerate's free_memory() does in the training thread
        _Cycle()
        gc.collect()

    _in_worker(explicit_collect)
    qtbot.waitUntil(lambda: len(_Cycle.finalised_on) >= 49_001, timeout=10_000)
    assert set(_Cycle.finalised_on) == {threading.main_thread().name}
