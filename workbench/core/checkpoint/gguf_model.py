"""A GGUF file as transformers sees it: summary, config, tensor names, whether it can load.

transformers owns the GGUF -> config mapping (`GGUF_CONFIG_MAPPING`, `load_gguf_checkpoint` and
the newer `integrations.gguf` readers, both reached through `AutoConfig.from_pretrained(...,
gguf_file=...)`) and the llama.cpp -> transformers tensor names (`get_gguf_hf_weights_map`);
this module only calls them and says what they decided.
"""

from __future__ import annotations

import logging
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from workbench.core.checkpoint.gguf_header import GgufHeader, read_gguf_header
from workbench.core.checkpoint.tensors import TensorInfo
from workbench.core.errors import NotACheckpointError

GGUF_SUFFIX = ".gguf"


@dataclass(frozen=True)
class GgufSummary:
    """The facts a user looks for in a GGUF header, plus what transformers can do with it."""

    version: int
    architecture: str | None
    name: str | None
    file_type: str | None  # llama.cpp's "MOSTLY_Q8_0", ...
    context_length: int | None
    embedding_length: int | None
    block_count: int | None
    rope: dict[str, Any]
    tokenizer_model: str | None
    vocab_size: int | None
    chat_template: str | None
    tensor_types: dict[str, int]  # ggml type -> number of tensors stored in it
    split: tuple[int, int] | None = None  # (this part, of parts) for llama.cpp split files
    transformers_model_type: str | None = None
    loadable: bool = False  # transformers can dequantize-load it (Attention / Fine-tune)
    notes: tuple[str, ...] = field(default=())

    def to_json(self) -> dict:
        out = asdict(self)
        out["split"] = list(self.split) if self.split else None
        out["notes"] = list(self.notes)
        return out


def summarize(header: GgufHeader) -> GgufSummary:
    """The summary of a header (before transformers is asked about it)."""
    arch = header.get("general.architecture")
    arch = arch if isinstance(arch, str) else None

    def num(key: str) -> int | None:
        value = header.get(f"{arch}.{key}") if arch else None
        return int(value) if isinstance(value, int | float) and not isinstance(value, bool) \
            else None

    rope_prefix = f"{arch}.rope."
    rope = {k.removeprefix(rope_prefix): _plain(v) for k, v in header.metadata.items()
            if arch and k.startswith(rope_prefix)}
    vocab = header.array_lengths.get("tokenizer.ggml.tokens") or num("vocab_size")
    types: dict[str, int] = {}
    for t in header.tensors:
        types[t.dtype] = types.get(t.dtype, 0) + 1
    split_no, split_count = header.get("split.no"), header.get("split.count")
    split = ((int(split_no) + 1, int(split_count))
             if isinstance(split_no, int) and isinstance(split_count, int) and split_count > 1
             else None)
    template = header.get("tokenizer.chat_template")
    name = header.get("general.name")
    tok = header.get("tokenizer.ggml.model")
    return GgufSummary(
        version=header.version, architecture=arch,
        name=name if isinstance(name, str) else None,
        file_type=_file_type(header.get("general.file_type")),
        context_length=num("context_length"), embedding_length=num("embedding_length"),
        block_count=num("block_count"), rope=rope,
        tokenizer_model=tok if isinstance(tok, str) else None, vocab_size=vocab,
        chat_template=template if isinstance(template, str) else None,
        tensor_types=types, split=split)


def _plain(value: Any) -> Any:
    return value if isinstance(value, int | float | str | bool | list) else str(value)


def _file_type(value: Any) -> str | None:
    from gguf import LlamaFileType

    if not isinstance(value, int) or isinstance(value, bool):
        return None
    try:
        return LlamaFileType(value).name
    except ValueError:
        return f"unknown ({value})"


def gguf_config_dict(path: Path, header: GgufHeader | None = None) -> dict[str, Any]:
    """transformers' config for a GGUF file, naming its causal-LM class in `architectures`.

    Raises what transformers raises (ValueError, KeyError, OSError...) for an architecture it
    does not know; the caller turns that into a note.
    """
    import tempfile

    from transformers import AutoConfig, AutoModelForCausalLM
    from transformers.integrations.gguf import GGUF_CONFIG_ARCHS

    # transformers logs every metadata key it does not map; keep the CLI quiet.
    logging.getLogger("transformers.modeling_gguf_pytorch_utils").setLevel(logging.ERROR)
    header = header or read_gguf_header(path)
    if header.get("general.architecture") in GGUF_CONFIG_ARCHS:
        # transformers' newer reader: header-only and fast.
        config = AutoConfig.from_pretrained(str(path.parent), gguf_file=path.name,
                                            trust_remote_code=False)
    else:
        # The older path (`load_gguf_checkpoint`) opens the file with gguf.GGUFReader and parses
        # every vocabulary entry: 27 s for a 128 K-token file here. Its config depends on the
        # scalar metadata and the tensor names only, so it is given a copy holding just those.
        with tempfile.TemporaryDirectory(prefix="workbench-gguf-") as tmp:
            shadow = Path(tmp) / path.name
            _write_config_shadow(header, shadow)
            config = AutoConfig.from_pretrained(tmp, gguf_file=shadow.name,
                                                trust_remote_code=False)
    data = config.to_dict()
    if not data.get("architectures"):
        # A GGUF file is a language model; its head is output.weight or the tied embedding.
        cls = AutoModelForCausalLM._model_mapping.get(type(config), None)
        if cls is not None:
            data["architectures"] = [cls.__name__]
    return data


def _write_config_shadow(header: GgufHeader, path: Path) -> None:
    """A GGUF file with `header`'s scalar and short metadata and its tensor names (1-value
    placeholders): everything transformers' config mapping reads, without the vocabulary."""
    import numpy as np
    from gguf import GGUFValueType, GGUFWriter

    arch = str(header.get("general.architecture") or "unknown")
    writer = GGUFWriter(str(path), arch)
    for key, value in header.metadata.items():
        if key in ("general.architecture", "general.alignment"):
            continue
        if isinstance(value, bool):
            writer.add_key_value(key, value, GGUFValueType.BOOL)
        elif isinstance(value, int):
            writer.add_key_value(key, value, GGUFValueType.INT64 if value < 2**63
                                 else GGUFValueType.UINT64)
        elif isinstance(value, float):
            writer.add_key_value(key, value, GGUFValueType.FLOAT64)
        elif isinstance(value, str):
            writer.add_key_value(key, value, GGUFValueType.STRING)
        elif isinstance(value, list) and value and all(
                type(v) is type(value[0]) for v in value) and type(value[0]) in (int, float, str):
            writer.add_array(key, value)
    tokens = header.array_lengths.get("tokenizer.ggml.tokens")
    if tokens and f"{arch}.vocab_size" not in header.metadata:
        # transformers takes the vocabulary size from the token list when the key is absent.
        writer.add_key_value(f"{arch}.vocab_size", tokens, GGUFValueType.UINT64)
    for tensor in header.tensors:
        writer.add_tensor(tensor.name, np.zeros(1, dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


def check_against_tensors(config: dict[str, Any], header: GgufHeader) -> str | None:
    """Why the config derived from the metadata disagrees with the tensor table, or None.

    Checked before a model is built from it: a corrupt count (block_count = 2**40) would
    otherwise build that many layers.
    """
    blocks = {int(m.group(1)) for t in header.tensors if (m := _BLOCK.match(t.name))}
    layers = config.get("num_hidden_layers")
    if isinstance(layers, int) and layers > max(blocks, default=-1) + 1:
        return (f"the metadata says {layers:,} layers but the tensors hold "
                f"{max(blocks, default=-1) + 1}")
    embed = next((t for t in header.tensors if t.name == "token_embd.weight"), None)
    hidden = config.get("hidden_size")
    if embed is not None and isinstance(hidden, int) and embed.shape[-1] != hidden:
        return f"the metadata says hidden size {hidden:,} but token_embd is {list(embed.shape)}"
    return None


_BLOCK = re.compile(r"blk\.(\d+)\.")


def to_model_names(model, tensors: list[TensorInfo], gguf_arch: str | None) -> list[TensorInfo]:
    """`tensors` renamed from llama.cpp names to `model`'s parameter names, as transformers'
    loader maps them; a tensor it would not load keeps its GGUF name."""
    from transformers.modeling_gguf_pytorch_utils import (
        TENSOR_PROCESSORS,
        TensorProcessor,
        get_gguf_hf_weights_map,
    )

    memoise_tensor_name_maps()
    processor = TENSOR_PROCESSORS.get(gguf_arch or "", TensorProcessor)(
        config=model.config.to_dict())
    mapping = get_gguf_hf_weights_map(model, processor)
    return [TensorInfo(mapping.get(t.name, t.name), t.dtype, t.shape, t.shard,
                       stored_bytes=t.stored_bytes) for t in tensors]


def memoise_tensor_name_maps() -> None:
    """Memoise gguf.get_tensor_name_map, a pure function of (architecture, block count).

    transformers' get_gguf_hf_weights_map calls it again for every submodule it recurses into:
    423 times, 37 s, for a Llama-3-8B (measured, tests/bench/bench_gguf.py). It imports the
    function from the gguf module at each call, so the memoised one is what it gets; its
    results are only read, so sharing them changes nothing else (transformers' own GGUF
    loading in this process gets faster too).
    """
    import functools

    import gguf

    if not hasattr(gguf.get_tensor_name_map, "cache_info"):
        gguf.get_tensor_name_map = functools.lru_cache(maxsize=64)(gguf.get_tensor_name_map)


def find_gguf(path: str | Path) -> Path | None:
    """The GGUF file `path` names: the file itself, or the model of a folder whose only model is
    a GGUF file (one file, or the parts of one split model: its first part present); None when
    `path` is not about a GGUF file. A config.json beside it does not make the folder a
    transformers folder unless transformers weights are there too (GGUF repos on the Hub often
    carry the source model's config.json)."""
    from workbench.core.checkpoint import gguf_split

    p = Path(path).expanduser()
    if p.is_file():
        return p.resolve() if p.suffix.lower() == GGUF_SUFFIX else None
    if not p.is_dir() or _has_transformers_weights(p):
        return None
    found = sorted(f for f in p.iterdir() if f.suffix.lower() == GGUF_SUFFIX and f.is_file())
    if len(found) > 1 and not gguf_split.is_split_set(found):
        raise NotACheckpointError(
            f"{p} holds {len(found)} GGUF files ({', '.join(f.name for f in found[:4])}"
            f"{' ...' if len(found) > 4 else ''}); open one of them rather than the folder.")
    return found[0].resolve() if found else None


def _has_transformers_weights(folder: Path) -> bool:
    return any(f.suffix in (".safetensors", ".bin") or f.name.endswith(".index.json")
               for f in folder.iterdir())
