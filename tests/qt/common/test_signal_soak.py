"""PySide6 6.12.0 on CPython 3.11 aborted after a few hundred emits; make sure ours survives."""

from __future__ import annotations

from PySide6.QtCore import QObject, Signal

from workbench.qt.common.tasks import tracked_thread

N = 100_000


class _Emitter(QObject):
    value = Signal(object)
    done = Signal()

    def run(self) -> None:
        for i in range(N):
            self.value.emit(i)
        self.done.emit()


class _Receiver(QObject):
    def __init__(self):
        super().__init__()
        self.count = 0
        self.total = 0

    def on_value(self, v) -> None:
        self.count += 1
        self.total += v


def test_100k_signals_across_a_thread(qtbot):
    emitter, receiver = _Emitter(), _Receiver()
    thread = tracked_thread()
    emitter.moveToThread(thread)
    emitter.value.connect(receiver.on_value)  # receiver lives in the GUI thread: queued
    thread.started.connect(emitter.run)
    emitter.done.connect(thread.quit)
    with qtbot.waitSignal(thread.finished, timeout=120_000):
        thread.start()
    qtbot.waitUntil(lambda: receiver.count == N, timeout=60_000)
    assert receiver.total == N * (N - 1) // 2
    thread.wait()
