"""Question-answering data: SQuAD-style rows read, checked row by row, and split into features.

A row holds a question, a context and its answers ({"text": [...], "answer_start": [...]},
a list of {"text", "answer_start"} objects, the same as a JSON string in a CSV cell, or flat
`answer_text`/`answer_start` columns). Every row is checked before training, and a bad one is
reported with its row number: missing columns, empty texts, unanswerable rows (not supported),
answers that are not at their `answer_start` in the context, contexts that do not fit.

Features follow the transformers question-answering example (examples/pytorch/question-
answering): the context is split into windows of max_length tokens that overlap by doc_stride
(return_overflowing_tokens + offset_mapping); a window's start/end positions are the tokens of
the first answer, or the CLS token when the answer is not inside the window. Eval features keep
their example and the character offsets of their context tokens, so predicted spans map back to
the exact characters of the context (core/training/qa_answers.py).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from workbench.core.errors import TrainingDataError
from workbench.core.training.spec import TrainSpec

FLAT_ANSWER_COLUMNS = ("answer_text", "answer_start")
_CHUNK = 1000  # rows tokenized per call


@dataclass(frozen=True)
class QAExample:
    """One checked row: the texts, its gold answers and where they start in the context."""

    row: int  # 1-based row number in its file
    question: str
    context: str
    answers: tuple[str, ...]
    starts: tuple[int, ...]


@dataclass
class QAEvalSet:
    """Eval examples and, per feature, its example and its context tokens' character spans."""

    examples: list[QAExample]
    feature_example: list[int]  # feature -> index into examples
    offsets: list[list[tuple[int, int] | None]]  # None for question/special/padding tokens

    def features_of(self) -> list[list[int]]:
        """Example index -> its feature indices, in order."""
        grouped: list[list[int]] = [[] for _ in self.examples]
        for feature, example in enumerate(self.feature_example):
            grouped[example].append(feature)
        return grouped


def check_qa_columns(table: Any, spec: TrainSpec, name: str) -> None:
    """Raise TrainingDataError naming the question/context/answers column the file lacks."""
    columns = list(table.column_names)
    needed = [("question_column", spec.question_column), ("context_column", spec.context_column)]
    flat = all(c in columns for c in FLAT_ANSWER_COLUMNS)
    if not flat:
        needed.append(("answers_column", spec.answers_column))
    for setting, column in needed:
        if column not in columns:
            extra = (" (or the two flat columns answer_text and answer_start)"
                     if setting == "answers_column" else "")
            raise TrainingDataError(
                f"{name} has no column '{column}' (setting {setting}){extra}; its columns are "
                f"{', '.join(columns)}. Pick one of those.")


def read_examples(table: Any, spec: TrainSpec, name: str) -> list[QAExample]:
    """Every row of `table` as a QAExample, or a TrainingDataError naming the first bad row."""
    check_qa_columns(table, spec, name)
    columns = table.column_names
    flat = spec.answers_column not in columns
    questions = table[spec.question_column]
    contexts = table[spec.context_column]
    cells = (list(zip(table["answer_text"], table["answer_start"], strict=True)) if flat
             else table[spec.answers_column])
    examples = []
    for i, (question, context, cell) in enumerate(zip(questions, contexts, cells, strict=True)):
        where = f"{name} row {i + 1}"
        question = _text(question, where, "question", spec.question_column)
        context = _text(context, where, "context", spec.context_column)
        texts, starts = (_flat_answer(cell, where) if flat
                         else _answers(cell, where, spec.answers_column))
        for k, (text, start) in enumerate(zip(texts, starts, strict=True)):
            _check_span(context, text, start, f"{where}, answer {k + 1}")
            # spaces around an answer would put its first token on the word before it
            starts[k] = start + len(text) - len(text.lstrip())
            texts[k] = text.strip()
        examples.append(QAExample(i + 1, question.lstrip(), context, tuple(texts),
                                  tuple(starts)))
    return examples


def _text(value: Any, where: str, what: str, column: str) -> str:
    if value is None or (isinstance(value, float) and not np.isfinite(value)) \
            or not str(value).strip():
        raise TrainingDataError(f"{where} has an empty {what} (column '{column}'); fill or "
                                f"drop the row.")
    return str(value)


def _answers(cell: Any, where: str, column: str) -> tuple[list[str], list[int]]:
    """(texts, starts) of one answers cell in any of the accepted shapes."""
    shape = ('each answers cell must be {"text": [...], "answer_start": [...]} (SQuAD), a list '
             'of {"text": ..., "answer_start": ...} objects, or the same as JSON text')
    if isinstance(cell, str):
        try:
            cell = json.loads(cell)
        except ValueError:
            raise TrainingDataError(f"{where}: the {column} cell is not JSON; {shape}.") from None
    if isinstance(cell, list) and all(isinstance(a, dict) for a in cell):
        cell = {"text": [a.get("text") for a in cell],
                "answer_start": [a.get("answer_start") for a in cell]}
    if not isinstance(cell, dict) or "text" not in cell or "answer_start" not in cell:
        raise TrainingDataError(f"{where}: the {column} cell is {_short(cell)}; {shape}.")
    texts, starts = cell["text"], cell["answer_start"]
    texts = list(texts) if isinstance(texts, (list, tuple, np.ndarray)) else [texts]
    starts = list(starts) if isinstance(starts, (list, tuple, np.ndarray)) else [starts]
    if len(texts) != len(starts):
        raise TrainingDataError(f"{where} has {len(texts)} answer texts but {len(starts)} "
                                f"answer_start values; give one start per answer.")
    if not texts:
        raise _unanswerable(where)
    return [_answer_text(t, where, k) for k, t in enumerate(texts)], \
        [_start(s, where, k) for k, s in enumerate(starts)]


def _flat_answer(cell: tuple[Any, Any], where: str) -> tuple[list[str], list[int]]:
    text, start = cell
    if text is None and start is None:
        raise _unanswerable(where)
    return [_answer_text(text, where, 0)], [_start(start, where, 0)]


def _unanswerable(where: str) -> TrainingDataError:
    return TrainingDataError(
        f"{where} has no answer (an unanswerable question, as in SQuAD 2.0). This task trains "
        f"extractive answers only: give the answer's text and start in the context, or drop "
        f"the row.")


def _answer_text(value: Any, where: str, k: int) -> str:
    if value is None or (isinstance(value, float) and not np.isfinite(value)) \
            or not str(value).strip():
        raise TrainingDataError(f"{where}: answer {k + 1} is empty text. Give the words of the "
                                f"answer as they appear in the context, or drop the row.")
    return str(value)


def _start(value: Any, where: str, k: int) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(
            value, (int, float, np.integer, np.floating)) or not np.isfinite(value) \
            or float(value) != int(value) or value < 0:
        raise TrainingDataError(f"{where}: answer {k + 1} has answer_start {_short(value)}; "
                                f"it must be the answer's first character in the context, "
                                f"counted from 0.")
    return int(value)


def _check_span(context: str, text: str, start: int, where: str) -> None:
    """Refuse an answer whose text is not at `start` in the context, saying where it is."""
    if context[start:start + len(text)] == text:
        return
    found = context.find(text)
    hint = (f"the text first appears at {found}" if found >= 0
            else "the text does not appear in the context at all")
    raise TrainingDataError(
        f"{where}: '{text[:60]}' is not at answer_start {start} of the context (found "
        f"'{context[start:start + len(text)][:60]}' there; {hint}). answer_start counts "
        f"characters from 0: fix it, or drop the row.")


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


# -- splits and features ---------------------------------------------------------------------
def load_qa_splits(spec: TrainSpec) -> tuple[list[QAExample], list[QAExample] | None]:
    """(train examples, eval examples or None): the files read and checked, or the split."""
    from workbench.core.training.data import load_table

    train = read_examples(load_table(spec.train_file), spec, Path(spec.train_file).name)
    if spec.eval_file:
        return train, read_examples(load_table(spec.eval_file), spec,
                                    Path(spec.eval_file).name)
    if spec.eval_split > 0 and len(train) >= 2:
        order = np.random.default_rng(spec.seed).permutation(len(train))
        cut = max(1, round(len(train) * spec.eval_split))
        return [train[i] for i in sorted(order[cut:])], [train[i] for i in sorted(order[:cut])]
    return train, None


def check_fits(examples: list[QAExample], spec: TrainSpec, tokenizer: Any, name: str) -> None:
    """Refuse rows whose windows cannot be built: a question leaving no room for the context
    beyond the stride, or (doc_stride 0) a question and context longer than max_length."""
    special = tokenizer.num_special_tokens_to_add(pair=True)
    limit = getattr(tokenizer, "model_max_length", 0) or 0
    if 0 < limit < 1_000_000 and spec.max_length > limit:
        raise TrainingDataError(
            f"max_length {spec.max_length} is more than this model reads ({limit} tokens). "
            f"Set max_length to {limit} or less; longer contexts are split into windows "
            f"(doc_stride).")
    bad: list[tuple[int, str]] = []
    for start in range(0, len(examples), _CHUNK):
        chunk = examples[start:start + _CHUNK]
        q_len = [len(ids) for ids in tokenizer([e.question for e in chunk],
                                               add_special_tokens=False)["input_ids"]]
        c_len = ([len(ids) for ids in tokenizer([e.context for e in chunk],
                                                add_special_tokens=False)["input_ids"]]
                 if spec.doc_stride == 0 else [0] * len(chunk))
        for e, q, c in zip(chunk, q_len, c_len, strict=True):
            room = spec.max_length - q - special
            if spec.doc_stride == 0 and q + c + special > spec.max_length:
                model = (f" (the model reads at most {limit})" if 0 < limit < 1_000_000
                         else "")
                bad.append((e.row, f"its question and context take {q + c + special} tokens, "
                                   f"more than max_length {spec.max_length}{model}. Set "
                                   f"doc_stride (e.g. {max(1, spec.max_length // 4)}) to split "
                                   f"long contexts into overlapping windows, or raise "
                                   f"max_length"))
            elif spec.doc_stride > 0 and room <= spec.doc_stride:
                bad.append((e.row, f"its question takes {q} tokens, which leaves {max(room, 0)} "
                                   f"of max_length {spec.max_length} for the context: not "
                                   f"more than doc_stride {spec.doc_stride}. Shorten the "
                                   f"question, raise max_length or lower doc_stride"))
    if bad:
        row, why = bad[0]
        more = f" ({len(bad) - 1} more rows too)" if len(bad) > 1 else ""
        raise TrainingDataError(f"{name} row {row}{more}: {why}.")


def tokenize_features(examples: list[QAExample], spec: TrainSpec, tokenizer: Any,
                      keep_offsets: bool = False) -> tuple[dict[str, list], QAEvalSet]:
    """Model inputs (with start/end positions) for every window of every example, and the
    per-feature mapping back to the examples (offsets kept when `keep_offsets`)."""
    pad_on_right = tokenizer.padding_side == "right"
    context_id = 1 if pad_on_right else 0
    columns: dict[str, list] = {}
    mapping = QAEvalSet(examples, [], [])
    for start in range(0, len(examples), _CHUNK):
        chunk = examples[start:start + _CHUNK]
        questions, contexts = [e.question for e in chunk], [e.context for e in chunk]
        out = tokenizer(questions if pad_on_right else contexts,
                        contexts if pad_on_right else questions,
                        truncation="only_second" if pad_on_right else "only_first",
                        max_length=spec.max_length, stride=spec.doc_stride,
                        return_overflowing_tokens=True, return_offsets_mapping=True)
        samples = out.pop("overflow_to_sample_mapping")
        offsets = out.pop("offset_mapping")
        starts, ends = [], []
        for i, feature_offsets in enumerate(offsets):
            example = chunk[samples[i]]
            sequence_ids = out.sequence_ids(i)
            s, e = answer_tokens(example.starts[0], example.starts[0] + len(example.answers[0]),
                                 feature_offsets, sequence_ids, context_id,
                                 _cls_index(out["input_ids"][i], tokenizer))
            starts.append(s)
            ends.append(e)
            mapping.feature_example.append(start + samples[i])
            if keep_offsets:
                mapping.offsets.append([tuple(o) if sequence_ids[k] == context_id else None
                                        for k, o in enumerate(feature_offsets)])
        for key, values in out.items():
            columns.setdefault(key, []).extend(values)
        columns.setdefault("start_positions", []).extend(starts)
        columns.setdefault("end_positions", []).extend(ends)
    return columns, mapping


def _cls_index(input_ids: list[int], tokenizer: Any) -> int:
    """Where a window points when its answer lies outside it (CLS, else BOS, else 0)."""
    for token_id in (tokenizer.cls_token_id, tokenizer.bos_token_id):
        if token_id is not None and token_id in input_ids:
            return input_ids.index(token_id)
    return 0


def answer_tokens(start_char: int, end_char: int, offsets: list, sequence_ids: list,
                  context_id: int, cls_index: int) -> tuple[int, int]:
    """(start, end) token positions of characters [start_char, end_char) in one window, or
    (cls_index, cls_index) when the window does not hold the whole answer."""
    first = 0
    while sequence_ids[first] != context_id:
        first += 1
    last = len(sequence_ids) - 1
    while sequence_ids[last] != context_id:
        last -= 1
    if not (offsets[first][0] <= start_char and offsets[last][1] >= end_char):
        return cls_index, cls_index
    while first < len(offsets) and sequence_ids[first] == context_id \
            and offsets[first][0] <= start_char:
        first += 1
    while last >= 0 and sequence_ids[last] == context_id and offsets[last][1] >= end_char:
        last -= 1
    return first - 1, last + 1


def prepare_qa_data(spec: TrainSpec, tokenizer: Any):
    """PreparedData for question answering: train/eval features, and the eval mapping."""
    import datasets

    from workbench.core.training.data import PreparedData

    train, evalset = load_qa_splits(spec)
    check_fits(train, spec, tokenizer, Path(spec.train_file).name)
    if evalset is not None:
        check_fits(evalset, spec, tokenizer, Path(spec.eval_file or spec.train_file).name)
    train_columns, _ = tokenize_features(train, spec, tokenizer)
    eval_tok, qa_eval = None, None
    if evalset is not None:
        eval_columns, qa_eval = tokenize_features(evalset, spec, tokenizer, keep_offsets=True)
        eval_tok = datasets.Dataset.from_dict(eval_columns)
    return PreparedData(train=datasets.Dataset.from_dict(train_columns), eval=eval_tok,
                        label_names=[], num_train_rows=len(train_columns["input_ids"]),
                        qa_eval=qa_eval)
