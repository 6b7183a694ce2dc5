"""Before/after answers of a chat run: a few fixed prompts answered by base and trained model."""

from __future__ import annotations

import json
import traceback
from pathlib import Path
from typing import Any

from workbench.core.errors import WorkbenchError
from workbench.core.training.events import TrainEvent
from workbench.core.training.spec import TrainSpec

SAMPLES_NAME = "sample_answers.json"
MAX_NEW_TOKENS = 64  # bounded: the comparison must not hold up the end of a run


def answer(model: Any, tokenizer: Any, prompts: list[list[dict]],
           max_new_tokens: int = MAX_NEW_TOKENS) -> list[str]:
    """Greedy answers of `model` to each prompt (messages), rendered with the tokenizer's
    chat template and a generation prompt, cut at the template's end-of-turn text."""
    import torch

    from workbench.core.training.chat_templates import stop_strings

    stops = stop_strings(tokenizer.chat_template or "")
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    answers = []
    try:
        with torch.inference_mode():
            for messages in prompts:
                enc = tokenizer.apply_chat_template(messages, add_generation_prompt=True,
                                                    return_tensors="pt", return_dict=True)
                enc = {k: v.to(device) for k, v in enc.items()
                       if k in ("input_ids", "attention_mask")}
                extra = {"stop_strings": stops, "tokenizer": tokenizer} if stops else {}
                out = model.generate(**enc, max_new_tokens=max_new_tokens, do_sample=False,
                                     pad_token_id=tokenizer.pad_token_id, **extra)
                text = tokenizer.decode(out[0, enc["input_ids"].shape[1]:],  # the reply only
                                        skip_special_tokens=True)
                for stop in stops:
                    text = text.split(stop, 1)[0]
                answers.append(text.strip())
    finally:
        model.train(was_training)
    return answers


def sample_answers(spec: TrainSpec, trained: Any, tokenizer: Any) -> list[dict]:
    """[{prompt, base, fine_tuned}] for the first spec.sample_prompts eval prompts."""
    from workbench.core.training.chat_data import eval_prompts

    prompts = eval_prompts(spec, spec.sample_prompts)
    tuned = answer(trained, tokenizer, prompts)
    if hasattr(trained, "disable_adapter"):  # LoRA: the base model is the same one, adapter off
        with trained.disable_adapter():
            base = answer(trained, tokenizer, prompts)
    else:
        from workbench.core.training.model_setup import load_for_task

        model = load_for_task(spec, []).to(next(trained.parameters()).device)
        try:
            base = answer(model, tokenizer, prompts)
        finally:
            del model
    return [{"prompt": p, "base": b, "fine_tuned": t}
            for p, b, t in zip(prompts, base, tuned, strict=True)]


def save_sample_answers(spec: TrainSpec, run_dir: Path, trained: Any, tokenizer: Any,
                        state: Any, elapsed: float) -> TrainEvent:
    """Write run_dir/sample_answers.json; a status event says where (or why not: the run
    itself has finished and is kept either way)."""
    from workbench.core.atomic import atomic_write_text

    step, total, epoch = int(state.global_step), int(state.max_steps), float(state.epoch or 0)
    try:
        samples = sample_answers(spec, trained, tokenizer)
        atomic_write_text(run_dir / SAMPLES_NAME, json.dumps(samples, indent=2,
                                                             ensure_ascii=False) + "\n")
    except (WorkbenchError, OSError) as e:
        return TrainEvent("status", step, total, epoch, elapsed, {},
                          f"no sample answers: {e}")
    except Exception as e:  # a generation failure must not turn a finished run into a failure
        from workbench.core.logs import log_unexpected

        log_unexpected(f"sample answers failed: {e}", traceback.format_exc())
        return TrainEvent("status", step, total, epoch, elapsed, {},
                          f"no sample answers ({type(e).__name__}: {e}); see the log")
    return TrainEvent("status", step, total, epoch, elapsed, {},
                      f"saved {len(samples)} sample answers (base and fine-tuned) to "
                      f"{run_dir / SAMPLES_NAME}")


def load_sample_answers(run_dir: str | Path) -> list[dict]:
    """The sample answers saved with a run ([] when it has none)."""
    from workbench.core import jsonio

    path = Path(run_dir) / SAMPLES_NAME
    if not path.is_file():
        return []
    data = jsonio.load_file(path, error=WorkbenchError, what="sample answers",
                            source=str(path))
    return data if isinstance(data, list) else []
