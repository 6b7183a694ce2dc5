"""Atomic writes: the target is either the old file or the complete new one."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from workbench.core.atomic import atomic_path, atomic_write_text

ROOT = Path(__file__).resolve().parents[2]


def _env_with_this_checkout() -> dict[str, str]:
    """The environment for a child Python that imports this checkout's workbench."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)
    return env


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


def test_writes_never_touch_the_process_umask(tmp_path, monkeypatch):
    """The umask is read once at import; flipping it per write races with other threads."""
    from workbench.core import atomic

    def forbidden(_mask):
        raise AssertionError("os.umask called during a write")

    monkeypatch.setattr(os, "umask", forbidden)
    target = atomic_write_text(tmp_path / "a.json", "{}")
    assert target.stat().st_mode & 0o777 == atomic.FILE_MODE
    with atomic.atomic_folder(tmp_path / "folder") as staged:
        (staged / "x.txt").write_text("x")
    assert (tmp_path / "folder").stat().st_mode & 0o777 == atomic.DIR_MODE


def test_umask_is_read_from_the_process():
    import subprocess
    import sys

    code = "from workbench.core import atomic; print(oct(atomic.UMASK))"
    for mask in (0o022, 0o077, 0o002):
        out = subprocess.run([sys.executable, "-c", code], umask=mask, capture_output=True,
                             text=True, check=True, env=_env_with_this_checkout()).stdout
        assert int(out, 8) == mask


def test_folder_write_settles_permissions_and_is_all_or_nothing(tmp_path):
    from workbench.core import atomic

    target = tmp_path / "model"
    with atomic.atomic_folder(target) as staged:
        private = staged / "model.safetensors"
        private.write_bytes(b"w")
        os.chmod(private, 0o600)  # what a library's own mkstemp leaves behind
        (staged / "sub").mkdir(mode=0o700)
        (staged / "sub" / "f").write_text("f")
    assert (target / "model.safetensors").stat().st_mode & 0o777 == atomic.FILE_MODE
    assert (target / "sub").stat().st_mode & 0o777 == atomic.DIR_MODE
    assert target.stat().st_mode & 0o777 == atomic.DIR_MODE

    def crash_mid_save():
        with atomic.atomic_folder(target, replace=True) as staged:
            (staged / "model.safetensors").write_bytes(b"half")
            raise RuntimeError("crash mid-save")

    with pytest.raises(RuntimeError):
        crash_mid_save()
    assert (target / "model.safetensors").read_bytes() == b"w"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]

    def write_over_without_replace():
        with atomic.atomic_folder(target) as staged:
            (staged / "other").write_text("o")

    with pytest.raises(FileExistsError):
        write_over_without_replace()
    with atomic.atomic_folder(target, replace=True) as staged:
        (staged / "new").write_text("n")
    assert sorted(p.name for p in target.iterdir()) == ["new"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]


def test_folder_write_leaves_hard_linked_sources_alone(tmp_path):
    """save_config_as hard-links unchanged weights: their mode is the source file's."""
    from workbench.core import atomic

    source = tmp_path / "source.safetensors"
    source.write_bytes(b"weights")
    os.chmod(source, 0o440)
    with atomic.atomic_folder(tmp_path / "copy") as staged:
        os.link(source, staged / "model.safetensors")
    assert source.stat().st_mode & 0o777 == 0o440
    assert (tmp_path / "copy" / "model.safetensors").read_bytes() == b"weights"


@pytest.mark.parametrize(("mask", "file_mode", "dir_mode"),
                         [(0o022, 0o644, 0o755), (0o077, 0o600, 0o700)])
def test_new_model_folder_follows_the_umask(tmp_path, mask, file_mode, dir_mode):
    """`workbench new --out`: model.safetensors was 0600 in a 0700 folder under umask 022."""
    import subprocess
    import sys

    out = tmp_path / "m"
    subprocess.run([sys.executable, "-m", "workbench", "new", "gpt2", "--set", "n_layer=1",
                    "--set", "n_embd=32", "--set", "n_head=2", "--out", str(out), "--json"],
                   umask=mask, check=True, capture_output=True, env=_env_with_this_checkout())
    files = sorted(out.iterdir())
    assert {"config.json", "model.safetensors"} <= {p.name for p in files}
    for path in files:
        assert path.stat().st_mode & 0o777 == file_mode, path.name
    assert out.stat().st_mode & 0o777 == dir_mode
