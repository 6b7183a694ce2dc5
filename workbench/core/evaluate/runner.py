"""Evaluate a checkpoint, LoRA adapter or run on a data file, batched, with progress and cancel.

Data files are read and tokenized by `core.training.data` (the same readers, column checks and
encoders as training), so a file that trains also evaluates. Columns and labels are checked
against the model's config before the model is loaded.
"""

from __future__ import annotations

import math
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from workbench.core import jsonio
from workbench.core.devices import check_device
from workbench.core.errors import TrainingDataError, WorkbenchError
from workbench.core.evaluate import metrics as m
from workbench.core.evaluate.report import EvalReport, WorstExample
from workbench.core.progress import Progress, Reporter
from workbench.core.training.data import _encoder, _require_columns, load_table, make_collator
from workbench.core.training.runs import FINAL_NAME, SPEC_NAME, load_run_spec
from workbench.core.training.spec import TASKS, TrainSpec

# Class-name endings -> task, for checkpoints that are not runs (a run's spec names its task).
_ARCH_TASKS = (("ForSequenceClassification", "sequence-classification"),
               ("ForTokenClassification", "token-classification"),
               ("ForCausalLM", "causal-lm"), ("LMHeadModel", "causal-lm"),
               ("ForMaskedLM", "masked-lm"), ("ForConditionalGeneration", "seq2seq"),
               ("ForSeq2SeqLM", "seq2seq"), ("ForQuestionAnswering", "question-answering"))
_PEFT_TASKS = {"SEQ_CLS": "sequence-classification", "TOKEN_CLS": "token-classification",
               "CAUSAL_LM": "causal-lm", "SEQ_2_SEQ_LM": "seq2seq",
               "QUESTION_ANS": "question-answering"}


# Question-answering settings a run's spec lends its evaluation (columns and windows).
_QA_SETTINGS = ("question_column", "context_column", "answers_column", "doc_stride")


@dataclass(frozen=True)
class EvalTarget:
    """What is evaluated: the weights folder, its task, and the run it belongs to (if any)."""

    model_dir: Path
    task: str
    run_dir: Path | None = None
    run_spec: TrainSpec | None = None


class UnknownTaskError(WorkbenchError):
    """A model folder whose config names no task head (a bare encoder such as BertModel)."""


def resolve_target(path: str | Path, task: str | None = None) -> EvalTarget:
    """A run folder (its final/ model and task), a LoRA adapter, or a checkpoint folder."""
    p = Path(path).expanduser().resolve()
    if not p.exists():
        raise WorkbenchError(f"{p} does not exist; give a checkpoint, adapter or run folder.")
    if task is not None and task not in TASKS:
        raise WorkbenchError(f"Unknown task '{task}'; choose one of {', '.join(TASKS)}.")
    if (p / SPEC_NAME).is_file():
        spec = load_run_spec(p)
        if not (p / FINAL_NAME).is_dir():
            raise WorkbenchError(f"The run {p.name} has no final model yet; finish or resume it.")
        return EvalTarget(p / FINAL_NAME, task or spec.task, p, spec)
    if (p / "adapter_config.json").is_file():
        cfg = jsonio.load_object(p / "adapter_config.json", what="adapter config")
        found = task or _PEFT_TASKS.get(str(cfg.get("task_type")))
    elif (p / "config.json").is_file():
        cfg = jsonio.load_object(p / "config.json", what="config")
        found = task or next((t for arch in cfg.get("architectures") or ()
                              for end, t in _ARCH_TASKS if arch.endswith(end)), None)
    else:
        raise WorkbenchError(f"{p} is not a model folder (no config.json or adapter_config.json)"
                             f" nor a training run (no {SPEC_NAME}).")
    if found is None:
        raise UnknownTaskError(f"Cannot tell which task to evaluate {p.name} on (its config "
                               f"names no task head); pass --task, one of {', '.join(TASKS)}.")
    return EvalTarget(p, found, None, None)


def evaluate(path: str | Path, data_file: str | Path, *, task: str | None = None,
             text_column: str | None = None, text_pair_column: str | None = None,
             label_column: str | None = None, target_column: str | None = None,
             max_length: int | None = None, batch_size: int = 16, max_rows: int | None = None,
             num_worst: int = 10, max_new_tokens: int = 32, device: str = "cpu",
             progress: Progress | None = None,
             cancel: threading.Event | None = None,
             qa: dict[str, Any] | None = None) -> EvalReport:
    """Metrics of the model at `path` on `data_file`, plus its `num_worst` worst examples.

    `qa` overrides question-answering settings (question_column, context_column,
    answers_column, doc_stride); by default they are the run's, or TrainSpec's defaults."""
    check_device(device)  # first: TrainSpec's own check would call it a training setting
    target = resolve_target(path, task)
    base = target.run_spec
    chosen = {k: v for k, v in (qa or {}).items() if k in _QA_SETTINGS and v is not None}
    spec = TrainSpec(
        model_path=str(target.model_dir), task=target.task, train_file=str(data_file),
        eval_split=0.0, batch_size=batch_size, device=device,
        text_column=text_column or (base.text_column if base else "text"),
        text_pair_column=text_pair_column or (base.text_pair_column if base else None),
        label_column=label_column or (base.label_column if base else "label"),
        target_column=target_column or (base.target_column if base else None)
        or ("target" if target.task == "seq2seq" else None),
        max_length=max_length or (base.max_length if base else 128),
        **{name: chosen[name] if name in chosen else getattr(base, name) for name in _QA_SETTINGS
           if name in chosen or base is not None})
    report = Reporter(progress, cancel, "The evaluation")
    if target.task == "chat-sft":  # conversations: columns found in the data, as in training
        import dataclasses

        from workbench.core.evaluate.chat import evaluate_chat
        from workbench.core.training.evaluate import load_trained_model

        spec = dataclasses.replace(spec, chat_template=base.chat_template if base else "")
        report.step("Loading the model", force=True)
        tokenizer = _tokenizer(target)
        model = load_trained_model(target.model_dir, target.task).to(device).eval()
        return evaluate_chat(target, spec, tokenizer, model, max_rows=max_rows,
                             num_worst=num_worst, max_new_tokens=max_new_tokens, report=report)
    report.step("Reading the data", force=True)
    table = load_table(data_file)
    _require_columns(table, spec, Path(data_file).name)
    if max_rows is not None and len(table) > max_rows:
        table = table.select(range(max_rows))
    label_names, label_ids = _labels(target, spec, table)
    report.step("Loading the model", force=True)
    tokenizer = _tokenizer(target)
    from workbench.core.training.evaluate import load_trained_model

    model = load_trained_model(target.model_dir, target.task).to(device).eval()
    if target.task == "question-answering":
        from workbench.core.evaluate.squad import evaluate_qa

        return evaluate_qa(target, spec, table, tokenizer, model, num_worst, report)
    report.step("Tokenizing", force=True)
    # In memory, with a fresh fingerprint: datasets would otherwise hash the encoder (dill-
    # pickling the tokenizer: 0.24 s of a 0.25 s map of 300 rows, measured) and write an Arrow
    # cache beside the data file that one evaluation never reads back.
    encoded = table.map(_encoder(spec, tokenizer, label_ids), batched=True,
                        remove_columns=table.column_names, keep_in_memory=True,
                        new_fingerprint=uuid.uuid4().hex)
    started = time.perf_counter()
    out = _run_batches(model, tokenizer, spec, encoded, report)
    if target.task == "seq2seq":
        out["predictions"] = _generate(model, tokenizer, spec, encoded, max_new_tokens, report)
    seconds = time.perf_counter() - started
    report.step("Scoring", force=True)
    return _score(target, spec, table, out, label_names, num_worst, seconds)


def _labels(target: EvalTarget, spec: TrainSpec, table) -> tuple[list[str], dict[str, int]]:
    """The model's label names and {label in the data: id}, refusing labels it does not know."""
    if spec.task not in ("sequence-classification", "token-classification"):
        return [], {}
    import transformers

    folder = target.model_dir
    try:
        config = transformers.AutoConfig.from_pretrained(folder, trust_remote_code=False)
    except (OSError, ValueError) as e:
        raise WorkbenchError(f"Could not read the label names of {folder} ({e}).") from None
    names = [str(config.id2label[i]) for i in range(config.num_labels)]
    column = table[spec.label_column]
    values = ([str(t) for row in column for t in (row if isinstance(row, list) else
                                                  str(row).split())]
              if spec.task == "token-classification" else [str(v) for v in column])
    seen = set(values)
    if seen <= set(names):
        return names, {n: i for i, n in enumerate(names)}
    if all(v.isdigit() and int(v) < len(names) for v in seen):  # labels stored as class ids
        return names, {v: int(v) for v in seen}
    unknown = sorted(seen - set(names))
    raise TrainingDataError(
        f"{Path(spec.train_file).name} has label(s) the model does not know: "
        f"{', '.join(unknown[:10])}. The model's labels are {', '.join(names[:20])}. Evaluate a "
        f"model fine-tuned on these labels, or pick the right --label-column.")


def _tokenizer(target: EvalTarget):
    from workbench.core.model.loading import load_tokenizer

    try:
        tokenizer = load_tokenizer(target.model_dir)
    except WorkbenchError:
        adapter = target.model_dir / "adapter_config.json"
        if not adapter.is_file():
            raise
        base = jsonio.load_object(adapter, what="adapter config").get("base_model_name_or_path")
        tokenizer = load_tokenizer(base)  # an adapter saved without its tokenizer
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def _batches(encoded, batch_size: int):
    """Index batches in order of length, so each batch pads little (results keep row order)."""
    lengths = np.array([len(ids) for ids in encoded["input_ids"]])
    order = np.argsort(lengths, kind="stable")
    for start in range(0, len(order), batch_size):
        yield order[start:start + batch_size].tolist()


def _run_batches(model, tokenizer, spec: TrainSpec, encoded, report: Reporter) -> dict:
    """Forward every batch once; keep per-example probabilities, predictions and losses."""
    import torch

    collate = make_collator(spec, tokenizer, model)
    n = len(encoded)
    out: dict[str, Any] = {"loss_sum": np.zeros(n), "tokens": np.zeros(n, np.int64)}
    if spec.task == "sequence-classification":
        out["probs"] = np.zeros((n, model.config.num_labels), np.float32)
    if spec.task == "token-classification":
        out["pred_ids"], out["gold_ids"], out["conf"] = [None] * n, [None] * n, np.zeros(n)
    done = 0
    # Masked LM masks at random: a fixed seed makes two evaluations of one model agree, and
    # fork_rng keeps the caller's random state untouched.
    with torch.random.fork_rng(devices=[]), torch.inference_mode():
        torch.manual_seed(0)
        for rows in _batches(encoded, spec.batch_size):
            # force=not done: the start of a phase always shows, even right after "Tokenizing"
            report.step(f"Evaluating: {done} of {n} examples", force=not done)
            batch = collate([encoded[i] for i in rows])
            batch = {k: v.to(model.device) for k, v in batch.items()}
            logits = model(**batch).logits.float()
            labels = batch["labels"]
            if spec.task == "sequence-classification":
                probs = logits.softmax(-1)  # (B, C)
                out["probs"][rows] = probs.cpu().numpy()
                nll = -probs.gather(1, labels[:, None]).clamp_min(1e-12).log()[:, 0]
                out["loss_sum"][rows], out["tokens"][rows] = nll.cpu().numpy(), 1
            else:
                if spec.task in ("causal-lm", "chat-sft"):
                    logits, labels = logits[:, :-1], labels[:, 1:]  # predict the next token
                nll = torch.nn.functional.cross_entropy(
                    logits.transpose(1, 2), labels, ignore_index=-100, reduction="none")  # (B, T)
                keep = labels != -100
                out["loss_sum"][rows] = nll.sum(1).cpu().numpy()  # .cpu(): a sync per batch
                out["tokens"][rows] = keep.sum(1).cpu().numpy()
                if spec.task == "token-classification":
                    probs = logits.softmax(-1).max(-1)  # (B, T) best-tag probability
                    for j, row in enumerate(rows):
                        k = keep[j]
                        out["pred_ids"][row] = probs.indices[j][k].tolist()
                        out["gold_ids"][row] = labels[j][k].tolist()
                        out["conf"][row] = float(probs.values[j][k].mean()) if k.any() else 0.0
            done += len(rows)
    report.step(f"Evaluated {n} examples", force=True)
    return out


def _generate(model, tokenizer, spec: TrainSpec, encoded, max_new_tokens: int,
              report: Reporter) -> list[str]:
    """Greedy generations for seq2seq inputs, in row order (for ROUGE, BLEU and chrF)."""
    import torch

    n = len(encoded)
    texts: list[str] = [""] * n
    done = 0
    with torch.inference_mode():
        for rows in _batches(encoded, spec.batch_size):
            report.step(f"Generating: {done} of {n} examples", force=not done)
            batch = tokenizer.pad([{"input_ids": encoded[i]["input_ids"],
                                    "attention_mask": encoded[i]["attention_mask"]}
                                   for i in rows], return_tensors="pt")
            batch = {k: v.to(model.device) for k, v in batch.items()}
            generated = model.generate(**batch, max_new_tokens=max_new_tokens, do_sample=False)
            for row, text in zip(rows, tokenizer.batch_decode(generated, skip_special_tokens=True),
                                 strict=True):
                texts[row] = text.strip()
            done += len(rows)
    return texts


def _text(table, spec: TrainSpec, i: int) -> str:
    value = table[i][spec.text_column]
    text = " ".join(map(str, value)) if isinstance(value, list) else str(value)
    if spec.text_pair_column:
        text += f" [SEP] {table[i][spec.text_pair_column]}"
    return text[:500]


def _score(target: EvalTarget, spec: TrainSpec, table, out: dict, label_names: list[str],
           num_worst: int, seconds: float) -> EvalReport:
    """Turn per-example outputs into the task's metrics and its worst examples."""
    n = len(table)
    loss = float(out["loss_sum"].sum() / max(out["tokens"].sum(), 1))
    per_class: list[dict] = []
    confusion = None
    worst: list[WorstExample] = []
    if spec.task == "sequence-classification":
        probs = out["probs"]
        preds = probs.argmax(1)
        gold = np.array([_class_id(table[i][spec.label_column], label_names) for i in range(n)])
        metrics, per_class, confusion = m.classification_metrics(preds, gold, label_names)
        metrics["loss"] = loss
        gold_p = probs[np.arange(n), gold]
        for i in np.argsort(gold_p, kind="stable")[:num_worst]:
            worst.append(WorstExample(int(i), _text(table, spec, i), label_names[gold[i]],
                                      label_names[preds[i]], float(probs[i].max()),
                                      float(gold_p[i])))
    elif spec.task == "token-classification":
        pred_tags = [[label_names[t] for t in row] for row in out["pred_ids"]]
        gold_tags = [[label_names[t] for t in row] for row in out["gold_ids"]]
        metrics, per_class = m.entity_metrics(pred_tags, gold_tags)
        metrics["loss"] = loss
        acc = np.array([np.mean([p == g for p, g in zip(pr, gr, strict=True)]) if gr else 1.0
                        for pr, gr in zip(pred_tags, gold_tags, strict=True)])
        for i in np.argsort(acc, kind="stable")[:num_worst]:
            worst.append(WorstExample(int(i), _text(table, spec, i), " ".join(gold_tags[i]),
                                      " ".join(pred_tags[i]), float(out["conf"][i]),
                                      float(acc[i])))
    else:
        example_loss = out["loss_sum"] / np.maximum(out["tokens"], 1)
        metrics = {"loss": loss, "perplexity": m.perplexity(loss)}
        if spec.task == "seq2seq":
            refs = [str(table[i][spec.target_column]) for i in range(n)]
            metrics.update(m.generation_metrics(out["predictions"], refs))
            chrf = np.array([m.sentence_chrf(p, r) for p, r in zip(out["predictions"], refs,
                                                                    strict=True)])
            for i in np.argsort(chrf, kind="stable")[:num_worst]:
                worst.append(WorstExample(int(i), _text(table, spec, i), refs[i],
                                          out["predictions"][i],
                                          math.exp(-float(example_loss[i])), float(chrf[i])))
        else:
            for i in np.argsort(-example_loss, kind="stable")[:num_worst]:
                worst.append(WorstExample(int(i), _text(table, spec, i), "", "",
                                          math.exp(-float(example_loss[i])),
                                          float(example_loss[i])))
    return EvalReport(str(target.run_dir or target.model_dir), str(spec.train_file), spec.task,
                      n, metrics, per_class, label_names, confusion, worst, seconds)


def _class_id(value: Any, label_names: list[str]) -> int:
    text = str(value)
    return label_names.index(text) if text in label_names else int(text)
