"""Headers-only preview of a repository on a local Hub: no shard is transferred in full."""

from __future__ import annotations

import json
import struct

import pytest

from tests.fixtures.hub_server import PARAMETERS, Repo, tiny_sharded_bert
from workbench.core.errors import CorruptCheckpointError, HubAccessError
from workbench.core.hub.preview import preview_repo


def test_preview_reports_parameters_and_dtypes_from_range_requests_only(served, tmp_path):
    preview = preview_repo("tiny/bert")

    shards = sorted(p.name for p in tiny_sharded_bert().glob("*.safetensors"))
    assert [s.name for s in preview.shards] == shards
    assert preview.parameters == PARAMETERS
    assert preview.dtypes == {"F32": PARAMETERS}
    assert preview.repo.commit == served.repos["tiny/bert"].commit
    assert (preview.architecture, preview.model_type) == ("BertModel", "bert")
    assert not (tmp_path / "hf-cache" / "models--tiny--bert").exists()  # nothing cached
    sizes = {f.path: f.size for f in preview.repo.files}
    assert sizes["onnx/model.onnx"] == 1500 and preview.safetensors_size == sum(
        sizes[s] for s in shards)
    # Only headers travelled: each large shard sent at most huggingface_hub's 100 KB first range.
    large = [s for s in shards if sizes[s] > 150_000]
    assert len(large) == 2
    for name in large:
        gets = served.file_gets(name)
        assert gets and all(g.range for g in gets)
        assert sum(g.body_bytes for g in gets) <= 100_001 < sizes[name]
    data = json.loads(json.dumps(preview.to_json()))
    assert data["parameters"] == PARAMETERS and data["tensors"] == sum(
        s.tensors for s in preview.shards)
    memory = data["memory"]  # what running it needs, from the headers alone
    assert (memory["fp32"], memory["bf16"]) == (4 * PARAMETERS, 2 * PARAMETERS)
    assert memory["as_stored"] == preview.safetensors_size


def _safetensors(header: dict, data_len: int) -> bytes:
    raw = json.dumps(header).encode()
    return struct.pack("<Q", len(raw)) + raw + b"\0" * data_len


def test_corrupt_remote_header_is_a_workbench_error(served):
    # Offsets that do not match the shape: the workbench's own header validation catches it.
    bad = {"w": {"dtype": "F32", "shape": [4], "data_offsets": [0, 8]}}
    served.repos["bad/offsets"] = Repo({"model.safetensors": _safetensors(bad, 8)})
    with pytest.raises(CorruptCheckpointError, match="declares 8 bytes but F32 \\[4\\] needs 16"):
        preview_repo("bad/offsets")
    served.repos["bad/json"] = Repo({"model.safetensors": struct.pack("<Q", 5) + b"{nope"})
    with pytest.raises(CorruptCheckpointError, match="remote safetensors header is corrupt"):
        preview_repo("bad/json")
    short = {"w": {"dtype": "F32", "shape": [1000], "data_offsets": [0, 4000]}}
    served.repos["bad/short"] = Repo({"model.safetensors": _safetensors(short, 10)})
    with pytest.raises(CorruptCheckpointError, match="has only"):
        preview_repo("bad/short")


def test_preview_of_a_gated_repo_says_to_log_in(served):
    served.repos["meta/gated"] = Repo(dict(served.repos["tiny/bert"].files), gated=True)
    with pytest.raises(HubAccessError, match="gated"):
        preview_repo("meta/gated")


def test_fuzzed_remote_headers_raise_only_workbench_errors(served):
    """Mutated safetensors headers served by the Hub: a WorkbenchError or a valid preview.

    Each case is a real round trip through huggingface_hub (~0.1 s here), so 80 cases, not
    thousands: the validation itself is the local reader's (tensors_from_header).
    """
    import random

    from workbench.core.errors import WorkbenchError

    rng = random.Random(0)
    good = served.repos["tiny/bert"].files["model-00003-of-00003.safetensors"]
    (header_len,) = struct.unpack("<Q", good[:8])
    header = json.loads(good[8:8 + header_len])
    name = next(k for k in header if k != "__metadata__")
    weird = [None, -1, "x", [], {}, [1.5], [-3], [2**70], True, "F32", 10**30]
    outcomes: dict[str, int] = {}
    for case in range(80):
        data = bytearray(good)
        kind = case % 4
        if kind == 0:  # flip bytes in the length prefix or the JSON
            for _ in range(rng.randint(1, 4)):
                data[rng.randrange(0, 8 + header_len)] = rng.randrange(256)
        elif kind == 1:  # cut the file short
            data = data[:rng.randrange(0, 8 + header_len + 64)]
        elif kind == 2:  # a valid JSON header with one field replaced by something odd
            entry = dict(header)
            field = rng.choice(["dtype", "shape", "data_offsets"])
            entry[name] = {**header[name], field: rng.choice(weird)}
            raw = json.dumps(entry).encode()
            data = bytearray(struct.pack("<Q", len(raw)) + raw + good[8 + header_len:])
        else:  # a wrong JSON shape altogether
            raw = json.dumps(rng.choice([[], 3, "s", {"t": 1}, {"__metadata__": 5}])).encode()
            data = bytearray(struct.pack("<Q", len(raw)) + raw)
        served.repos[f"fuzz/c{case}"] = Repo({"model.safetensors": bytes(data)})
        try:
            preview_repo(f"fuzz/c{case}")
            outcome = "ok"
        except WorkbenchError as e:
            outcome = type(e).__name__
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
    assert outcomes.get("CorruptCheckpointError", 0) > 50, outcomes
