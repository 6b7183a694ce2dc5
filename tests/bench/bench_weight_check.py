"""Benchmark: the NaN/inf weight check run at logging steps vs one optimizer step (MiniLM).

    python tests/bench/bench_weight_check.py [--repeats 20]

Times `first_nonfinite_parameter` (one float32 sum per trainable tensor, one sync) on the real
MiniLM checkpoint with a classification head, and one full training step (forward, backward,
AdamW step) at batch 16 x 48 tokens, as the demo spec trains. No asserts: this prints figures.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from workbench.cli import _prepare_environment

_prepare_environment()


def main() -> None:
    import torch
    from transformers import AutoModelForSequenceClassification

    from workbench.core.model.loading import demo_checkpoint_path
    from workbench.core.training.callbacks import first_nonfinite_parameter

    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()
    model = AutoModelForSequenceClassification.from_pretrained(demo_checkpoint_path(),
                                                               num_labels=4)
    params = sum(p.numel() for p in model.parameters() if p.requires_grad)
    first_nonfinite_parameter(model)  # warm-up
    t0 = time.perf_counter()
    for _ in range(args.repeats):
        assert first_nonfinite_parameter(model) is None
    check = (time.perf_counter() - t0) / args.repeats
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-5)
    batch = {"input_ids": torch.randint(1000, 2000, (16, 48)),
             "labels": torch.randint(0, 4, (16,))}
    model.train()

    def step() -> None:
        model(**batch).loss.backward()
        optimizer.step()
        optimizer.zero_grad()

    step()  # warm-up
    t0 = time.perf_counter()
    for _ in range(max(3, args.repeats // 4)):
        step()
    train = (time.perf_counter() - t0) / max(3, args.repeats // 4)
    print(f"MiniLM, {params:,} trainable parameters, torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads")
    print(f"weight check: {check * 1e3:.1f} ms   one training step (16 x 48): "
          f"{train * 1e3:.0f} ms   ratio {check / train:.1%} per logging step")


if __name__ == "__main__":
    main()
