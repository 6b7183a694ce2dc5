"""Hostile-input figures (prints numbers; no asserts on time).

    python tests/bench/bench_hostile.py [N_TENSORS]

1. A valid header with N tensors (default 200,000; ~20 MB): read_safetensors_header and the
   whole inspect_checkpoint, wall time and peak RSS, next to plain json.loads of the same text.
2. The fuzz corpus: 5,000 mutated MiniLM headers through read_safetensors_header (cases/s).
3. Divisor suggestion for hidden_size = 1,000,000,007 and the refusal of 1,000,000 layers.
"""

from __future__ import annotations

import json
import random
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    from tests.core.hostile.mutations import cases
    from tests.core.hostile.stfiles import overwrite, read_header, st
    from workbench.core.checkpoint.inspection import inspect_checkpoint
    from workbench.core.checkpoint.safetensors_header import read_safetensors_header
    from workbench.core.config.rules import _near_divisors
    from workbench.core.errors import WorkbenchError
    from workbench.core.model.limits import check_structure
    from workbench.core.model.loading import demo_checkpoint_path

    n = int(sys.argv[1]) if len(sys.argv) > 1 else 200_000
    tmp = Path(tempfile.mkdtemp())
    header = {f"model.layers.{i // 9}.block.{i % 9}.weight": {
        "dtype": "BF16", "shape": [64, 64], "data_offsets": [i * 8192, i * 8192 + 8192]}
        for i in range(n)}
    path = st(tmp / "many.safetensors", header, n * 8192)
    raw, _ = read_header(path)
    start = time.perf_counter()
    json.loads(raw)
    plain = time.perf_counter() - start
    start = time.perf_counter()
    read_safetensors_header(path)
    ours = time.perf_counter() - start
    start = time.perf_counter()
    info = inspect_checkpoint(path)
    whole = time.perf_counter() - start
    print(f"1. {n:,} tensors, header {len(raw) / 1e6:.1f} MB: json.loads {plain:.2f} s, "
          f"read_safetensors_header {ours:.2f} s, inspect_checkpoint {whole:.2f} s "
          f"({info.num_tensors:,} tensors), peak RSS {rss_mb():.0f} MB")

    source = read_header(demo_checkpoint_path() / "model.safetensors")
    corpus = list(cases([source], 5000, seed=11))
    target = tmp / "case.safetensors"
    refused = 0
    start = time.perf_counter()
    for case in corpus:
        overwrite(target, case.header, case.data_len, case.declared_len)
        try:
            read_safetensors_header(target)
        except WorkbenchError:
            refused += 1
    spent = time.perf_counter() - start
    print(f"2. 5,000 mutated MiniLM headers: {spent:.2f} s ({5000 / spent:,.0f} cases/s), "
          f"{refused:,} refused, peak RSS {rss_mb():.0f} MB")

    start = time.perf_counter()
    suggestion = _near_divisors(1_000_000_007, 12)
    divisors_s = time.perf_counter() - start
    start = time.perf_counter()
    try:
        check_structure({"num_hidden_layers": 1_000_000})
    except WorkbenchError:
        pass
    print(f"3. divisors near 12 of 1,000,000,007: {suggestion} in {divisors_s * 1000:.1f} ms; "
          f"1,000,000 layers refused in {(time.perf_counter() - start) * 1e6:.0f} us")
    random.seed(0)


if __name__ == "__main__":
    main()
