"""Benchmark: headers-only Hub preview of a Llama-3-70B-shaped repository, and its download cost.

    python tests/bench/bench_hub_preview.py

Serves the 30-shard sparse Llama-3-70B checkpoint of fake_70b.py from the local test Hub
(tests/fixtures/hub_server.py, 127.0.0.1) and runs `preview_repo` through the real
huggingface_hub client. Prints: parameters, dtypes and total size it reports, wall time, the
number of requests and the body bytes the server sent (vs. the repository's size).
"""

from __future__ import annotations

import atexit
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
os.environ["WORKBENCH_OFFLINE_BY_DEFAULT"] = "1"  # as the CLI marks its own offline default


def main() -> None:
    from tests.bench.fake_70b import make_fake_llama70b
    from tests.fixtures.hub_server import HubServer, Repo

    root = Path(tempfile.mkdtemp(prefix="wb-bench-hub-"))
    atexit.register(shutil.rmtree, root, True)
    folder = make_fake_llama70b(root / "llama70b")
    server = HubServer().start()
    server.repos["meta/llama-70b"] = Repo.from_folder(folder, on_disk=True)
    os.environ["HF_ENDPOINT"] = server.url
    os.environ["HF_HUB_CACHE"] = str(root / "cache")
    from workbench.core.hub.preview import preview_repo
    from workbench.core.units import human_bytes, human_count

    times, sent, requests = [], [], []
    for _ in range(3):
        server.requests.clear()
        t = time.perf_counter()
        preview = preview_repo("meta/llama-70b")
        times.append(time.perf_counter() - t)
        sent.append(sum(r.body_bytes for r in server.requests))
        requests.append(len(server.requests))
    server.stop()
    repo = preview.repo
    print(f"repo: {len(repo.files)} files, {human_bytes(repo.total_size)} "
          f"({repo.total_size:,} bytes); {len(preview.shards)} safetensors shards")
    print(f"architecture: {preview.architecture} ({preview.model_type})")
    print(f"reported: {preview.parameters:,} parameters ({human_count(preview.parameters)}), "
          f"dtypes {preview.dtypes}, {sum(s.tensors for s in preview.shards)} tensors")
    print(f"preview wall time: median {statistics.median(times):.3f} s of {len(times)} "
          f"(min {min(times):.3f} s), {requests[-1]} requests")
    print(f"bytes sent by the server: {sent[-1]:,} ({human_bytes(sent[-1])}), "
          f"{sent[-1] / repo.total_size:.2e} of the repository")


if __name__ == "__main__":
    main()
