"""A Llama-3-70B-shaped sharded safetensors checkpoint that costs (almost) no disk.

Every shard is a real safetensors file: a valid header (dtype, shape, data_offsets) followed
by a data section of the right length, made with `file.truncate`, so the file is sparse and
reads back as zeros. Header-only tools see exactly what they would see for the real model.

    from tests.bench.fake_70b import make_fake_llama70b
    folder = make_fake_llama70b(tmp_path / "llama70b")          # 30 shards, ~141 GB apparent
"""

from __future__ import annotations

import json
import os
import struct
import tempfile
from pathlib import Path

HIDDEN = 8192
LAYERS = 80
HEADS = 64
KV_HEADS = 8
INTERMEDIATE = 28672
VOCAB = 128256
HEAD_DIM = HIDDEN // HEADS
DTYPE = "BF16"
DTYPE_BYTES = 2

CONFIG = {
    "architectures": ["LlamaForCausalLM"],
    "model_type": "llama",
    "hidden_size": HIDDEN,
    "num_hidden_layers": LAYERS,
    "num_attention_heads": HEADS,
    "num_key_value_heads": KV_HEADS,
    "intermediate_size": INTERMEDIATE,
    "vocab_size": VOCAB,
    "max_position_embeddings": 8192,
    "rms_norm_eps": 1e-05,
    "rope_theta": 500000.0,
    "hidden_act": "silu",
    "attention_bias": False,
    "mlp_bias": False,
    "tie_word_embeddings": False,
    "bos_token_id": 128000,
    "eos_token_id": 128001,
    "torch_dtype": "bfloat16",
}


def llama70b_tensors() -> list[tuple[str, tuple[int, ...]]]:
    """(name, shape) of every tensor of Llama-3-70B, in the order transformers saves them."""
    out: list[tuple[str, tuple[int, ...]]] = [("model.embed_tokens.weight", (VOCAB, HIDDEN))]
    kv = KV_HEADS * HEAD_DIM
    for i in range(LAYERS):
        p = f"model.layers.{i}"
        out += [
            (f"{p}.input_layernorm.weight", (HIDDEN,)),
            (f"{p}.self_attn.q_proj.weight", (HIDDEN, HIDDEN)),
            (f"{p}.self_attn.k_proj.weight", (kv, HIDDEN)),
            (f"{p}.self_attn.v_proj.weight", (kv, HIDDEN)),
            (f"{p}.self_attn.o_proj.weight", (HIDDEN, HIDDEN)),
            (f"{p}.post_attention_layernorm.weight", (HIDDEN,)),
            (f"{p}.mlp.gate_proj.weight", (INTERMEDIATE, HIDDEN)),
            (f"{p}.mlp.up_proj.weight", (INTERMEDIATE, HIDDEN)),
            (f"{p}.mlp.down_proj.weight", (HIDDEN, INTERMEDIATE)),
        ]
    out += [("model.norm.weight", (HIDDEN,)), ("lm_head.weight", (VOCAB, HIDDEN))]
    return out


def _nbytes(shape: tuple[int, ...]) -> int:
    n = DTYPE_BYTES
    for d in shape:
        n *= d
    return n


def _split(tensors: list[tuple[str, tuple[int, ...]]], shards: int) -> list[list]:
    """Cut the ordered tensor list into `shards` runs of roughly equal bytes."""
    total = sum(_nbytes(s) for _, s in tensors)
    target = total / shards
    groups: list[list] = [[]]
    filled = 0
    for name, shape in tensors:
        # Start a new shard once this one has its share, keeping the shard count exact.
        if groups[-1] and filled >= target * len(groups) and len(groups) < shards:
            groups.append([])
        groups[-1].append((name, shape))
        filled += _nbytes(shape)
    while len(groups) < shards:  # only for absurd shard counts; keeps the promised count
        biggest = max(groups, key=len)
        groups.insert(groups.index(biggest) + 1, [biggest.pop()])
    return groups


def _write_shard(path: Path, tensors: list[tuple[str, tuple[int, ...]]]) -> int:
    """Write a header, then extend the file sparsely to its full data length."""
    header: dict = {"__metadata__": {"format": "pt"}}
    offset = 0
    for name, shape in tensors:
        size = _nbytes(shape)
        header[name] = {"dtype": DTYPE, "shape": list(shape),
                        "data_offsets": [offset, offset + size]}
        offset += size
    raw = json.dumps(header, separators=(",", ":")).encode("utf-8")
    raw += b" " * (-len(raw) % 8)  # safetensors pads headers to 8 bytes
    with path.open("wb") as f:
        f.write(struct.pack("<Q", len(raw)))
        f.write(raw)
        f.truncate(8 + len(raw) + offset)
    return offset


def make_fake_llama70b(folder: Path, shards: int = 30) -> Path:
    """Write a header-real, data-sparse Llama-3-70B checkpoint into `folder` and return it."""
    folder = Path(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    # Atomic: build in a sibling temp folder, then rename into place.
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}-", dir=folder.parent))
    weight_map: dict[str, str] = {}
    total = 0
    groups = _split(llama70b_tensors(), shards)
    for i, group in enumerate(groups, start=1):
        name = f"model-{i:05d}-of-{len(groups):05d}.safetensors"
        total += _write_shard(tmp / name, group)
        weight_map.update({t: name for t, _ in group})
    index = {"metadata": {"total_size": total}, "weight_map": weight_map}
    (tmp / "model.safetensors.index.json").write_text(json.dumps(index, indent=2))
    (tmp / "config.json").write_text(json.dumps(CONFIG, indent=2))
    if folder.exists():
        import shutil

        shutil.rmtree(folder)
    os.replace(tmp, folder)
    return folder


if __name__ == "__main__":
    import sys

    target = Path(sys.argv[1] if len(sys.argv) > 1 else "/tmp/fake-llama70b")
    made = make_fake_llama70b(target)
    print(made)
