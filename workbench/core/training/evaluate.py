"""Evaluate and try a model: accuracy/F1, eval loss/perplexity, classify / fill-mask / generate."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from workbench.core import jsonio
from workbench.core.errors import WorkbenchError
from workbench.core.training.perplexity import with_perplexity
from workbench.core.training.runs import FINAL_NAME, load_run_spec
from workbench.core.training.spec import TrainSpec
from workbench.core.training.tasks import Task, auto_model_class, task_info


def accuracy_f1(predictions: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    """Accuracy and macro F1 over positions whose label is not -100 (the ignore index)."""
    preds, gold = np.asarray(predictions).ravel(), np.asarray(labels).ravel()
    keep = gold != -100
    preds, gold = preds[keep], gold[keep]
    if gold.size == 0:
        return {"accuracy": float("nan"), "f1": float("nan")}
    f1s = []
    for c in np.union1d(np.unique(gold), np.unique(preds)):
        tp = float(np.sum((preds == c) & (gold == c)))
        fp = float(np.sum((preds == c) & (gold != c)))
        fn = float(np.sum((preds != c) & (gold == c)))
        f1s.append(0.0 if tp == 0 else 2 * tp / (2 * tp + fp + fn))
    return {"accuracy": float(np.mean(preds == gold)), "f1": float(np.mean(f1s))}


def metrics_functions(task: str, data: Any = None):
    """(compute_metrics, preprocess_logits_for_metrics) for Trainer, or (None, None) for LMs.

    Question answering scores answers over the eval examples of `data` (a PreparedData)."""
    if task == Task.QUESTION_ANSWERING:
        from workbench.core.training.qa_answers import qa_metrics_functions

        return qa_metrics_functions(getattr(data, "qa_eval", None))
    if not task_info(task).classifies:
        return None, None  # eval_loss (and perplexity, added by the callback) is the metric

    def preprocess(logits: Any, labels: Any):
        # Keep only the argmax: full logits of every eval batch would be held in memory.
        if isinstance(logits, (tuple, list)):
            logits = logits[0]
        return logits.argmax(dim=-1)

    def compute(eval_pred: Any) -> dict[str, float]:
        return accuracy_f1(eval_pred.predictions, eval_pred.label_ids)

    return compute, preprocess


def evaluate_model(spec: TrainSpec, model_path: str | Path | None = None) -> dict[str, float]:
    """Eval metrics of `model_path` (default: the spec's base model with a fresh, seeded head)."""
    import transformers

    from workbench.core.model.loading import load_tokenizer
    from workbench.core.training.data import make_collator, prepare_data
    from workbench.core.training.model_setup import load_for_task

    if spec.packing:  # packing is a training speed-up: evaluation scores each example alone,
        # and the padding collator it needs is only made without packing (make_collator)
        import dataclasses

        spec = dataclasses.replace(spec, packing=False)
    tokenizer = load_tokenizer(spec.model_path)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    data = prepare_data(spec, tokenizer)
    if data.eval is None:
        raise WorkbenchError("There is no eval data: set eval_file or eval_split > 0.")
    model = (load_for_task(spec, data.label_names) if model_path is None
             else load_trained_model(model_path, spec.task))
    compute, preprocess = metrics_functions(spec.task, data)
    import tempfile

    from workbench.core.training.thread_safety import make_trainer_thread_safe

    make_trainer_thread_safe()  # evaluation also runs in a worker thread beside the GUI

    with tempfile.TemporaryDirectory() as tmp:
        args = transformers.TrainingArguments(
            output_dir=tmp, per_device_eval_batch_size=spec.batch_size * 2, report_to="none",
            disable_tqdm=True, use_cpu=spec.device == "cpu",
            label_names=list(task_info(spec.task).label_names))
        trainer = transformers.Trainer(
            model=model, args=args, eval_dataset=data.eval, processing_class=tokenizer,
            data_collator=make_collator(spec, tokenizer, model), compute_metrics=compute,
            preprocess_logits_for_metrics=preprocess)
        from transformers.trainer_callback import PrinterCallback

        trainer.remove_callback(PrinterCallback)  # it prints dicts to stdout
        metrics = {k: float(v) for k, v in trainer.evaluate().items()
                   if isinstance(v, (int, float))}
    return with_perplexity(metrics, spec.task)


def evaluate_run(run_dir: str | Path) -> dict[str, float]:
    """Eval metrics of a run's final model on the run's eval data (the "evaluate" button)."""
    run = Path(run_dir)
    final = run / FINAL_NAME
    if not final.is_dir():
        raise WorkbenchError(f"The run {run.name} has no final model yet; finish or resume it.")
    return evaluate_model(load_run_spec(run), final)


def load_trained_model(model_dir: str | Path, task: str | None):
    """Load a trained model folder: full weights, or a LoRA adapter over its base model.

    With no task, the class the config names is loaded (a model without a task head)."""
    folder = Path(model_dir)
    if (folder / "adapter_config.json").is_file():
        return _load_adapter(folder, task)
    from workbench.core.model.loading import load_model

    return load_model(folder, auto_class=task_info(task).auto_class if task else None)


def _load_adapter(folder: Path, task: str):
    """Base model (with the run's head config: labels) + the LoRA adapter saved in `folder`."""
    import peft
    import transformers

    try:
        base_path = jsonio.load_object(folder / "adapter_config.json",
                                       what="adapter config")["base_model_name_or_path"]
        # config.json next to the adapter carries the head's labels (num_labels, id2label).
        kwargs = {"config": transformers.AutoConfig.from_pretrained(folder)} \
            if (folder / "config.json").is_file() else {}
        auto = auto_model_class(task)
        base = auto.from_pretrained(base_path, trust_remote_code=False,
                                    ignore_mismatched_sizes=True, **kwargs)
        return peft.PeftModel.from_pretrained(base, str(folder)).eval()
    except (OSError, ValueError, KeyError, RuntimeError) as e:
        raise WorkbenchError(f"Could not load the LoRA adapter in {folder} over its base "
                             f"model: {e}") from None


@dataclass(frozen=True)
class TryResult:
    """The answer of the "try it" box: a text and, for classifiers, (label, probability)s."""

    task: str
    text: str
    scores: list[tuple[str, float]] = field(default_factory=list)


def _model_dir(run_or_model: str | Path) -> tuple[Path, str]:
    path = Path(run_or_model)
    if (path / "spec.json").is_file():
        final = path / FINAL_NAME
        if not final.is_dir():
            raise WorkbenchError(f"The run {path.name} has no final model yet; finish or resume "
                                 f"it first.")
        return final, load_run_spec(path).task
    raise WorkbenchError(f"{path} is not a run folder (no spec.json).")


def try_model(run_dir: str | Path, text: str, max_new_tokens: int = 30,
              top_k: int = 5) -> TryResult:
    """Run the trained model of `run_dir` on `text`: classify, fill [MASK], or generate."""
    import torch

    from workbench.core.model.loading import load_tokenizer

    folder, task = _model_dir(run_dir)
    if not text.strip():
        raise WorkbenchError("Type some text to try the model on.")
    tokenizer = load_tokenizer(folder)
    model = load_trained_model(folder, task)
    config = model.config
    with torch.inference_mode():
        if task == Task.SEQUENCE_CLASSIFICATION:
            enc = tokenizer(text, return_tensors="pt", truncation=True)
            probs = model(**enc).logits.softmax(-1)[0]  # (num_labels,)
            scores = sorted(((config.id2label[i], float(p)) for i, p in enumerate(probs)),
                            key=lambda s: -s[1])
            return TryResult(task, scores[0][0], scores)
        if task == Task.TOKEN_CLASSIFICATION:
            words = text.split()
            enc = tokenizer(words, is_split_into_words=True, return_tensors="pt",
                            truncation=True)
            ids = model(**enc).logits.argmax(-1)[0].tolist()  # (T,)
            tags, seen = [], set()
            for pos, word_id in enumerate(enc.word_ids(0)):
                if word_id is not None and word_id not in seen:
                    seen.add(word_id)
                    tags.append(f"{words[word_id]}/{config.id2label[ids[pos]]}")
            return TryResult(task, " ".join(tags))
        if task == Task.MASKED_LM:
            mask = tokenizer.mask_token
            if mask not in text:
                raise WorkbenchError(f"Put {mask} where the model should fill in a word.")
            enc = tokenizer(text, return_tensors="pt", truncation=True)
            where = (enc["input_ids"][0] == tokenizer.mask_token_id).nonzero()[0, 0]
            probs = model(**enc).logits[0, where].softmax(-1)  # (vocab,)
            top = probs.topk(top_k)
            scores = [(tokenizer.decode([int(i)]).strip(), float(p))
                      for p, i in zip(top.values, top.indices, strict=True)]
            return TryResult(task, text.replace(mask, scores[0][0], 1), scores)
        enc = tokenizer(text, return_tensors="pt", truncation=True)
        enc = {k: v for k, v in enc.items() if k in ("input_ids", "attention_mask")}
        out = model.generate(**enc, max_new_tokens=max_new_tokens, do_sample=False,
                             pad_token_id=tokenizer.pad_token_id)
        if task == Task.CAUSAL_LM:
            out = out[:, enc["input_ids"].shape[1]:]  # only the continuation
        return TryResult(task, tokenizer.decode(out[0], skip_special_tokens=True))
