"""When the shape-only pass fails, trace a tiny copy of the same config for real, on the CPU.

Some code cannot run on fake tensors (data-dependent branches such as DeBERTa's `.item()`,
grouped matmuls of mixture-of-experts layers that insist on bf16). The dataflow does not depend
on widths, so a copy of the config with small widths, two layers and a small vocabulary runs
the same module code in milliseconds. Heads, head dims and MLP sizes are then read from the
real (meta) model; output shapes are left out, since the copy's shapes are not the model's.
"""

from __future__ import annotations

import threading
from dataclasses import replace

from workbench.core.model import architecture as arch
from workbench.core.model import config_roles
from workbench.core.model.limits import ensure_fits

HEAD_DIM = 8
MAX_COPY_ELEMENTS = 50_000_000  # 200 MB in float32; a real tiny copy has well under 1M
TOKEN_FIELDS = ("pad_token_id", "bos_token_id", "eos_token_id", "decoder_start_token_id")


def tiny_config(config):
    """A copy of a transformers config with small widths, <= 2 layers and a small vocabulary.

    The copy is never wider than the config itself: with many narrow heads (1,024 heads of 1)
    a fixed head size would make it 8x wider than the model it stands for.
    """
    heads = config_roles.role_value(config, "heads") or 4
    hidden = config_roles.role_value(config, "hidden")
    head_dim = max(1, min(HEAD_DIM, hidden // heads)) if hidden else HEAD_DIM
    width = heads * head_dim
    data = config.to_dict()
    tiny = type(config).from_dict(dict(data))
    by_role = {"hidden": width, "intermediate": width * 2, "head_dim": head_dim,
               "vocab": max([256] + [t + 1 for t in _token_ids(config)])}
    changes: dict[str, int] = {}
    for name, role in config_roles.role_fields(data, type(config)).items():
        if role in by_role:
            changes[name] = by_role[role]
        elif role == "layers":
            changes[name] = min(_int(config, name) or 2, 2)
    # Widths with no role of their own (experts, ALBERT's embeddings, DeBERTa's pooler).
    changes.update(moe_intermediate_size=width, embedding_size=width, pooler_hidden_size=width)
    for name, value in changes.items():
        if _int(tiny, name) is not None:
            setattr(tiny, name, value)
    types = getattr(tiny, "layer_types", None)
    if isinstance(types, list) and _int(tiny, "num_hidden_layers"):
        tiny.layer_types = types[:tiny.num_hidden_layers]
    return type(config).from_dict(tiny.to_dict())  # validates the copy like a loaded config


def trace_tiny_copy(config, meta_model, seq_len: int, reason: str,
                    cancel: threading.Event | None = None):
    """GraphTrace of a tiny CPU copy, annotated from `meta_model`; None if that fails too."""
    import torch

    from workbench.core.graph.dataflow import GraphTrace, trace_model
    from workbench.core.graph.dataflow_recorder import annotate

    try:
        tiny = tiny_config(config)
        meta = arch.build_meta_model(tiny)
        n = sum(p.numel() for p in meta.parameters()) + sum(b.numel() for b in meta.buffers())
        del meta
    except Exception:  # the copy is a best effort: on any failure keep the original reason
        return None
    if n > MAX_COPY_ELEMENTS:
        return None  # not "tiny" (a width field this module does not shrink): keep the reason
    ensure_fits(4 * n, "cpu", "Tracing a CPU copy of this config",
                "Close other programs and try again.")
    try:
        torch.manual_seed(0)
        model = arch.model_class_for(tiny)._from_config(tiny).eval()
    except Exception:
        return None
    result = trace_model(model, seq_len, cancel, fake=False)
    if result.forward is None:
        return None
    real = dict(meta_model.named_modules())
    blocks = []
    for block in result.blocks:
        nodes = []
        for n in block.nodes:
            module = real.get(n.path)
            attrs = annotate(module, n.name) if module is not None else {}
            nodes.append(replace(n, output_shape=None, attrs={**attrs, **(
                {"cross": True} if n.attrs.get("cross") else {})}))
        blocks.append(replace(block, nodes=tuple(nodes)))
    forward = replace(result.forward, shapes={})
    note = (f"The shape-only pass failed ({reason.split(';')[0]}), so the dataflow was traced "
            f"on a tiny copy of this config; output shapes are not shown.")
    return GraphTrace(forward, tuple(blocks), None, note)


def _int(obj, name: str) -> int | None:
    value = getattr(obj, name, None)
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _token_ids(config) -> list[int]:
    out = []
    for name in TOKEN_FIELDS:
        value = getattr(config, name, None)
        values = value if isinstance(value, list) else [value]
        out += [v for v in values if isinstance(v, int) and v >= 0]
    return out
