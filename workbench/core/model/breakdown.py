"""Where a model's parameters are (embeddings, transformer blocks, head, other), which stored
tensors are buffers, and how the weights at each precision compare with a device's memory.

The Overview draws these; the numbers come from the module tree (built on the meta device from
the config, or implied by tensor names) and the stored tensor list, so a 70B checkpoint whose
weights are never read breaks down as exactly as a small one.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from workbench.core.checkpoint.tensors import TensorInfo
from workbench.core.model.architecture import ModuleNode
from workbench.core.model.memory import MemoryEstimate

CATEGORIES = ("embeddings", "blocks", "head", "other")

# Stored tensors with these local names are buffers (not parameters) in every transformers
# model that has them: position/token-type ids, rotary frequencies, old GPT-2 attention masks,
# batch-norm statistics.
BUFFER_NAMES = frozenset({
    "position_ids", "token_type_ids", "buffered_token_type_ids", "inv_freq", "masked_bias",
    "running_mean", "running_var", "num_batches_tracked", "original_inv_freq",
})
# Module names that are embedding tables (HF names, GPT-2's wte/wpe, T5's shared, GGUF's).
_EMBED = re.compile(r"(embed|^wte$|^wpe$|^shared$|^token_embd$|^tok_embeddings$|^word_emb)")
# Module names of output heads (HF task heads, BERT's cls/pooler, GGUF's output).
_HEAD = frozenset({
    "lm_head", "output", "cls", "classifier", "score", "qa_outputs", "pooler", "head", "heads",
    "pre_classifier", "seq_relationship", "predictions", "lm_loss", "proj_out", "logits",
    "embed_out", "vocab_projector", "generator_lm_head",
})


@dataclass(frozen=True)
class ParameterBreakdown:
    """Parameters by part of the model; `sum(parts) == parameters`. Buffers apart."""

    embeddings: int
    blocks: int
    head: int
    other: int
    num_blocks: int  # distinct numbered blocks (layers) found; 0 when none
    tied: tuple[tuple[str, str], ...]  # (name, the name it is tied to): counted once
    buffers: int  # stored elements of buffers (position_ids, ...), not parameters
    buffer_names: tuple[str, ...]
    stored_elements: int  # every stored element (the JSON's num_parameters for plain weights)
    # The model's own buffers (`named_buffers()` of the config-built model), stored or not;
    # empty for a tree implied by tensor names, whose buffers are known by name only.
    model_buffers: int = 0
    model_buffer_names: tuple[str, ...] = ()
    buffers_from_model: bool = False  # True: buffers found by named_buffers(), not by name

    @property
    def parameters(self) -> int:
        return self.embeddings + self.blocks + self.head + self.other

    def parts(self) -> list[tuple[str, int]]:
        """(category, parameters) in CATEGORIES order."""
        return [(c, getattr(self, c)) for c in CATEGORIES]

    def to_json(self) -> dict:
        return {
            **dict(self.parts()), "parameters": self.parameters, "num_blocks": self.num_blocks,
            "tied": [list(t) for t in self.tied], "buffers": self.buffers,
            "buffer_names": list(self.buffer_names), "stored_elements": self.stored_elements,
            "model_buffers": self.model_buffers,
            "model_buffer_names": list(self.model_buffer_names),
            "buffers_from_model": self.buffers_from_model,
        }


def is_buffer_name(name: str) -> bool:
    """True for a stored tensor name that is a buffer in transformers models (position_ids...)."""
    return name.rsplit(".", 1)[-1] in BUFFER_NAMES


def built_from_model(tree: ModuleNode) -> bool:
    """True for a tree built from a real (meta) model, whose buffers are known; False for one
    implied by tensor names (its modules have no class: "?")."""
    return tree.class_name != "?"


def model_buffers(tree: ModuleNode) -> list[tuple[str, int]]:
    """(qualified name, elements) of every buffer the model registers, in module order."""
    return [(f"{node.path}.{b.name}" if node.path else b.name, b.numel)
            for node in tree.walk() for b in node.buffers]


def stored_buffers(tree: ModuleNode, tensors: Sequence[TensorInfo],
                   own: Sequence[tuple[str, int]] | None = None) -> list[TensorInfo]:
    """The stored tensors that are buffers, not parameters.

    For a model-built tree: those whose name is one of the model's `named_buffers()`, also
    across one base-model prefix (`bert.embeddings.position_ids` stored for a BertModel, or the
    other way round), as from_pretrained adds or strips it. For a tree implied by names: the
    local names transformers uses for buffers (BUFFER_NAMES). `own`: model_buffers(tree), if
    already known.
    """
    if not built_from_model(tree):
        return [t for t in tensors if is_buffer_name(t.name)]
    names = {n for n, _ in (model_buffers(tree) if own is None else own)}
    if not names:
        return []
    unprefixed = {n.partition(".")[2] for n in names}
    return [t for t in tensors
            if t.name in names or t.name.partition(".")[2] in names or t.name in unprefixed]


def categorize(path: str, classes: Sequence[str] = ()) -> str:
    """The part of the model a parameter with this qualified name belongs to.

    A numbered module on the way (`layers.3`, `h.0`, `block.1`, GGUF's `blk.0`) makes it a
    block; then an embedding table (by name or by an `*Embedding(s)` class on the way), then a
    head (`lm_head`, `classifier`, `pooler`, GGUF's `output`); anything else (final norms) is
    "other". `classes` are the class names of the modules on the path, where known.
    """
    parts = path.split(".")[:-1]  # module names; the last part is the parameter's own name
    if any(p.isdigit() for p in parts):
        return "blocks"
    if any(_EMBED.search(p) for p in parts) or any(
            c.endswith(("Embedding", "Embeddings")) for c in classes):
        return "embeddings"
    if any(p in _HEAD for p in parts):
        return "head"
    return "other"


def parameter_breakdown(tree: ModuleNode | None, tensors: Iterable[TensorInfo] = (),
                        ) -> ParameterBreakdown | None:
    """Break the tree's parameters down by part, and find the buffers among stored tensors.

    A tree built from the config holds parameters only; a tree implied by tensor names holds
    every stored tensor, so buffer names are left out of its parts. None without a tree.
    """
    if tree is None:
        return None
    tensors = list(tensors)
    from_model = built_from_model(tree)
    own = model_buffers(tree) if from_model else []
    buffers = stored_buffers(tree, tensors, own)
    counts = dict.fromkeys(CATEGORIES, 0)
    blocks: set[str] = set()
    tied: list[tuple[str, str]] = []

    def visit(node: ModuleNode, classes: tuple[str, ...]) -> None:
        classes = (*classes, node.class_name)
        for p in node.params:
            qualified = f"{node.path}.{p.name}" if node.path else p.name
            if p.tied_to:
                tied.append((qualified, p.tied_to))
                continue
            if not from_model and p.name in BUFFER_NAMES:
                continue  # a stored buffer in a tree implied by names
            category = categorize(qualified, classes)
            counts[category] += p.numel
            if category == "blocks":
                parts = qualified.split(".")
                i = next(i for i, part in enumerate(parts[:-1]) if part.isdigit())
                blocks.add(".".join(parts[:i + 1]))
        for child in node.children:
            visit(child, classes)

    visit(tree, ())
    return ParameterBreakdown(
        embeddings=counts["embeddings"], blocks=counts["blocks"], head=counts["head"],
        other=counts["other"], num_blocks=len(blocks), tied=tuple(tied),
        buffers=sum(t.numel for t in buffers), buffer_names=tuple(t.name for t in buffers),
        stored_elements=sum(t.numel for t in tensors),
        model_buffers=sum(n for _, n in own), model_buffer_names=tuple(n for n, _ in own),
        buffers_from_model=from_model)


@dataclass(frozen=True)
class MemoryRow:
    """The weights at one precision, and which devices could hold them."""

    label: str  # "fp32", "bf16", "fp16", "int8", "int4", "as stored"
    bytes: int
    fits: tuple[str, ...]  # names of the devices whose total memory is at least `bytes`


def memory_rows(memory: MemoryEstimate, devices: Sequence[tuple[str, int | None]] = (),
                as_stored: bool = False) -> list[MemoryRow]:
    """One row per precision (weights only; activations and caches need more), with the
    devices ((name, total bytes)) each fits in. `as_stored` adds the stored size (GGUF,
    GPTQ/AWQ kernels keep the weights packed)."""
    rows = [("fp32", memory.fp32), ("bf16", memory.bf16), ("fp16", memory.bf16),
            ("int8", memory.int8), ("int4", memory.int4)]
    if as_stored and memory.as_stored is not None:
        rows.append(("as stored", memory.as_stored))
    return [MemoryRow(label, size, fits_on(size, devices)) for label, size in rows]


def fits_on(size: int, devices: Sequence[tuple[str, int | None]]) -> tuple[str, ...]:
    """The names of the devices ((name, total bytes)) whose total memory holds `size` bytes."""
    return tuple(name for name, total in devices if total is not None and size <= total)
