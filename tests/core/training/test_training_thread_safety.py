"""Building a Trainer must never clear the process environment (other threads read it)."""

from __future__ import annotations

import os
import threading

from accelerate.utils import GradientAccumulationPlugin

from workbench.core.training.thread_safety import make_trainer_thread_safe


def test_to_kwargs_leaves_the_environment_alone_and_keeps_its_meaning():
    make_trainer_thread_safe()
    os.environ["WORKBENCH_ENV_PROBE"] = "1"
    seen_missing = []
    stop = threading.Event()

    def watch():
        while not stop.is_set():
            if "WORKBENCH_ENV_PROBE" not in os.environ:
                seen_missing.append(True)

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        for _ in range(2000):
            assert GradientAccumulationPlugin(num_steps=4).to_kwargs() == {"num_steps": 4}
            assert GradientAccumulationPlugin().to_kwargs() == {}
    finally:
        stop.set()
        watcher.join()
        del os.environ["WORKBENCH_ENV_PROBE"]
    assert not seen_missing  # accelerate's original cleared os.environ on every call
