"""Describe a checkpoint's tokenizer from its files, without loading a tokenizer library."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from workbench.core import jsonio
from workbench.core.errors import WorkbenchError

TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "vocab.txt", "vocab.json",
                   "tokenizer.model", "spiece.model", "sentencepiece.bpe.model", "merges.txt",
                   "special_tokens_map.json", "added_tokens.json")
# tokenizer.json of a 256k-token vocabulary is ~35 MB; tokenizer_config.json a few KB to ~1 MB.
TOKENIZER_LIMITS = jsonio.JsonLimits(max_bytes=200_000_000, max_depth=32, max_keys=5_000_000)


@dataclass(frozen=True)
class TokenizerInfo:
    """What the tokenizer files say: class, vocabulary size, special tokens."""

    tokenizer_class: str | None
    vocab_size: int | None
    model_max_length: int | None
    special_tokens: dict[str, str] = field(default_factory=dict)
    files: tuple[str, ...] = ()

    def to_json(self) -> dict:
        d = asdict(self)
        d["files"] = list(self.files)
        return d


def read_tokenizer_info(folder: Path) -> TokenizerInfo | None:
    """Return tokenizer facts for a folder, or None when it has no tokenizer files."""
    files = tuple(name for name in TOKENIZER_FILES if (folder / name).is_file())
    if not files:
        return None
    cfg = _load_object(folder / "tokenizer_config.json")
    specials: dict[str, str] = {}
    for source in (_load_object(folder / "special_tokens_map.json"), cfg):
        for key, value in source.items():
            if key.endswith("_token") and value:
                content = value.get("content") if isinstance(value, dict) else value
                if isinstance(content, str | int | float):
                    specials[key] = str(content)
    max_len = cfg.get("model_max_length")
    if type(max_len) is not int or max_len > 10**9:  # transformers' "unlimited" sentinel
        max_len = None
    tokenizer_class = cfg.get("tokenizer_class")
    if not isinstance(tokenizer_class, str):
        tokenizer_class = None
    return TokenizerInfo(tokenizer_class, _vocab_size(folder), max_len, specials, files)


def _vocab_size(folder: Path) -> int | None:
    tok = _load_object(folder / "tokenizer.json")
    if tok:
        model = tok.get("model")
        vocab = model.get("vocab") if isinstance(model, dict) else None
        size = len(vocab) if isinstance(vocab, dict | list) else 0
        added_tokens = tok.get("added_tokens")
        added = {t.get("id") for t in added_tokens if isinstance(t, dict)
                 and type(t.get("id")) is int} if isinstance(added_tokens, list) else set()
        if isinstance(vocab, dict):
            added -= {v for v in vocab.values() if type(v) is int}
        return size + len(added) if size else None
    vocab_txt = folder / "vocab.txt"
    if vocab_txt.is_file() and vocab_txt.stat().st_size <= TOKENIZER_LIMITS.max_bytes:
        with (folder / "vocab.txt").open(encoding="utf-8", errors="replace") as f:
            return sum(1 for _ in f)
    vocab = _load_object(folder / "vocab.json")
    return len(vocab) or None


def _load_object(path: Path) -> dict[str, Any]:
    """A tokenizer JSON file as a dict; {} when absent or unreadable (the facts are optional)."""
    if not path.is_file():
        return {}
    try:
        data = jsonio.load_file(path, limits=TOKENIZER_LIMITS, what="tokenizer")
    except WorkbenchError:
        return {}
    return data if isinstance(data, dict) else {}
