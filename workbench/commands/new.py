"""`workbench new FAMILY --set key=value --out DIR`: build a small model with random weights."""

from __future__ import annotations

import argparse

from workbench.commands.config import render_build
from workbench.core.config.rules import parse_assignments
from workbench.core.config.schema import schema_for, with_edit
from workbench.core.model.builder import FAMILIES, analyze, build_new_model, family_values


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("family", choices=sorted(FAMILIES), type=str.lower,
                        help="model family; starts from a small config of it")
    parser.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE",
                        help="change a config field; VALUE is parsed as JSON where possible "
                             "(repeatable)")
    parser.add_argument("--out", required=True, help="new folder to write the model to")
    parser.add_argument("--seed", type=int, default=0, help="random seed of the weights")
    parser.add_argument("--device", default="cpu", help="device to build on (cpu, cuda:0...)")
    parser.add_argument("--dtype", default="float32", choices=("float32", "bfloat16", "float16"))
    parser.add_argument("--tokenizer", help="checkpoint folder whose tokenizer files to copy")


def run(args: argparse.Namespace) -> dict:
    values = family_values(args.family)
    for key, value in parse_assignments(args.sets, schema_for(values)).items():
        values = with_edit(values, key, value)
    vocab = None
    if args.tokenizer:
        from workbench.core.checkpoint.tokenizer_info import read_tokenizer_info
        from workbench.core.model.loading import checkpoint_folder

        tok = read_tokenizer_info(checkpoint_folder(args.tokenizer))
        vocab = tok.vocab_size if tok else None
    analysis = analyze(values, tokenizer_vocab_size=vocab)
    analysis.validation.raise_if_errors()  # same messages as the form; exit status 1
    result = build_new_model(values, args.out, seed=args.seed, device=args.device,
                             dtype=args.dtype, tokenizer_from=args.tokenizer)
    return {"family": args.family, "config": values,
            "warnings": [i.message for i in analysis.validation.warnings], **result.to_json()}


def render(data: dict) -> str:
    return render_build(data)
