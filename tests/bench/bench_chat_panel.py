"""Figures of the chat panel streaming two tiny models side by side: transcript updates per
second and the longest gap of the GUI event loop (run: QT_QPA_PLATFORM=offscreen python
tests/bench/bench_chat_panel.py)."""

from __future__ import annotations

import sys
import time


def main() -> None:
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    from tests.fixtures.chat import tiny_chat_llama
    from workbench.core.chat.local import LocalChat
    from workbench.qt.common.chat_panel import ChatPanel
    from workbench.qt.common.tasks import TaskRunner

    app = QApplication.instance() or QApplication(sys.argv)
    runner = TaskRunner()
    backends = [LocalChat(tiny_chat_llama(2048), title=t) for t in ("base", "fine-tuned")]
    for b in backends:
        b.load()
    panel = ChatPanel(runner, backends)
    panel.resize(1000, 600)
    panel.show()
    panel.temperature.setValue(0)
    panel.max_new_tokens.setValue(600)
    gaps, last = [], [time.perf_counter()]

    def tick() -> None:
        now = time.perf_counter()
        gaps.append(now - last[0])
        last[0] = now

    probe = QTimer()
    probe.setInterval(5)
    probe.timeout.connect(tick)
    probe.start()
    start = time.perf_counter()
    panel.send("tell me a long story")
    while panel.busy:
        app.processEvents()
        time.sleep(0.001)
    seconds = time.perf_counter() - start
    tokens = sum(len(c.history[-1]["content"].split()) for c in panel.columns)
    updates = sum(c.updates for c in panel.columns)
    print(f"{seconds:.2f} s, ~{tokens} words in 2 columns, {updates} transcript updates "
          f"({updates / seconds / 2:.1f} per column per s), longest GUI gap "
          f"{max(gaps) * 1000:.1f} ms over {len(gaps)} ticks")
    runner.shutdown()


if __name__ == "__main__":
    main()
