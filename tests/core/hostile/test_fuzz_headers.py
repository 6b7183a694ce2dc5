"""Fuzz: thousands of mutations of real safetensors headers (tiny models and MiniLM).

Only a WorkbenchError may escape the header reader or `inspect_checkpoint`, every case is
bounded by a watchdog (a hang fails the test; no timing is asserted), and the process's peak
memory stays bounded.
"""

from __future__ import annotations

import collections
import resource
import signal
from contextlib import contextmanager

import pytest

from tests.core.hostile.mutations import cases
from tests.core.hostile.stfiles import overwrite, read_header
from workbench.core.checkpoint.inspection import inspect_checkpoint
from workbench.core.checkpoint.safetensors_header import read_safetensors_header
from workbench.core.errors import WorkbenchError

CASE_WATCHDOG_S = 30  # far above the milliseconds a case takes; only a hang reaches it
MEMORY_GROWTH_LIMIT = 1 << 30


class Hang(Exception):
    """A case ran past the watchdog."""


@contextmanager
def watchdog(seconds: float):
    def fire(_signum, _frame):
        raise Hang(f"a case ran for more than {seconds} s")

    old = signal.signal(signal.SIGALRM, fire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


@pytest.fixture(scope="module")
def sources(tiny_models, minilm_path):
    """(raw header, data length) of every tiny model and of MiniLM."""
    found = [read_header(folder / "model.safetensors") for folder in tiny_models.values()]
    return [*found, read_header(minilm_path / "model.safetensors")]


def _write(path, case) -> None:
    overwrite(path, case.header, case.data_len, case.declared_len)  # sparse data section


def _max_rss() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux


def test_only_workbench_errors_escape_the_header_reader(tmp_path, sources):
    path = tmp_path / "model.safetensors"
    outcomes: collections.Counter[str] = collections.Counter()
    start_rss = _max_rss()
    for case in cases(sources, 5000, seed=11):
        _write(path, case)
        message = None
        with watchdog(CASE_WATCHDOG_S):
            try:
                tensors, metadata = read_safetensors_header(path)
            except WorkbenchError as e:
                message = str(e)
        if message is not None:
            assert message and "Traceback" not in message, case.tag
            outcomes["refused"] += 1
        else:
            assert all(isinstance(v, str) for v in metadata.values()), case.tag
            assert all(t.nbytes == t.data_offsets[1] - t.data_offsets[0] for t in tensors)
            outcomes["accepted"] += 1
    assert outcomes["refused"] > 2000 and outcomes["accepted"] > 200
    assert _max_rss() - start_rss < MEMORY_GROWTH_LIMIT


def test_only_workbench_errors_escape_inspect(tmp_path, sources):
    """The whole inspect path (tree from names, name guess, JSON of the result) on 800 cases."""
    import json

    path = tmp_path / "weights.safetensors"
    accepted = 0
    for case in cases(sources, 800, seed=5):
        _write(path, case)
        with watchdog(CASE_WATCHDOG_S):
            try:
                info = inspect_checkpoint(path)
            except WorkbenchError:
                continue
            json.dumps(info.to_json(with_tensors=True))  # the CLI's output must be writable
            if info.module_tree is not None:
                sum(1 for _ in info.module_tree.walk())
            accepted += 1
    assert accepted > 50
