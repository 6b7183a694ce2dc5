"""Benchmark: chat SFT through the studio (run_training) vs a plain TRL SFTTrainer script.

    python tests/bench/bench_sft.py [--reps 2] [--steps 30] [--json]

One process alternates the two, --reps times each, in ABBA order (studio first in odd reps,
plain first in even ones, so neither always runs after the other; medians reported):
  studio  workbench.core.training.runner.run_training(spec, ...) with the arguments
          `workbench train` passes (control-file watcher on, no final gc.collect);
  plain   what a user writes by hand: the demo Alpaca file converted to TRL's `messages` form,
          AutoModelForCausalLM.from_pretrained, trl.SFTTrainer + SFTConfig with the same
          max_length, batch size, steps, lr, seed and logging, assistant_only_loss=True,
          train(), save_model + tokenizer into final/.
Both train the same model: a Llama (4 layers, hidden 128, the tiny chat fixture's byte-level
BPE tokenizer) sized so a step takes 0.1-0.3 s on 2 CPUs, on the demo chat_alpaca.jsonl (24 rows),
batch 8, max_length 256, lr 1e-4, fp32, the same seed (so the same batch order: the last
logged loss is the same on both sides), no eval, logging every 5 steps, save_steps 10000 (so
each writes one checkpoint, at the last step, as Trainer does with the "steps" strategy: the
studio's is atomic, fsynced, which costs it ~0.3 s here). Both use the standard ChatML
template with {% generation %} markers, so TRL's own assistant_only_loss works on the plain
side (transformers' return_assistant_tokens_mask) and the studio finds the same assistant
tokens (its marked-template path; tests/core/training/test_chat_sft.py checks it matches
prefix rendering). The mean tokens per example of each side are printed to show the
two train on the same sequences.

Figures:
  loop   samples/s of the training loop, from the end of step 1 to the end of the last step
         (a TrainerCallback in both; the first step's warm-up and all setup excluded), and
         this process's CPU time per step over that span (less sensitive to other load);
  wall   the whole run: data, model load, trainer build, training, final save.
Ratios are studio/plain of the times (above 1 = the studio is slower; target <= 1.03).
Imports (torch, transformers, trl) happen before the first rep, so neither side pays them.
OpenMP waits passively (as `workbench train` sets it). No asserts: this prints figures.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from workbench.cli import _prepare_environment

_prepare_environment()  # what `workbench` does (OMP_WAIT_POLICY=PASSIVE, ...)

BATCH, MAX_LENGTH, LR, SEED, LOGGING = 8, 256, 1e-4, 42, 5


def build_model(folder: Path) -> Path:
    """A 4-layer Llama (hidden 128) with the tiny chat fixture's BPE tokenizer, saved."""
    import shutil

    import torch
    import transformers

    from tests.fixtures.chat import chat_tokenizer_files

    tokenizer = chat_tokenizer_files(True)
    vocab = len(json.loads((tokenizer / "tokenizer.json").read_text())["model"]["vocab"]) + 8
    torch.manual_seed(0)
    config = transformers.LlamaConfig(
        hidden_size=128, intermediate_size=344, num_attention_heads=4, num_key_value_heads=2,
        num_hidden_layers=4, vocab_size=vocab, max_position_embeddings=512,
        bos_token_id=0, eos_token_id=2, pad_token_id=0)
    transformers.LlamaForCausalLM(config).save_pretrained(folder)
    for item in tokenizer.iterdir():
        shutil.copy(item, folder / item.name)
    return folder


def step_timer():
    """A TrainerCallback recording the time at each step's end and the last logged loss."""
    from transformers import TrainerCallback

    class StepTimer(TrainerCallback):
        def __init__(self):
            self.ends: list[float] = []
            self.cpu: list[float] = []  # this process's CPU time: less sensitive to the load
            self.loss = float("nan")

        def on_step_end(self, args, state, control, **kwargs):
            self.ends.append(time.perf_counter())
            self.cpu.append(time.process_time())

        def on_log(self, args, state, control, logs=None, **kwargs):
            if logs and "loss" in logs:
                self.loss = float(logs["loss"])

    return StepTimer()


def loop_rate(timer) -> dict:
    """Loop seconds, samples/s and CPU ms per step from the end of step 1 to the last step."""
    seconds, steps = timer.ends[-1] - timer.ends[0], len(timer.ends) - 1
    return {"loop_s": seconds, "samples_per_s": steps * BATCH / max(1e-9, seconds),
            "cpu_ms_per_step": 1000 * (timer.cpu[-1] - timer.cpu[0]) / max(1, steps),
            "steps": len(timer.ends), "loss": timer.loss}


def studio(model: Path, data: Path, out: Path, steps: int) -> dict:
    from workbench.core.training.runner import run_training
    from workbench.core.training.spec import TrainSpec

    spec = TrainSpec(model_path=str(model), task="chat-sft", train_file=str(data),
                     eval_split=0.0, chat_template="chatml", max_length=MAX_LENGTH,
                     batch_size=BATCH, max_steps=steps, learning_rate=LR, seed=SEED,
                     logging_steps=LOGGING, save_steps=10_000, sample_prompts=0,
                     output_dir=str(out))
    timer = step_timer()
    t0 = time.perf_counter()
    events: list = []  # the CLI writes each event as a JSON line; keeping them is cheaper
    result = run_training(spec, events.append, extra_callbacks=[timer],
                          watch_control_file=True, free_memory=False)
    wall = time.perf_counter() - t0
    if result.status != "finished":
        raise SystemExit(f"studio run {result.status}: {result.message}")
    return {"wall_s": wall, **loop_rate(timer)}


def plain(model: Path, data: Path, out: Path, steps: int) -> dict:
    """The hand-written TRL script (kept to what a user would write)."""
    import datasets
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import SFTConfig, SFTTrainer

    from workbench.core.training.chat_templates import STANDARD_TEMPLATES

    timer = step_timer()
    t0 = time.perf_counter()
    tokenizer = AutoTokenizer.from_pretrained(model)
    tokenizer.chat_template = STANDARD_TEMPLATES["chatml"]  # ChatML with generation markers
    rows = [json.loads(line) for line in data.read_text().splitlines() if line.strip()]
    messages = [[{"role": "user", "content": f"{r['instruction']}\n\n{r['input']}"
                  if r.get("input", "").strip() else r["instruction"]},
                 {"role": "assistant", "content": r["output"]}] for r in rows]
    train = datasets.Dataset.from_dict({"messages": messages})
    torch.manual_seed(SEED)
    lm = AutoModelForCausalLM.from_pretrained(model, dtype=torch.float32)
    args = SFTConfig(
        output_dir=str(out / "checkpoints"), max_length=MAX_LENGTH, assistant_only_loss=True,
        per_device_train_batch_size=BATCH, max_steps=steps, learning_rate=LR, seed=SEED,
        logging_steps=LOGGING, save_steps=10_000, report_to="none", disable_tqdm=True,
        use_cpu=True, bf16=False, gradient_checkpointing=False)  # SFTConfig defaults both on
    trainer = SFTTrainer(model=lm, args=args, train_dataset=train, processing_class=tokenizer,
                         callbacks=[timer])
    tokens = sum(len(ids) for ids in trainer.train_dataset["input_ids"]) / len(
        trainer.train_dataset)
    trainer.train()
    trainer.save_model(str(out / "final"))
    tokenizer.save_pretrained(str(out / "final"))
    wall = time.perf_counter() - t0
    return {"wall_s": wall, **loop_rate(timer), "tokens_per_example": tokens}


def studio_tokens(model: Path, data: Path) -> float:
    """Mean tokens per training example of the studio's own chat data preparation."""
    from workbench.core.model.loading import load_tokenizer
    from workbench.core.training.chat_data import prepare_chat_data
    from workbench.core.training.spec import TrainSpec

    spec = TrainSpec(model_path=str(model), task="chat-sft", train_file=str(data),
                     eval_split=0.0, chat_template="chatml", max_length=MAX_LENGTH)
    ids = prepare_chat_data(spec, load_tokenizer(str(model))).train["input_ids"]
    return sum(len(x) for x in ids) / len(ids)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    import torch
    import transformers  # noqa: F401  (imports paid before the first rep, for both sides)
    import trl  # noqa: F401

    from workbench.core.training.spec import demo_data_dir

    data = demo_data_dir() / "chat_alpaca.jsonl"
    out: dict = {"torch_threads": torch.get_num_threads(), "cpus": os.cpu_count(),
                 "load_avg_1m": os.getloadavg()[0], "studio": [], "plain": []}
    with tempfile.TemporaryDirectory(prefix="wb-bench-sft-") as tmp:
        model = build_model(Path(tmp) / "model")
        out["tokens_per_example_studio"] = studio_tokens(model, data)
        for rep in range(args.reps):
            order = (("studio", studio), ("plain", plain))
            for name, fn in order if rep % 2 == 0 else order[::-1]:
                result = fn(model, data, Path(tmp) / f"{name}-{rep}", args.steps)
                out[name].append(result)
                if not args.json:
                    print(f"rep {rep + 1} {name:6s}: loop {result['samples_per_s']:6.1f} "
                          f"samples/s ({result['loop_s']:.2f} s for {result['steps'] - 1} "
                          f"steps, CPU {result['cpu_ms_per_step']:.0f} ms/step), wall "
                          f"{result['wall_s']:.2f} s, last loss {result['loss']:.4f}",
                          flush=True)
    out["tokens_per_example_plain"] = out["plain"][0]["tokens_per_example"]
    out["load_avg_1m_after"] = os.getloadavg()[0]
    for key in ("loop_s", "cpu_ms_per_step", "wall_s"):
        ratios = [s[key] / p[key] for s, p in zip(out["studio"], out["plain"], strict=True)]
        out[f"ratio_{key}_median"] = statistics.median(ratios)
    if args.json:
        print(json.dumps(out, indent=2, default=str))
        return

    def med(name, key):
        return statistics.median(r[key] for r in out[name])

    print(f"machine: {out['cpus']} CPUs, torch threads {out['torch_threads']}, load avg "
          f"{out['load_avg_1m']:.1f} -> {out['load_avg_1m_after']:.1f}; tokens/example studio "
          f"{out['tokens_per_example_studio']:.1f}, plain {out['tokens_per_example_plain']:.1f}")
    print(f"median loop: studio {med('studio', 'samples_per_s'):.1f} samples/s, plain "
          f"{med('plain', 'samples_per_s'):.1f} samples/s; time ratio studio/plain "
          f"{out['ratio_loop_s_median']:.3f}; CPU per step ratio "
          f"{out['ratio_cpu_ms_per_step_median']:.3f}")
    print(f"median wall: studio {med('studio', 'wall_s'):.2f} s, plain "
          f"{med('plain', 'wall_s'):.2f} s; ratio studio/plain {out['ratio_wall_s_median']:.3f}")


if __name__ == "__main__":
    main()
