"""`workbench attention PATH --text ... --out DIR`: attention weights, rollout and a PNG."""

from __future__ import annotations

import argparse
from pathlib import Path

from workbench.core.errors import WorkbenchError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("path", help="model folder (config.json, weights and tokenizer)")
    parser.add_argument("--text", required=True, help="the input text (any language)")
    parser.add_argument("--pair", help="second segment, for pair models (e.g. BERT)")
    parser.add_argument("--target", help="decoder text, for encoder-decoders (T5, BART)")
    parser.add_argument("--out", required=True, help="folder to write the files into")
    parser.add_argument("--layers", help="comma-separated layer indices to capture (default: all)")
    parser.add_argument("--device", default="cpu", help="cpu, cuda, cuda:1, mps (default cpu)")
    parser.add_argument("--dtype", default="float32", help="float32, bfloat16 or float16")


def _layers(value: str | None) -> list[int] | None:
    if not value:
        return None
    try:
        return [int(v) for v in value.split(",") if v.strip()]
    except ValueError:
        raise WorkbenchError(f"--layers takes comma-separated integers, not '{value}'.") from None


def run(args: argparse.Namespace) -> dict:
    import numpy as np

    from workbench.core.attention.aggregate import (
        head_entropy,
        masked_future,
        mean_over_heads,
        rollout,
        sink_heads,
        summarize_sinks,
    )
    from workbench.core.attention.compute import compute_attention_from_path
    from workbench.core.attention.export import save_npy, save_png, save_tokens_json

    maps = compute_attention_from_path(args.path, args.text, pair=args.pair, target=args.target,
                                       layers=_layers(args.layers), device=args.device,
                                       dtype=args.dtype)
    out = Path(args.out).expanduser()
    files = []
    single = len(maps.kinds) == 1
    for kind in maps.kinds:
        name = "attentions.npy" if single else f"attentions_{kind}.npy"
        files.append(save_npy(out / name, maps.maps[kind]))
    files.append(save_tokens_json(out / "tokens.json", maps.tokens, maps.target_tokens))
    # the first square kind (LED's encoder maps may be left out, its decoder's kept)
    main = next((k for k in ("self", "encoder", "decoder") if k in maps.kinds), maps.kinds[0])
    # Rollout multiplies consecutive layers, so it needs all of them.
    rolled = None
    if main != "cross" and maps.num_layers[main] == len(maps.layers[main]):
        rolled = rollout(maps.maps[main])
        files.append(save_npy(out / "rollout.npy", rolled))
    last = mean_over_heads(maps.maps[main][-1:])[0]
    top = float(np.nanmax(last)) or 1.0
    if main in maps.causal:
        last = masked_future(last)
    png_name = f"mean_heads_layer{maps.layers[main][-1]}.png"
    files.append(save_png(out / png_name, last, levels=(0.0, top)))
    entropy = {k: head_entropy(v).round(4).tolist() for k, v in maps.maps.items()}
    keys = maps.target_tokens if main == "decoder" else maps.tokens
    special = [t.special for t in keys]
    sinks = sink_heads(maps.maps[main], special, layers=maps.layers[main])
    data = maps.summary()
    data.update({
        "path": str(args.path), "out": str(out), "files": [str(f) for f in files],
        "entropy": entropy, "rollout": rolled is not None,
        "sink_heads": [{"layer": s.layer, "head": s.head, "share": round(s.share, 4),
                        "target": s.target} for s in sinks],
        "sink_summary": summarize_sinks(sinks, maps.maps[main].shape[0] * maps.num_heads(main)),
    })
    if rolled is None:
        data["notes"].append("rollout.npy was not written: it needs every layer captured.")
    return data


def render(data: dict) -> str:
    tokens = " ".join(f"[{t['text']}]" if t["special"] else t["text"] for t in data["tokens"])
    lines = [f"{data['path']}  ({data['model_type']}, "
             f"{'causal' if data['is_causal'] else 'bidirectional'})",
             f"  tokens ({len(data['tokens'])}): {tokens}"]
    if data["target_tokens"]:
        lines.append(f"  target tokens ({len(data['target_tokens'])}): "
                     + " ".join(t["text"] for t in data["target_tokens"]))
    for kind, shape in data["shapes"].items():
        ent = data["entropy"][kind]
        flat = [v for row in ent for v in row]
        lines.append(f"  {kind:8} {'x'.join(map(str, shape))}  (layers x heads x T x T), "
                     f"head entropy {min(flat):.2f}-{max(flat):.2f} nats")
    lines.append(f"  {data['sink_summary']}")
    lines += [f"  note: {n}" for n in data["notes"]]
    lines.append(f"  wrote {len(data['files'])} files to {data['out']}:")
    lines += [f"    {Path(f).name}" for f in data["files"]]
    return "\n".join(lines)
