"""A GGUF file as transformers sees it: summary, config, tensor names, whether it can load.

transformers owns the GGUF -> config mapping (`GGUF_CONFIG_MAPPING`, `load_gguf_checkpoint` and
the newer `integrations.gguf` readers, both reached through `AutoConfig.from_pretrained(...,
gguf_file=...)`) and the llama.cpp -> transformers tensor names (`get_gguf_hf_weights_map`);
this module only calls them and says what they decided.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from workbench.core.checkpoint.gguf_header import GgufHeader
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


def gguf_config_dict(path: Path) -> dict[str, Any]:
    """transformers' config for a GGUF file, naming its causal-LM class in `architectures`.

    Raises ValueError/OSError/KeyError etc. from transformers when it does not know the
    architecture; the caller turns that into a note.
    """
    from transformers import AutoConfig, AutoModelForCausalLM

    # transformers logs every metadata key it does not map at INFO and more; keep the CLI quiet.
    logging.getLogger("transformers.modeling_gguf_pytorch_utils").setLevel(logging.ERROR)
    config = AutoConfig.from_pretrained(str(path.parent), gguf_file=path.name,
                                        trust_remote_code=False)
    data = config.to_dict()
    if not data.get("architectures"):
        # A GGUF file is a language model; its head is output.weight or the tied embedding.
        cls = AutoModelForCausalLM._model_mapping.get(type(config), None)
        if cls is not None:
            data["architectures"] = [cls.__name__]
    return data


def to_model_names(model, tensors: list[TensorInfo], gguf_arch: str | None) -> list[TensorInfo]:
    """`tensors` renamed from llama.cpp names to `model`'s parameter names, as transformers'
    loader maps them; a tensor it would not load keeps its GGUF name."""
    from transformers.modeling_gguf_pytorch_utils import (
        TENSOR_PROCESSORS,
        TensorProcessor,
        get_gguf_hf_weights_map,
    )

    processor = TENSOR_PROCESSORS.get(gguf_arch or "", TensorProcessor)(
        config=model.config.to_dict())
    mapping = get_gguf_hf_weights_map(model, processor)
    return [TensorInfo(mapping.get(t.name, t.name), t.dtype, t.shape, t.shard,
                       stored_bytes=t.stored_bytes) for t in tensors]


def find_gguf(path: str | Path) -> Path | None:
    """The GGUF file `path` names: the file itself, or the only .gguf in a folder that has no
    config.json; None when `path` is not about a GGUF file."""
    p = Path(path).expanduser()
    if p.is_file():
        return p.resolve() if p.suffix.lower() == GGUF_SUFFIX else None
    if not p.is_dir() or (p / "config.json").is_file():
        return None
    found = sorted(f for f in p.iterdir() if f.suffix.lower() == GGUF_SUFFIX and f.is_file())
    if len(found) > 1:
        raise NotACheckpointError(
            f"{p} holds {len(found)} GGUF files ({', '.join(f.name for f in found[:4])}"
            f"{' ...' if len(found) > 4 else ''}); open one of them rather than the folder.")
    return found[0].resolve() if found else None
