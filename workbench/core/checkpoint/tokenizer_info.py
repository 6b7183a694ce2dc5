"""Describe a checkpoint's tokenizer from its files, without loading a tokenizer library."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "vocab.txt", "vocab.json",
                   "tokenizer.model", "spiece.model", "sentencepiece.bpe.model", "merges.txt",
                   "special_tokens_map.json", "added_tokens.json")


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
    cfg = _load_json(folder / "tokenizer_config.json") or {}
    specials: dict[str, str] = {}
    for source in (_load_json(folder / "special_tokens_map.json") or {}, cfg):
        for key, value in source.items():
            if key.endswith("_token") and value:
                specials[key] = value["content"] if isinstance(value, dict) else str(value)
    max_len = cfg.get("model_max_length")
    if not isinstance(max_len, int) or max_len > 10**9:  # transformers' "unlimited" sentinel
        max_len = None
    return TokenizerInfo(cfg.get("tokenizer_class"), _vocab_size(folder), max_len, specials, files)


def _vocab_size(folder: Path) -> int | None:
    tok = _load_json(folder / "tokenizer.json")
    if tok:
        vocab = (tok.get("model") or {}).get("vocab")
        size = len(vocab) if isinstance(vocab, dict | list) else 0
        added = {t.get("id") for t in tok.get("added_tokens") or [] if isinstance(t, dict)}
        if isinstance(vocab, dict):
            added -= set(vocab.values())
        return size + len(added) if size else None
    if (folder / "vocab.txt").is_file():
        with (folder / "vocab.txt").open(encoding="utf-8", errors="replace") as f:
            return sum(1 for _ in f)
    vocab = _load_json(folder / "vocab.json")
    return len(vocab) if isinstance(vocab, dict) else None


def _load_json(path: Path):
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError, OSError):
        return None
