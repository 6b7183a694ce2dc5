"""The diff's memory does not grow with the checkpoints: two 0.8B-element sparse safetensors
files (holes read as zeros, so no disk is used) diff in a child process whose anonymous memory
(RssAnon: what it allocates, not the mmap'd file pages the kernel can drop) stays within the
reused chunk buffers."""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]

# Llama-2-7B's shapes, fewer layers: the mix of chunk sizes that made glibc keep freed heap.
SHAPES = [("embed", (32000, 4096))] + [
    (f"layers.{i}.{n}", s) for i in range(4)
    for n, s in (("q", (4096, 4096)), ("k", (4096, 4096)), ("gate", (11008, 4096)),
                 ("up", (11008, 4096)), ("down", (4096, 11008)), ("norm", (4096,)))]

_CHILD = """
import json, sys, threading, time
import torch
from workbench.core.diff.weights import diff_checkpoints

def anon():
    with open("/proc/self/status") as f:
        return next(int(l.split()[1]) for l in f if l.startswith("RssAnon"))

peak, done = [0], threading.Event()
def sample():
    while not done.is_set():
        peak[0] = max(peak[0], anon())
        time.sleep(0.002)
base = anon()
threading.Thread(target=sample, daemon=True).start()
d = diff_checkpoints(sys.argv[1], sys.argv[2])
done.set()
print(json.dumps({"base_kb": base, "peak_kb": max(peak[0], anon()), "summary": d.summary()}))
"""


def _sparse(folder: Path, changed: bool) -> int:
    header, offset = {}, 0
    for name, shape in SHAPES:
        size = 2
        for n in shape:
            size *= n
        header[f"model.{name}.weight"] = {"dtype": "F16", "shape": list(shape),
                                          "data_offsets": [offset, offset + size]}
        offset += size
    raw = json.dumps(header).encode()
    raw += b" " * (-len(raw) % 8)
    folder.mkdir()
    with (folder / "model.safetensors").open("wb") as f:
        f.write(struct.pack("<Q", len(raw)) + raw)
        f.truncate(8 + len(raw) + offset)
        if changed:  # one value of layer 2's down projection differs: 1.0 in float16
            f.seek(8 + len(raw) + header["model.layers.2.down.weight"]["data_offsets"][0])
            f.write(struct.pack("<e", 1.0))
    (folder / "config.json").write_text(json.dumps({"model_type": "llama"}))
    return offset // 2


def test_diff_anonymous_memory_stays_within_its_buffers(tmp_path):
    elements = _sparse(tmp_path / "a", changed=False)
    _sparse(tmp_path / "b", changed=True)
    assert elements > 8e8  # 3.2 GB of float32 if it were all held at once
    out = subprocess.run([sys.executable, "-c", _CHILD, str(tmp_path / "a"),
                          str(tmp_path / "b")], capture_output=True, text=True, check=True,
                         cwd=ROOT, env=dict(os.environ, PYTHONPATH=str(ROOT)))
    data = json.loads(out.stdout.strip().splitlines()[-1])
    assert data["summary"] == {"same": len(SHAPES) - 1, "changed": 1}
    grown_mb = (data["peak_kb"] - data["base_kb"]) / 1024
    # four 32 MB float32 buffers and one stored slice per side (~16 MB each), plus small change;
    # a float32 tensor per chunk instead left 400+ MB on glibc's heap (measured).
    assert grown_mb < 250, f"the diff grew anonymous memory by {grown_mb:.0f} MB"
