"""Chat / instruction data: detect the format, check every row, render with the chat template.

Four formats are read, detected from the columns, and turned into TRL's conversational form
(a list of {"role", "content"} messages):
- Alpaca: `instruction`, optional `input` and `system`, `output`;
- ShareGPT: `conversations`, a list of {"from", "value"} turns (human/gpt/system);
- OpenAI messages: `messages`, a list of {"role", "content"} turns;
- prompt/completion: `prompt` and `completion` text columns (or message lists).
Every row is checked and rendered before training, so a bad row is reported by its number
(1 = the first data row) instead of failing mid-run. The result is tokenized, truncated to
max_length and labelled (-100 everywhere but the assistant's tokens), ready for SFTTrainer.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from workbench.core.errors import TrainingDataError
from workbench.core.training.chat_templates import has_generation_markers, resolve_template
from workbench.core.training.spec import TrainSpec

ALPACA, SHAREGPT, MESSAGES, PROMPT_COMPLETION = "alpaca", "sharegpt", "messages", \
    "prompt-completion"
ROLES = ("system", "user", "assistant")
# ShareGPT speaker names -> roles (the names seen in public ShareGPT-style sets).
SHAREGPT_ROLES = {"human": "user", "user": "user", "gpt": "assistant", "assistant": "assistant",
                  "chatgpt": "assistant", "bot": "assistant", "model": "assistant",
                  "system": "system"}
IGNORE_INDEX = -100  # label of tokens without loss (torch's cross-entropy ignore_index)

Messages = list[dict[str, str]]


def detect_format(columns: list[str], name: str = "The data") -> str:
    """The chat format of a table with `columns`, or TrainingDataError naming what is read."""
    cols = set(columns)
    if "messages" in cols:
        return MESSAGES
    if "conversations" in cols:
        return SHAREGPT
    if {"instruction", "output"} <= cols:
        return ALPACA
    if {"prompt", "completion"} <= cols:
        return PROMPT_COMPLETION
    raise TrainingDataError(
        f"{name} is not chat data in a known format; its columns are {', '.join(columns)}. "
        f"Use Alpaca (instruction, input, output), ShareGPT (conversations with from/value), "
        f"OpenAI messages (messages with role/content) or prompt/completion columns.")


def _text(value: Any, where: str, what: str, allow_empty: bool = False) -> str:
    if value is None and allow_empty:
        return ""
    if not isinstance(value, str):
        raise TrainingDataError(f"{where}: {what} is {type(value).__name__}, not text. Each "
                                f"turn's content must be a string.")
    if not value.strip() and not allow_empty:
        raise TrainingDataError(f"{where}: {what} is empty. Fill it or drop the row.")
    return value


def _turns(value: Any, where: str, role_key: str, content_key: str,
           names: dict[str, str] | None) -> Messages:
    if not isinstance(value, (list, tuple)):
        raise TrainingDataError(f"{where}: the conversation is {type(value).__name__}, not a "
                                f"list of turns.")
    out: Messages = []
    for k, turn in enumerate(value, start=1):
        if not isinstance(turn, dict) or role_key not in turn or content_key not in turn:
            raise TrainingDataError(f"{where}: turn {k} is not an object with '{role_key}' and "
                                    f"'{content_key}'.")
        raw = turn[role_key]
        role = names.get(str(raw).lower()) if names is not None else raw
        if role not in ROLES:
            known = ", ".join(sorted(names)) if names is not None else ", ".join(ROLES)
            raise TrainingDataError(f"{where}: turn {k} has the unknown role '{raw}'. Use one "
                                    f"of {known}.")
        out.append({"role": role, "content": _text(turn[content_key], where,
                                                   f"turn {k}'s {content_key}")})
    return out


def to_messages(row: dict, fmt: str, where: str) -> Messages:
    """One row of `fmt` as checked conversational messages (system?, user, assistant, ...)."""
    if fmt == MESSAGES:
        messages = _turns(row["messages"], where, "role", "content", None)
    elif fmt == SHAREGPT:
        messages = _turns(row["conversations"], where, "from", "value", SHAREGPT_ROLES)
    elif fmt == ALPACA:
        instruction = _text(row.get("instruction"), where, "instruction")
        extra = _text(row.get("input"), where, "input", allow_empty=True)
        system = _text(row.get("system"), where, "system", allow_empty=True)
        messages = ([{"role": "system", "content": system}] if system.strip() else []) + [
            {"role": "user", "content": f"{instruction}\n\n{extra}" if extra.strip()
             else instruction},
            {"role": "assistant", "content": _text(row.get("output"), where, "output")}]
    else:
        prompt, completion = row["prompt"], row["completion"]
        if isinstance(prompt, list) and isinstance(completion, list):
            messages = (_turns(prompt, where, "role", "content", None)
                        + _turns(completion, where, "role", "content", None))
        else:
            messages = [{"role": "user", "content": _text(prompt, where, "prompt")},
                        {"role": "assistant", "content": _text(completion, where, "completion")}]
    check_turns(messages, where)
    return messages


def check_turns(messages: Messages, where: str) -> None:
    """Raise unless: system only first, then user and assistant alternating from user."""
    if not messages:
        raise TrainingDataError(f"{where} has no turns. Drop the row.")
    expected = "user"
    for k, message in enumerate(messages, start=1):
        role = message["role"]
        if role == "system":
            if k != 1:
                raise TrainingDataError(f"{where}: turn {k} is a system turn after the start; "
                                        f"a system message may only open the conversation.")
            continue
        if role != expected:
            before = messages[k - 2]["role"] if k > 1 else "the start"
            raise TrainingDataError(
                f"{where}: turn {k} is a {role} turn after {before}; turns must alternate "
                f"user, assistant, user, ... (starting with user). Merge or drop turns.")
        expected = "assistant" if role == "user" else "user"
    if not any(m["role"] == "assistant" for m in messages):
        raise TrainingDataError(f"{where} has no assistant turn, so there is nothing to learn "
                                f"from it. Add the answer or drop the row.")


# -- rendering and the loss mask -----------------------------------------------------------

def _render(tokenizer: Any, template: str, messages: Messages, prompt: bool) -> str:
    return tokenizer.apply_chat_template(messages, chat_template=template, tokenize=False,
                                         add_generation_prompt=prompt)


def make_encoder(tokenizer: Any, template: str) -> Callable[[Messages, str], tuple]:
    """A function (messages, where) -> (input_ids, assistant_mask) for `template`.

    Which tokens belong to the assistant is found in one of three ways, the first that applies:
    1. the template has {% generation %} markers (our standard templates do): transformers'
       own return_assistant_tokens_mask, the mask TRL's assistant_only_loss uses;
    2. TRL knows a marked "training" variant of this exact template (Llama 3, Qwen, Gemma,
       Phi, ... : trl.chat_template_utils.get_training_chat_template): the mask from that
       variant, while the run keeps and saves the model's original template;
    3. otherwise, by rendering prefixes: the assistant's turn i spans the characters between
       the render of messages[:i] with the generation prompt and the render of messages[:i+1].
       That works for any template that renders a conversation's start the same whether or
       not more turns follow, and is checked per row; TRL would refuse such a template.
    """
    if not getattr(tokenizer, "is_fast", False):
        raise TrainingDataError(
            "Chat fine-tuning needs a fast tokenizer (tokenizer.json) to find the assistant's "
            "tokens; this checkpoint has only a slow one. Save it with a fast tokenizer first.")
    marked = template if has_generation_markers(template) else _trl_training_template(
        tokenizer, template)
    if marked is not None:
        def by_markers(messages: Messages, where: str) -> tuple[list[int], list[int]]:
            try:
                out = tokenizer.apply_chat_template(
                    messages, chat_template=marked, tokenize=True, return_dict=True,
                    return_assistant_tokens_mask=True)
            except Exception as e:  # jinja2 errors, raise_exception() in templates, TypeError
                raise _render_error(where, e) from None
            return list(out["input_ids"]), list(out["assistant_masks"])

        return by_markers

    def by_prefixes(messages: Messages, where: str) -> tuple[list[int], list[int]]:
        try:
            full = _render(tokenizer, template, messages, False)
            spans = []
            for i, message in enumerate(messages):
                if message["role"] != "assistant":
                    continue
                before = _render(tokenizer, template, messages[:i], True)
                upto = _render(tokenizer, template, messages[:i + 1], False)
                if not (upto.startswith(before) and full.startswith(upto)):
                    raise TrainingDataError(
                        f"{where}: the chat template renders the start of this conversation "
                        f"differently once more turns follow, so the assistant's tokens cannot "
                        f"be found. Choose a standard chat template (chat_template: chatml).")
                # The turn's trailing newline belongs to the layout, not to the answer (as in
                # the marked templates).
                spans.append((len(before), max(len(before), len(upto.rstrip("\n")))))
        except TrainingDataError:
            raise
        except Exception as e:
            raise _render_error(where, e) from None
        enc = tokenizer(full, add_special_tokens=False, return_offsets_mapping=True)
        mask = [int(any(a <= s < b for a, b in spans)) for s, _ in enc["offset_mapping"]]
        return list(enc["input_ids"]), mask

    return by_prefixes


def _trl_training_template(tokenizer: Any, template: str) -> str | None:
    """TRL's marked variant of `template` when it knows one, else None."""
    try:
        from trl.chat_template_utils import get_training_chat_template
    except ImportError:
        return None
    saved = tokenizer.chat_template
    tokenizer.chat_template = template  # TRL reads the template from the tokenizer
    try:
        patched = get_training_chat_template(tokenizer)
    except Exception:  # ValueError: "patching is not supported for this template"
        return None
    finally:
        tokenizer.chat_template = saved
    return patched if patched and has_generation_markers(patched) else None


def _render_error(where: str, error: Exception) -> TrainingDataError:
    return TrainingDataError(
        f"{where}: the chat template cannot render this row ({type(error).__name__}: {error}). "
        f"Fix the row, or choose another chat template (chat_template: chatml, zephyr or "
        f"plain).")


# -- the whole data set ---------------------------------------------------------------------

@dataclass
class ChatRows:
    """Conversations of one file, checked, with their encodings (untruncated)."""

    name: str
    fmt: str
    messages: list[Messages]
    input_ids: list[list[int]]
    masks: list[list[int]]


def load_chat_rows(path: str | Path, tokenizer: Any, template: str) -> ChatRows:
    """Read, check and encode every row of a chat file (errors name the row)."""
    from workbench.core.training.data import load_table

    table = load_table(path)
    name = Path(path).name
    fmt = detect_format(list(table.column_names), name)
    encode = make_encoder(tokenizer, template)
    messages, ids, masks = [], [], []
    for i, row in enumerate(table):
        where = f"{name} row {i + 1}"
        conversation = to_messages(row, fmt, where)
        row_ids, row_mask = encode(conversation, where)
        if not any(row_mask):
            raise TrainingDataError(
                f"{where}: no token of the assistant's answer was found after the chat "
                f"template; the template may drop assistant turns. Choose a standard chat "
                f"template (chat_template: chatml).")
        messages.append(conversation)
        ids.append(row_ids)
        masks.append(row_mask)
    return ChatRows(name, fmt, messages, ids, masks)


def labels_for(ids: list[int], mask: list[int], max_length: int) -> tuple[list[int], list[int]]:
    """(input_ids, labels) cut to max_length; labels are -100 outside the assistant's tokens."""
    ids, mask = ids[:max_length], mask[:max_length]
    return ids, [t if m else IGNORE_INDEX for t, m in zip(ids, mask, strict=True)]


@dataclass
class ChatSplit:
    """Train/eval conversations (indices into the rows) and what the preflight reports."""

    train: ChatRows
    train_rows: list[int]
    eval: ChatRows | None
    eval_rows: list[int]
    template: str
    template_name: str
    notes: list[str] = field(default_factory=list)

    def truncated(self, max_length: int) -> tuple[int, int]:
        """(training examples longer than max_length, those of them left with no answer)."""
        long = [i for i in self.train_rows if len(self.train.input_ids[i]) > max_length]
        empty = sum(not any(self.train.masks[i][:max_length]) for i in long)
        return len(long), empty


def load_chat_split(spec: TrainSpec, tokenizer: Any) -> ChatSplit:
    """Set the run's chat template on `tokenizer`, then read, check and split the data."""
    template, template_name = resolve_template(tokenizer, spec.chat_template)
    # The tokenizer carries the template from here on, so the run's saved tokenizer (final/ and
    # every checkpoint) chats the way the model was trained.
    tokenizer.chat_template = template
    train = load_chat_rows(spec.train_file, tokenizer, template)
    rows = list(range(len(train.messages)))
    evalrows: ChatRows | None = None
    eval_rows: list[int] = []
    if spec.eval_file:
        evalrows = load_chat_rows(spec.eval_file, tokenizer, template)
        eval_rows = list(range(len(evalrows.messages)))
    elif spec.eval_split > 0 and len(rows) >= 2:
        import datasets

        parts = datasets.Dataset.from_dict({"row": rows}).train_test_split(
            test_size=spec.eval_split, seed=spec.seed)
        rows, eval_rows, evalrows = list(parts["train"]["row"]), list(parts["test"]["row"]), train
    split = ChatSplit(train, rows, evalrows, eval_rows, template, template_name)
    long, empty = split.truncated(spec.max_length)
    split.notes.append(f"chat data: {train.fmt} format, {len(rows)} training and {len(eval_rows)} "
                       f"eval conversations, rendered with {template_name}")
    if long:
        lost = f"; {empty} of them keep no answer token and are skipped" if empty else ""
        split.notes.append(f"{long} of {len(rows)} training examples are longer than "
                           f"max_length {spec.max_length} tokens and will be truncated{lost}")
    return split


def prepare_chat_data(spec: TrainSpec, tokenizer: Any):
    """PreparedData for chat-sft: input_ids and labels (assistant tokens only), truncated."""
    import datasets

    from workbench.core.training.data import PreparedData

    split = load_chat_split(spec, tokenizer)

    def table(rows: ChatRows, which: list[int]):
        pairs = [labels_for(rows.input_ids[i], rows.masks[i], spec.max_length) for i in which]
        pairs = [(ids, labels) for ids, labels in pairs if any(t != IGNORE_INDEX for t in labels)]
        return datasets.Dataset.from_dict({"input_ids": [p[0] for p in pairs],
                                           "labels": [p[1] for p in pairs]})

    train = table(split.train, split.train_rows)
    if len(train) == 0:
        raise TrainingDataError(
            f"No training example keeps any answer token within max_length {spec.max_length}. "
            f"Raise max_length.")
    evalset = table(split.eval, split.eval_rows) if split.eval is not None and split.eval_rows \
        else None
    rows = len(train)
    if spec.packing:  # packed rows hold up to max_length tokens each
        rows = max(1, -(-sum(len(ids) for ids in train["input_ids"]) // spec.max_length))
    return PreparedData(train=train, eval=evalset if evalset is not None and len(evalset) else
                        None, label_names=[], num_train_rows=rows, notes=list(split.notes))


# -- the preview ----------------------------------------------------------------------------

@dataclass(frozen=True)
class ChatPreview:
    """One example as the model sees it: text pieces marked prompt, loss or cut (truncated)."""

    segments: list[tuple[str, str]]  # (text, "prompt" | "loss" | "cut")
    fmt: str
    template_name: str
    row: int  # 1-based row of the file
    num_rows: int
    num_tokens: int
    num_loss_tokens: int
    num_truncated: int  # training rows longer than max_length (whole file)


def preview_chat(spec: TrainSpec, tokenizer: Any, row: int = 1) -> ChatPreview:
    """Render data row `row` (1-based) with the run's template, the loss tokens marked."""
    template, template_name = resolve_template(tokenizer, spec.chat_template)
    tokenizer.chat_template = template
    rows = load_chat_rows(spec.train_file, tokenizer, template)
    index = min(max(1, row), len(rows.messages)) - 1
    ids, mask = rows.input_ids[index], rows.masks[index]
    kinds = ["cut" if j >= spec.max_length else "loss" if m else "prompt"
             for j, m in enumerate(mask)]
    segments: list[tuple[str, str]] = []
    start = 0
    for j in range(1, len(ids) + 1):
        if j == len(ids) or kinds[j] != kinds[start]:
            segments.append((tokenizer.decode(ids[start:j]), kinds[start]))
            start = j
    truncated = sum(len(x) > spec.max_length for x in rows.input_ids)
    return ChatPreview(segments, rows.fmt, template_name, index + 1, len(rows.messages),
                       len(ids), sum(1 for k in kinds if k == "loss"), truncated)


# -- fixed prompts for the before/after comparison --------------------------------------------

def eval_prompts(spec: TrainSpec, count: int) -> list[Messages]:
    """The first `count` eval conversations cut before their first assistant turn.

    The eval rows are the same as training's (same file or the same seeded split); with no
    eval data, the first training rows are used.
    """
    from workbench.core.training.data import load_table

    path, rows = spec.train_file, None
    table = load_table(spec.eval_file or spec.train_file)
    if spec.eval_file:
        path = spec.eval_file
    elif spec.eval_split > 0 and len(table) >= 2:
        import datasets

        parts = datasets.Dataset.from_dict({"row": list(range(len(table)))}).train_test_split(
            test_size=spec.eval_split, seed=spec.seed)
        rows = list(parts["test"]["row"])
    rows = list(range(len(table))) if rows is None else rows
    name = Path(path).name
    fmt = detect_format(list(table.column_names), name)
    prompts = []
    for i in rows[:count]:
        messages = to_messages(table[i], fmt, f"{name} row {i + 1}")
        first = next(k for k, m in enumerate(messages) if m["role"] == "assistant")
        prompts.append(messages[:first])
    return prompts
