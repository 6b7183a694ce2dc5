"""Mutated GGUF headers: only CorruptCheckpointError (naming the file) may escape, never a hang.

Thousands of cases against the header reader (flipped bytes, truncations, absurd counts,
lengths and types written over the real fields), plus a sample through the whole inspector,
where transformers builds a config and a meta model from whatever the metadata survived as.
"""

from __future__ import annotations

import random
import struct
from pathlib import Path

import numpy as np
import pytest

from workbench.core.checkpoint.gguf_header import read_gguf_header
from workbench.core.checkpoint.gguf_model import summarize
from workbench.core.checkpoint.inspection import inspect_checkpoint
from workbench.core.errors import WorkbenchError

ABSURD = [0, 1, 2**31, 2**32 - 1, 2**32, 2**40, 2**63, 2**64 - 1]


@pytest.fixture(scope="module")
def seed_file(tmp_path_factory) -> bytes:
    """A small, complete llama GGUF: typed metadata of every kind, F32/F16/Q8_0 tensors."""
    import gguf

    path = tmp_path_factory.mktemp("fuzz") / "seed.gguf"
    w = gguf.GGUFWriter(str(path), "llama")
    w.add_name("seed")
    w.add_context_length(64)
    w.add_embedding_length(32)
    w.add_block_count(1)
    w.add_feed_forward_length(32)
    w.add_head_count(2)
    w.add_head_count_kv(1)
    w.add_layer_norm_rms_eps(1e-5)
    w.add_rope_freq_base(10000.0)
    w.add_tokenizer_model("llama")
    w.add_token_list([f"t{i}" for i in range(8)])
    w.add_token_scores([0.5] * 8)
    w.add_chat_template("{{ x }}")
    w.add_array("seed.nested", [[1, 2], [3]])
    w.add_bool("seed.flag", True)
    q8 = gguf.GGMLQuantizationType.Q8_0
    w.add_tensor("token_embd.weight", np.ones((8, 32), np.float16))
    w.add_tensor("blk.0.attn_q.weight", gguf.quants.quantize(np.ones((32, 32), np.float32), q8),
                 raw_dtype=q8)
    w.add_tensor("blk.0.attn_norm.weight", np.ones(32, np.float32))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return path.read_bytes()


def _field_offsets(data: bytes) -> list[int]:
    """Offsets of every u64 length/count and u32 type field in the header (found by walking)."""
    out, pos = [8, 16], 24
    _, n_tensors, n_kv = struct.unpack_from("<IQQ", data, 4)

    def value(vtype: int) -> None:
        nonlocal pos
        fixed = {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}
        if vtype in fixed:
            pos += fixed[vtype]
        elif vtype == 8:
            out.append(pos)
            pos += 8 + struct.unpack_from("<Q", data, pos)[0]
        else:
            out.extend([pos, pos + 4])
            etype, count = struct.unpack_from("<IQ", data, pos)
            pos += 12
            for _ in range(count):
                value(etype)

    for _ in range(n_kv):
        out.append(pos)
        pos += 8 + struct.unpack_from("<Q", data, pos)[0]
        out.append(pos)
        vtype = struct.unpack_from("<I", data, pos)[0]
        pos += 4
        value(vtype)
    for _ in range(n_tensors):
        out.append(pos)
        pos += 8 + struct.unpack_from("<Q", data, pos)[0]
        out.append(pos)
        n_dims = struct.unpack_from("<I", data, pos)[0]
        out.extend(pos + 4 + 8 * i for i in range(n_dims))
        pos += 4 + 8 * n_dims
        out.extend([pos, pos + 4])
        pos += 12
    return out


def _mutants(data: bytes, n: int, rng: random.Random):
    fields = _field_offsets(data)
    header_end = fields[-1] + 12
    for i in range(n):
        buf = bytearray(data)
        kind = i % 4
        if kind == 0:  # flip 1-4 random bytes of the header
            for _ in range(rng.randint(1, 4)):
                buf[rng.randrange(header_end)] ^= 1 << rng.randrange(8)
        elif kind == 1:  # truncate anywhere
            del buf[rng.randrange(len(buf)):]
        elif kind == 2:  # an absurd count / length / type over a real field
            at = rng.choice(fields)
            width = 4 if rng.random() < 0.3 else 8
            value = rng.choice(ABSURD) % (2 ** (8 * width))
            buf[at:at + width] = value.to_bytes(width, "little")
        else:  # random bytes over a random slice of the header
            at = rng.randrange(header_end)
            buf[at:at + rng.randint(1, 16)] = rng.randbytes(rng.randint(1, 16))
        yield bytes(buf)


def test_thousands_of_mutated_headers_raise_only_workbench_errors(tmp_path, seed_file):
    rng = random.Random(1234)
    path = tmp_path / "mutant.gguf"
    ok, messages = 0, []
    for mutant in _mutants(seed_file, 4000, rng):
        path.write_bytes(mutant)
        try:
            summarize(read_gguf_header(path))
            ok += 1
        except WorkbenchError as e:
            messages.append(str(e))
    assert all("mutant.gguf" in m and ("Re-download" in m or "Convert" in m) for m in messages)
    # Both sides happen: the test mutates enough to break, and not so much that nothing parses.
    assert len(messages) > 1000 and ok > 100, (len(messages), ok)


def test_mutated_files_through_the_whole_inspector(tmp_path, seed_file):
    """Surviving mutants go on into transformers' config mapping and the meta-model build."""
    rng = random.Random(99)
    path = tmp_path / "whole.gguf"
    survived, messages = 0, []
    for mutant in _mutants(seed_file, 400, rng):
        path.write_bytes(mutant)
        try:
            read_gguf_header(path)
        except WorkbenchError:
            continue
        survived += 1
        if survived > 30:
            break
        try:
            info = inspect_checkpoint(path)
        except WorkbenchError as e:
            messages.append(str(e))
            continue
        assert info.format == "gguf"
    assert survived > 15
    assert all("whole.gguf" in m for m in messages)


def test_seed_file_itself_reads(tmp_path, seed_file):
    path = Path(tmp_path / "seed.gguf")
    path.write_bytes(seed_file)
    header = read_gguf_header(path)
    assert header.metadata["seed.nested"] == [[1, 2], [3]]
    assert [t.dtype for t in header.tensors] == ["F16", "Q8_0", "F32"]
