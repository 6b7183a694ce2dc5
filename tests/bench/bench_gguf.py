"""Benchmark: opening a Llama-3-8B-shaped Q4_K_M GGUF header (sparse file, no real weights).

    python tests/bench/bench_gguf.py

Writes a GGUF with the real Llama-3-8B metadata shape (32 blocks, 128,256-token vocabulary with
token types and 280,147 merges, chat template) and 291 tensor entries whose data region is a
sparse hole, then prints: this project's header read, gguf.GGUFReader on the same file,
transformers' AutoConfig from the file directly versus the vocabulary-free copy that
`gguf_config_dict` hands it, and a full `inspect_checkpoint` (config + meta model + check).
The slow library paths run once.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

VOCAB, MERGES, LAYERS, HIDDEN, FFN, HEADS, KV = 128_256, 280_147, 32, 4096, 14_336, 32, 8


def write_llama3_8b_header(path: Path) -> int:
    """The file's tensors as Q4_K (norms F32); returns the number of tensors."""
    import gguf
    import numpy as np

    w = gguf.GGUFWriter(str(path), "llama")
    w.add_name("Meta-Llama-3-8B-Instruct")
    w.add_context_length(8192)
    w.add_embedding_length(HIDDEN)
    w.add_block_count(LAYERS)
    w.add_feed_forward_length(FFN)
    w.add_head_count(HEADS)
    w.add_head_count_kv(KV)
    w.add_rope_dimension_count(HIDDEN // HEADS)
    w.add_rope_freq_base(500000.0)
    w.add_layer_norm_rms_eps(1e-5)
    w.add_vocab_size(VOCAB)
    w.add_file_type(15)  # MOSTLY_Q4_K_M
    w.add_tokenizer_model("gpt2")
    w.add_token_list([f"tok{i}" for i in range(VOCAB)])
    w.add_token_types([1] * VOCAB)
    w.add_token_merges([f"a{i} b{i}" for i in range(MERGES)])
    w.add_chat_template("{% for m in messages %}{{ m.content }}{% endfor %}")
    q4k = gguf.GGMLQuantizationType.Q4_K
    shapes = {"token_embd.weight": (VOCAB, HIDDEN), "output.weight": (VOCAB, HIDDEN),
              "output_norm.weight": (HIDDEN,)}
    for i in range(LAYERS):
        b = f"blk.{i}."
        shapes.update({b + "attn_norm.weight": (HIDDEN,), b + "ffn_norm.weight": (HIDDEN,),
                       b + "attn_q.weight": (HIDDEN, HIDDEN), b + "attn_output.weight":
                       (HIDDEN, HIDDEN), b + "attn_k.weight": (KV * 128, HIDDEN),
                       b + "attn_v.weight": (KV * 128, HIDDEN), b + "ffn_gate.weight":
                       (FFN, HIDDEN), b + "ffn_up.weight": (FFN, HIDDEN),
                       b + "ffn_down.weight": (HIDDEN, FFN)})
    for name, shape in shapes.items():
        if len(shape) == 1:
            w.add_tensor_info(name, shape, np.dtype(np.float32), shape[0] * 4)
        else:
            n = shape[0] * shape[1] // 256 * 144  # Q4_K: 144 bytes per 256 values
            w.add_tensor_info(name, (shape[0], shape[1] // 256 * 144), np.dtype(np.uint8), n,
                              raw_dtype=q4k)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_ti_data_to_file()
    w.close()
    header_len = path.stat().st_size
    with path.open("r+b") as f:
        f.truncate(-(-header_len // 32) * 32 + _data_size(shapes))  # sparse: a hole on disk
    return len(shapes)


def _data_size(shapes: dict) -> int:
    size = 0
    for shape in shapes.values():
        n = shape[0] * 4 if len(shape) == 1 else shape[0] * shape[1] // 256 * 144
        size += -(-n // 32) * 32
    return size


def median(fn, reps: int = 3) -> float:
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    from workbench.core.checkpoint.gguf_header import read_gguf_header
    from workbench.core.checkpoint.gguf_model import gguf_config_dict
    from workbench.core.checkpoint.inspection import inspect_checkpoint

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "llama3-8b-q4_k_m.gguf"
        n = write_llama3_8b_header(path)
        header = read_gguf_header(path)
        print(f"file: {path.stat().st_size / 2**30:.2f} GiB (sparse), {n} tensors, "
              f"{sum(t.numel for t in header.tensors) / 1e9:.2f} B parameters, "
              f"{sum(t.nbytes for t in header.tensors) / 2**30:.2f} GiB of Q4_K/F32 data")
        print(f"header read (this project):      {median(lambda: read_gguf_header(path)):.3f} s")
        import gguf

        start = time.perf_counter()
        gguf.GGUFReader(path)
        print(f"gguf.GGUFReader (once):          {time.perf_counter() - start:.1f} s")
        from transformers import AutoConfig

        start = time.perf_counter()
        AutoConfig.from_pretrained(tmp, gguf_file=path.name)
        print(f"AutoConfig on the file (once):   {time.perf_counter() - start:.1f} s")
        t = median(lambda: gguf_config_dict(path, header))
        print(f"gguf_config_dict (shadow copy):  {t:.3f} s")
        inspect_checkpoint(path)  # warm the meta-model build
        t = median(lambda: inspect_checkpoint(path))
        info = inspect_checkpoint(path)
        print(f"inspect_checkpoint (full):       {t:.3f} s -> {info.architecture}, "
              f"{info.num_parameters:,} parameters, weights check "
              f"{len(info.comparison.matched)} matched, warnings: {list(info.warnings)}")


if __name__ == "__main__":
    main()
