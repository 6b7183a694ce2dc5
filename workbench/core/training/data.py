"""Training data: read CSV/JSON/TXT/Parquet files with `datasets`, check, tokenize, preview."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from workbench.core.errors import TrainingDataError
from workbench.core.training.spec import TrainSpec
from workbench.core.training.tasks import Task, task_info

BUILDERS = {".csv": "csv", ".tsv": "csv", ".json": "json", ".jsonl": "json", ".txt": "text",
            ".parquet": "parquet"}
# datasets makes (disabled) tqdm bars while loading; tqdm apparently drops its class-wide lock
# when its last bar closes, so two loads on two threads (the GUI's preview and a starting run)
# fail with "'tqdm' object has no attribute '_lock'" (seen in tests/qt/train). One at a time.
_LOAD_LOCK = threading.Lock()


def load_table(path: str | Path):
    """Read a data file into a `datasets.Dataset`, or raise TrainingDataError saying why not."""
    import datasets

    p = Path(path).expanduser()
    builder = BUILDERS.get(p.suffix.lower())
    if builder is None:
        raise TrainingDataError(f"{p.name}: unsupported data file type '{p.suffix}'. Use CSV, "
                                f"TSV, JSON, JSONL, TXT or Parquet.")
    if not p.is_file():
        raise TrainingDataError(f"Data file {p} does not exist.")
    if p.stat().st_size == 0:
        raise TrainingDataError(f"Data file {p} is empty.")
    kwargs: dict[str, Any] = {"sep": "\t"} if p.suffix.lower() == ".tsv" else {}
    datasets.disable_progress_bars()
    try:
        with _LOAD_LOCK:
            table = datasets.load_dataset(builder, data_files=str(p.resolve()), split="train",
                                          **kwargs)
    except Exception as e:  # datasets raises many types (ArrowInvalid, DatasetGenerationError...)
        raise TrainingDataError(_unreadable(p, builder, e)) from None
    if len(table) == 0:
        raise TrainingDataError(f"Data file {p} has no rows.")
    return table


def _unreadable(path: Path, builder: str, error: Exception) -> str:
    """Why datasets could not read `path`: the parser's own reason, not its wrapper's."""
    # DatasetGenerationError says only "An error occurred while generating the dataset";
    # the parser's error (pandas, pyarrow, the codec) is its cause.
    cause = error.__cause__ if error.__cause__ is not None else error
    if isinstance(cause, UnicodeDecodeError):
        # (cause.start counts from the parser's current chunk, not from the file's start)
        return (f"{path.name} is not UTF-8 text (it holds byte {cause.object[cause.start]:#04x}"
                f", which UTF-8 does not allow there). Save it as UTF-8 and try again.")
    if "corresponds to no data" in str(cause):  # a header and no rows
        return f"Data file {path} has no rows."
    text = (str(cause).strip().splitlines() or [""])[0][:300]
    return (f"Could not read {path.name} as {builder.upper()}: {text} "
            f"({type(cause).__name__}). Fix the file, or check that its extension matches "
            f"its format.")


def list_columns(path: str | Path) -> list[str]:
    """Column names of a data file (TXT files have the single column 'text')."""
    return list(load_table(path).column_names)


def _require_columns(table, spec: TrainSpec, name: str) -> None:
    if spec.task == Task.QUESTION_ANSWERING:  # its rows are checked too (qa_data)
        from workbench.core.training.qa_data import read_examples

        read_examples(table, spec, name)
        return
    # the columns the task reads (its registry entry); the pair column only when one is set
    needed = {setting: getattr(spec, setting) or "" for setting in task_info(spec.task).columns
              if setting != "text_pair_column" or spec.text_pair_column}
    for setting, column in needed.items():
        if column not in table.column_names:
            raise TrainingDataError(
                f"{name} has no column '{column}' (setting {setting}); its columns are "
                f"{', '.join(table.column_names)}. Pick one of those.")


def _words(value: Any) -> list[str]:
    return [str(v) for v in value] if isinstance(value, (list, tuple)) else str(value).split()


def label_key(value: Any, where: str) -> str:
    """The class name of one label cell (1 and 1.0 -> "1"), or raise naming the row.

    The same rule for every file type: CSV and Parquet give NaN for an empty numeric cell and
    JSON/JSONL may hold NaN, lists or objects, none of which is a class.
    """
    if value is None:
        raise TrainingDataError(f"{where} has an empty label; fill or drop the row.")
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value))
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        if not np.isfinite(value):
            raise TrainingDataError(
                f"{where} has the label {float(value)} (an empty or non-numeric cell); fill "
                f"or drop the row.")
        if float(value).is_integer():
            return str(int(value))
        raise TrainingDataError(
            f"{where} has the label {float(value):g}, a fraction; classification needs class "
            f"names or whole numbers.")
    if isinstance(value, str):
        if not value.strip():
            raise TrainingDataError(f"{where} has an empty label; fill or drop the row.")
        return value
    shown = repr(value)
    raise TrainingDataError(
        f"{where} has a label of type {type(value).__name__} ({shown[:40]}); each row needs one "
        f"class name or whole number (token classification: a list of tags or a "
        f"space-separated string).")


def tag_keys(value: Any, where: str) -> list[str]:
    """The per-word tags of one token-classification label cell, each checked by label_key."""
    if isinstance(value, str):
        return value.split()
    if isinstance(value, (list, tuple)):
        return [label_key(tag, f"{where} (tag {i + 1})") for i, tag in enumerate(value)]
    if value is None or isinstance(value, (float, np.floating)):
        return [label_key(value, where)]  # raises for the empty cell (None or NaN)
    raise TrainingDataError(
        f"{where} has tags of type {type(value).__name__}; token classification needs a list "
        f"of tags or a space-separated string per row.")


def _label_values(table, spec: TrainSpec, name: str = "The data") -> list[str]:
    """Every label of `table` as a class name (token classification: every tag), checked."""
    column = table[spec.label_column]
    if spec.task == Task.TOKEN_CLASSIFICATION:
        return [tag for i, row in enumerate(column)
                for tag in tag_keys(row, f"{name} row {i + 1}")]
    return [label_key(v, f"{name} row {i + 1}") for i, v in enumerate(column)]


def label_names_for(values: list[Any], name: str) -> list[str]:
    """Sorted distinct labels as strings (whole numbers sort numerically), or raise on empty."""
    keys = {label_key(v, name) for v in values}
    if all(isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool)
           for v in values):
        return sorted(keys, key=int)
    return sorted(keys)


@dataclass(frozen=True)
class DataPreview:
    """What the setup form shows before launch: rows, columns, lengths, labels, warnings."""

    columns: list[str]
    num_rows: int
    rows: list[dict[str, str]]
    token_length_counts: np.ndarray  # histogram counts
    token_length_edges: np.ndarray  # histogram bin edges (len(counts) + 1)
    truncated_fraction: float  # share of rows longer than max_length
    label_counts: dict[str, int] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


def preview_data(spec: TrainSpec, tokenizer: Any = None, max_rows: int = 20,
                 bins: int = 20) -> DataPreview:
    """Read the training file and describe it; token lengths need a tokenizer (else zeros)."""
    table = load_table(spec.train_file)
    warnings: list[str] = []
    try:
        _require_columns(table, spec, Path(spec.train_file).name)
    except TrainingDataError as e:
        warnings.append(str(e))
    rows = [{k: str(v)[:500] for k, v in table[i].items()} for i in range(min(max_rows,
                                                                               len(table)))]
    counts, edges, truncated = np.zeros(0, np.int64), np.zeros(1), 0.0
    if tokenizer is not None and spec.text_column in table.column_names:
        sample = table.select(range(min(len(table), 5000)))[spec.text_column]
        lengths = np.array([len(tokenizer(" ".join(_words(t)) if isinstance(t, list) else str(t))
                                ["input_ids"]) for t in sample])
        counts, edges = np.histogram(lengths, bins=bins)
        truncated = float((lengths > spec.max_length).mean())
        if truncated > 0.05:
            warnings.append(f"{truncated:.0%} of rows are longer than max_length "
                            f"{spec.max_length} tokens and will be truncated.")
    label_counts: dict[str, int] = {}
    if task_info(spec.task).classifies and spec.label_column in table.column_names:
        try:
            labels = _label_values(table, spec, Path(spec.train_file).name)
        except TrainingDataError as e:
            warnings.append(str(e))
        else:
            values, seen = np.unique(labels, return_counts=True)
            label_counts = {str(v): int(c) for v, c in zip(values, seen, strict=True)}
            if len(label_counts) < 2:
                warnings.append("The training data has fewer than 2 distinct labels.")
    return DataPreview(columns=list(table.column_names), num_rows=len(table), rows=rows,
                       token_length_counts=counts, token_length_edges=edges,
                       truncated_fraction=truncated, label_counts=label_counts,
                       warnings=warnings)


@dataclass
class PreparedData:
    """Tokenized train/eval datasets plus what the model head needs (label names)."""

    train: Any
    eval: Any
    label_names: list[str]
    num_train_rows: int
    qa_eval: Any = None  # question answering: the eval examples and features (qa_data.QAEvalSet)
    notes: list[str] = field(default_factory=list)  # reported before training (status)


def load_splits(spec: TrainSpec):
    """(train table, eval table or None) from the files, checked for the task's columns."""
    train = load_table(spec.train_file)
    _require_columns(train, spec, Path(spec.train_file).name)
    if task_info(spec.task).classifies:
        _label_values(train, spec, Path(spec.train_file).name)  # rows numbered as in the file
    if spec.eval_file:
        evalset = load_table(spec.eval_file)
        _require_columns(evalset, spec, Path(spec.eval_file).name)
        if task_info(spec.task).classifies:
            _label_values(evalset, spec, Path(spec.eval_file).name)
    elif spec.eval_split > 0 and len(train) >= 2:
        parts = train.train_test_split(test_size=spec.eval_split, seed=spec.seed)
        train, evalset = parts["train"], parts["test"]
    else:
        evalset = None
    return train, evalset


def prepare_data(spec: TrainSpec, tokenizer: Any) -> PreparedData:
    """Load, check and tokenize the data for `spec.task`; raise TrainingDataError on bad data."""
    if spec.task == Task.QUESTION_ANSWERING:
        from workbench.core.training.qa_data import prepare_qa_data

        return prepare_qa_data(spec, tokenizer)
    if spec.task == Task.CHAT_SFT:
        from workbench.core.training.chat_data import prepare_chat_data

        return prepare_chat_data(spec, tokenizer)
    train, evalset = load_splits(spec)
    label_names: list[str] = []
    if task_info(spec.task).classifies:
        column = train[spec.label_column]
        label_names = (sorted(set(_label_values(train, spec)))
                       if spec.task == Task.TOKEN_CLASSIFICATION
                       else label_names_for(list(column), Path(spec.train_file).name))
        if len(label_names) < 2:
            raise TrainingDataError(
                f"{Path(spec.train_file).name} has only one distinct label "
                f"({label_names[0] if label_names else 'none'}); classification needs two or more.")
        if evalset is not None:
            unknown = sorted(set(_label_values(evalset, spec)) - set(label_names))
            if unknown:
                raise TrainingDataError(
                    f"The eval data has label(s) not in the training data: "
                    f"{', '.join(unknown[:10])}. Add examples of them to the training file or "
                    f"remove them from the eval file.")
    label_ids = {name: i for i, name in enumerate(label_names)}
    encode = _encoder(spec, tokenizer, label_ids)
    train_tok = train.map(encode, batched=True, remove_columns=train.column_names)
    eval_tok = (evalset.map(encode, batched=True, remove_columns=evalset.column_names)
                if evalset is not None else None)
    return PreparedData(train=train_tok, eval=eval_tok, label_names=label_names,
                        num_train_rows=len(train_tok))


def _encoder(spec: TrainSpec, tokenizer: Any, label_ids: dict[str, int]):
    """The batched map function turning raw rows into model inputs for `spec.task`."""
    text, pair, max_len = spec.text_column, spec.text_pair_column, spec.max_length

    def strings(values: list[Any]) -> list[str]:
        return ["" if v is None else str(v) for v in values]

    def sequence_classification(batch: dict) -> dict:
        pairs = strings(batch[pair]) if pair else None
        out = tokenizer(strings(batch[text]), pairs, truncation=True, max_length=max_len)
        out["labels"] = [label_ids[label_key(v, "A row")] for v in batch[spec.label_column]]
        return out

    def token_classification(batch: dict) -> dict:
        words = [_words(v) for v in batch[text]]
        tags = [tag_keys(v, "A row") for v in batch[spec.label_column]]
        for i, (w, t) in enumerate(zip(words, tags, strict=True)):
            if len(w) != len(t):
                raise TrainingDataError(
                    f"Row '{' '.join(w)[:60]}' has {len(w)} words but {len(t)} tags; token "
                    f"classification needs one tag per word (row {i} of its batch).")
        out = tokenizer(words, is_split_into_words=True, truncation=True, max_length=max_len)
        labels = []
        for i, row_tags in enumerate(tags):
            previous, row = None, []
            for word_id in out.word_ids(i):
                # Only the first sub-token of each word carries the tag; -100 is ignored by loss.
                row.append(-100 if word_id is None or word_id == previous
                           else label_ids[row_tags[word_id]])
                previous = word_id
            labels.append(row)
        out["labels"] = labels
        return out

    def language_modeling(batch: dict) -> dict:
        return tokenizer(strings(batch[text]), truncation=True, max_length=max_len)

    def seq2seq(batch: dict) -> dict:
        return tokenizer(strings(batch[text]), text_target=strings(batch[spec.target_column]),
                         truncation=True, max_length=max_len)

    return {Task.SEQUENCE_CLASSIFICATION: sequence_classification,
            Task.TOKEN_CLASSIFICATION: token_classification, Task.CAUSAL_LM: language_modeling,
            Task.MASKED_LM: language_modeling, Task.SEQ2SEQ: seq2seq}[spec.task]


def make_collator(spec: TrainSpec, tokenizer: Any, model: Any):
    """The transformers data collator that pads (and masks, for masked LM) batches."""
    import transformers as tf

    if spec.task == Task.CHAT_SFT:
        # Packing makes SFTTrainer collate padding-free batches itself (it refuses a collator).
        from trl.trainer.sft_trainer import DataCollatorForLanguageModeling

        return None if spec.packing else DataCollatorForLanguageModeling(
            pad_token_id=tokenizer.pad_token_id)
    if spec.task in (Task.SEQUENCE_CLASSIFICATION, Task.QUESTION_ANSWERING):
        return tf.DataCollatorWithPadding(tokenizer)
    if spec.task == Task.TOKEN_CLASSIFICATION:
        return tf.DataCollatorForTokenClassification(tokenizer)
    if spec.task == Task.CAUSAL_LM:
        return tf.DataCollatorForLanguageModeling(tokenizer, mlm=False)
    if spec.task == Task.MASKED_LM:
        if tokenizer.mask_token is None:
            raise TrainingDataError("Masked LM needs a tokenizer with a mask token; this one "
                                    "has none. Choose causal-lm for this model.")
        return tf.DataCollatorForLanguageModeling(tokenizer, mlm=True, mlm_probability=0.15)
    return tf.DataCollatorForSeq2Seq(tokenizer, model=model)
