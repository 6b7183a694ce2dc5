"""Best guess of an architecture from tensor names alone (a bare .safetensors file, no config)."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass

from workbench.core.checkpoint.tensors import TensorInfo

# (family, model_type, a regex that only that family's layer names match), most specific first.
_SIGNATURES = [
    ("Mixtral-style MoE decoder", "mixtral", r"model\.layers\.\d+\.block_sparse_moe\."),
    ("Qwen2/Llama-style decoder with q/k/v bias", "qwen2",
     r"model\.layers\.\d+\.self_attn\.q_proj\.bias"),
    ("Llama-style decoder (Llama, Mistral, Qwen...)", "llama",
     r"model\.layers\.\d+\.self_attn\.q_proj"),
    ("GPT-NeoX", "gpt_neox", r"gpt_neox\.layers\.\d+\."),
    ("GPT-2", "gpt2", r"(transformer\.)?h\.\d+\.attn\.c_attn"),
    ("T5", "t5", r"(encoder|decoder)\.block\.\d+\.layer\.\d+\."),
    ("BART-style encoder-decoder", "bart", r"(model\.)?decoder\.layers\.\d+\.encoder_attn\."),
    ("DistilBERT", "distilbert", r"(distilbert\.)?transformer\.layer\.\d+\."),
    ("ALBERT", "albert", r"albert_layer_groups\.\d+\."),
    ("RoBERTa", "roberta", r"^roberta\.encoder\.layer\.\d+\."),
    ("BERT-style encoder", "bert", r"(bert\.)?encoder\.layer\.\d+\.attention\.self\.query"),
]


@dataclass(frozen=True)
class ArchitectureGuess:
    """What tensor names suggest: a family, its model_type and a few sizes."""

    family: str
    model_type: str | None
    num_layers: int | None
    hidden_size: int | None
    vocab_size: int | None

    def to_json(self) -> dict:
        return asdict(self)


def guess_architecture(tensors: list[TensorInfo]) -> ArchitectureGuess:
    """Guess the family from layer-name patterns and sizes from the embedding matrix."""
    names = [t.name for t in tensors]
    family, model_type = "unknown", None
    for fam, mtype, pattern in _SIGNATURES:
        rx = re.compile(pattern)
        if any(rx.search(n) for n in names):
            family, model_type = fam, mtype
            break
    layer_ids = {int(m.group(1)) for n in names
                 if (m := re.search(r"\.(?:layers|layer|h|block)\.(\d+)\.", "." + n))}
    embedding = max((t for t in tensors if (len(t.shape) == 2 and "embed" in t.name.lower())
                     or t.name.endswith(("wte.weight", "shared.weight"))),
                    key=lambda t: t.shape[0], default=None)
    return ArchitectureGuess(
        family, model_type,
        num_layers=max(layer_ids) + 1 if layer_ids else None,
        hidden_size=embedding.shape[1] if embedding else None,
        vocab_size=embedding.shape[0] if embedding else None,
    )
