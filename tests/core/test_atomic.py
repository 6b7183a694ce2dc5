"""Atomic writes: the target is either the old file or the complete new one."""

from __future__ import annotations

import pytest

from workbench.core.atomic import atomic_path, atomic_write_text


def test_write_replaces_and_leaves_no_temp(tmp_path):
    target = tmp_path / "sub" / "config.json"
    atomic_write_text(target, "one")
    atomic_write_text(target, "two")
    assert target.read_text() == "two"
    assert [p.name for p in target.parent.iterdir()] == ["config.json"]
    assert target.stat().st_mode & 0o644 == 0o644


def test_a_failed_write_keeps_the_old_file(tmp_path):
    target = tmp_path / "model.png"
    target.write_bytes(b"old")
    def crash_mid_write():
        with atomic_path(target) as tmp:
            tmp.write_bytes(b"half a fi")
            raise RuntimeError("crash mid-write")

    with pytest.raises(RuntimeError):
        crash_mid_write()
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["model.png"]
