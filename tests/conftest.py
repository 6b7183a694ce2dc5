"""Shared fixtures: tiny real models of several families saved to disk, and the real MiniLM."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # as `workbench` sets it (see cli.py)
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# Runs started without an output folder go to the user's data folder: keep tests out of it.
os.environ.setdefault("WORKBENCH_RUNS_DIR", tempfile.mkdtemp(prefix="wb-test-runs-"))

TINY = {"hidden_size": 32, "num_attention_heads": 4, "intermediate_size": 64}

# family -> (config class name, model class name, config kwargs)
TINY_MODELS = {
    "bert": ("BertConfig", "BertForMaskedLM",
             dict(TINY, num_hidden_layers=2, vocab_size=120, max_position_embeddings=64)),
    "gpt2": ("GPT2Config", "GPT2LMHeadModel",
             dict(n_embd=32, n_head=4, n_layer=2, vocab_size=120, n_positions=64)),
    "llama": ("LlamaConfig", "LlamaForCausalLM",
              dict(TINY, num_hidden_layers=2, num_key_value_heads=2, vocab_size=120,
                   max_position_embeddings=64)),
    "t5": ("T5Config", "T5ForConditionalGeneration",
           dict(d_model=32, d_kv=8, d_ff=64, num_layers=2, num_decoder_layers=2, num_heads=4,
                vocab_size=120, decoder_start_token_id=0)),
    "bart": ("BartConfig", "BartForConditionalGeneration",
             dict(d_model=32, encoder_layers=2, decoder_layers=2, encoder_attention_heads=4,
                  decoder_attention_heads=4, encoder_ffn_dim=64, decoder_ffn_dim=64,
                  vocab_size=120, max_position_embeddings=64)),
}


def make_tiny_model(family: str, folder: Path, seed: int = 0) -> Path:
    """Build a tiny randomly initialised model of `family` and save it as a HF folder."""
    import torch
    import transformers

    config_cls, model_cls, kwargs = TINY_MODELS[family]
    torch.manual_seed(seed)
    config = getattr(transformers, config_cls)(**kwargs)
    model = getattr(transformers, model_cls)(config)
    model.save_pretrained(folder)
    return folder


@pytest.fixture(scope="session", autouse=True)
def _log_folder(tmp_path_factory) -> Path:
    """The suite logs into a temporary folder, never into the user's state folder."""
    folder = tmp_path_factory.mktemp("logs")
    os.environ["WORKBENCH_LOG_DIR"] = str(folder)
    return folder


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory) -> dict[str, Path]:
    """{family: folder} for tiny BERT, GPT-2, Llama, T5 and BART checkpoints (no tokenizer)."""
    root = tmp_path_factory.mktemp("tiny_models")
    return {family: make_tiny_model(family, root / family) for family in TINY_MODELS}


@pytest.fixture(scope="session")
def minilm_path() -> Path:
    """The real pretrained all-MiniLM-L6-v2 checkpoint (config, safetensors, tokenizer)."""
    from workbench.core.model.loading import demo_checkpoint_path

    return demo_checkpoint_path()


@pytest.fixture(scope="session")
def minilm_tokenizer_files(minilm_path) -> list[Path]:
    """The MiniLM tokenizer files, to copy next to a tiny model that needs a tokenizer."""
    names = ("tokenizer.json", "tokenizer_config.json", "vocab.txt", "special_tokens_map.json")
    return [minilm_path / n for n in names if (minilm_path / n).is_file()]


def make_fake_hub_cache(root: Path, model_folder: Path, repo_id: str) -> Path:
    """Lay out a real huggingface_hub cache entry (blobs, refs, snapshot symlinks); return the
    snapshot folder."""
    import shutil

    repo = root / f"models--{repo_id.replace('/', '--')}"
    commit = "0123456789abcdef0123456789abcdef01234567"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(commit)
    snap = repo / "snapshots" / commit
    snap.mkdir(parents=True)
    (repo / "blobs").mkdir()
    for f in model_folder.iterdir():
        blob = repo / "blobs" / f"blob-{f.name}"
        shutil.copy(f, blob)
        os.symlink(os.path.relpath(blob, snap), snap / f.name)
    return snap
