"""Chat with a causal LM in this process: the tokenizer's chat template, streamed generation,
a stop that really stops, and history truncated to the model's context.

Generation runs in the caller's thread (a GUI worker); text pieces reach `emit` as the
tokenizer decodes them (transformers' TextStreamer, which holds back half words), and a
StoppingCriteria polls the cancel event between tokens.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from workbench.core.chat.settings import ChatReply, ChatSettings, Message, check_messages
from workbench.core.errors import WorkbenchError

# One load at a time in the whole process: from_pretrained builds models under a patched
# meta-device init, so two loads in two threads corrupt each other ("Cannot copy out of meta
# tensor"), as base and fine-tuned loading side by side showed.
_LOAD_LOCK = threading.Lock()
_HUGE = 1_000_000  # tokenizers without a limit report model_max_length as ~1e30
NO_TEMPLATE_NOTE = ("This tokenizer has no chat template: the model continues your last "
                    "message as plain text, without the earlier turns.")


def context_length(model: Any, tokenizer: Any) -> int | None:
    """The most tokens the model takes at once (config positions, tokenizer limit), if known."""
    return config_context_length(model.config, tokenizer)


def config_context_length(config: Any, tokenizer: Any) -> int | None:
    """context_length from a config alone (a served model whose weights live elsewhere)."""
    sizes = [getattr(config, name, None) for name in
             ("max_position_embeddings", "n_positions", "seq_length")]
    sizes.append(getattr(tokenizer, "model_max_length", None))
    known = [int(s) for s in sizes if isinstance(s, int) and 0 < s < _HUGE]
    return min(known) if known else None


def has_chat_template(tokenizer: Any) -> bool:
    return bool(getattr(tokenizer, "chat_template", None))


def reply_budget(context: int | None, max_new_tokens: int) -> tuple[int, tuple[str, ...]]:
    """Max new tokens that fit the context (halved when it would take all of it), and a note."""
    if context is not None and max_new_tokens >= context:
        lowered = max(1, context // 2)
        return lowered, (f"Max new tokens lowered to {lowered}: the model's context is "
                         f"{context} tokens.",)
    return max_new_tokens, ()


def render_prompt(tokenizer: Any, messages: list[Message], budget: int | None
                  ) -> tuple[list[int], tuple[str, ...]]:
    """Token ids of `messages` through the chat template (with the generation prompt), the
    oldest turns dropped until they fit `budget` tokens; also the notes saying what was done."""
    check_messages(messages)
    if not has_chat_template(tokenizer):
        ids = tokenizer(messages[-1]["content"])["input_ids"]
        return fit_alone(ids, budget), (NO_TEMPLATE_NOTE,)
    _, ids, notes = fit_messages(tokenizer, messages, budget)
    return ids, notes


def fit_messages(tokenizer: Any, messages: list[Message], budget: int | None
                 ) -> tuple[list[Message], list[int], tuple[str, ...]]:
    """The messages kept (system prompt, then the newest turns, starting with a user turn)
    so that their chat-template ids fit `budget` tokens; those ids; and the notes."""
    check_messages(messages)
    system = [m for m in messages[:1] if m["role"] == "system"]
    turns = list(messages[len(system):])
    dropped = 0
    while True:
        ids = _template_ids(tokenizer, system + turns)
        if budget is None or len(ids) <= budget or len(turns) == 1:
            break
        turns.pop(0)  # the oldest turn; keep the conversation starting with the user
        dropped += 1
        while len(turns) > 1 and turns[0]["role"] != "user":
            turns.pop(0)
            dropped += 1
    if budget is not None and len(ids) > budget:
        raise WorkbenchError(f"Your message takes {len(ids)} tokens with the chat template; the "
                             f"model's context leaves {budget} beside the reply. Shorten it or "
                             f"lower max new tokens.")
    notes = (f"Dropped the {dropped} oldest message{'s' if dropped != 1 else ''} to fit the "
             f"model's context.",) if dropped else ()
    return system + turns, ids, notes


def _template_ids(tokenizer: Any, messages: list[Message]) -> list[int]:
    try:
        text = tokenizer.apply_chat_template(messages, add_generation_prompt=True,
                                             tokenize=False)
    except Exception as e:  # jinja errors: a template that cannot render this conversation
        raise WorkbenchError(f"The chat template cannot render this conversation: {e}") from None
    # the template writes the special tokens itself (bos, role markers)
    return list(tokenizer(text, add_special_tokens=False)["input_ids"])


def fit_alone(ids: list[int], budget: int | None) -> list[int]:
    if budget is not None and len(ids) > budget:
        raise WorkbenchError(f"Your message takes {len(ids)} tokens; the model's context leaves "
                             f"{budget} beside the reply. Shorten it or lower max new tokens.")
    return list(ids)


def generate_reply(model: Any, tokenizer: Any, messages: list[Message], settings: ChatSettings,
                   emit: Callable[[str], None], cancel: threading.Event | None = None
                   ) -> ChatReply:
    """Answer the conversation, streaming decoded text pieces through `emit`."""
    import torch
    from transformers import StoppingCriteria, StoppingCriteriaList, TextStreamer

    cancel = cancel if cancel is not None else threading.Event()
    context = context_length(model, tokenizer)
    max_new, lowered = reply_budget(context, settings.max_new_tokens)
    notes: list[str] = list(lowered)
    ids, render_notes = render_prompt(tokenizer, messages,
                                      None if context is None else context - max_new)
    notes += render_notes

    class Streamer(TextStreamer):
        def on_finalized_text(self, text: str, stream_end: bool = False) -> None:
            if text:
                emit(text)

    class StopFlag(StoppingCriteria):
        def __call__(self, input_ids, scores, **kwargs):
            return torch.full((input_ids.shape[0],), cancel.is_set(), dtype=torch.bool,
                              device=input_ids.device)

    streamer = Streamer(tokenizer, skip_prompt=True, skip_special_tokens=True)
    device = next(model.parameters()).device
    input_ids = torch.tensor([ids], device=device)
    options: dict[str, Any] = {"do_sample": not settings.greedy, "max_new_tokens": max_new}
    if not settings.greedy:
        options.update(temperature=settings.temperature, top_p=settings.top_p)
    else:
        options.update(temperature=None, top_p=None, top_k=None)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else \
        tokenizer.eos_token_id
    with torch.inference_mode():
        output = model.generate(input_ids, attention_mask=torch.ones_like(input_ids),
                                streamer=streamer, pad_token_id=pad,
                                stopping_criteria=StoppingCriteriaList([StopFlag()]),
                                **options)
    new = output[0, input_ids.shape[1]:]
    text = tokenizer.decode(new, skip_special_tokens=True)
    stopped = cancel.is_set()
    reason = "stopped" if stopped else "length" if len(new) >= max_new else "stop"
    return ChatReply(text, len(new), stopped, reason, tuple(notes))


class LocalChat:
    """A model folder (full weights or a LoRA adapter) loaded on first use, kept for the next
    turns. `tokenizer_dir` lends another folder's tokenizer (a base model without a chat
    template chatting with its fine-tune's template)."""

    def __init__(self, model_dir: str | Path, title: str = "", tokenizer_dir: str | Path | None
                 = None, device: str = "cpu") -> None:
        self.model_dir = Path(model_dir)
        self.tokenizer_dir = Path(tokenizer_dir) if tokenizer_dir else self.model_dir
        self.title = title or self.model_dir.name
        self.device = device
        self._loaded: tuple[Any, Any] | None = None

    def load(self) -> tuple[Any, Any]:
        """(model, tokenizer), loaded once (takes seconds: call it in a worker)."""
        with _LOAD_LOCK:
            if self._loaded is None:
                from workbench.core.model.loading import load_tokenizer
                from workbench.core.training.evaluate import load_trained_model

                tokenizer = load_tokenizer(self.tokenizer_dir)
                model = load_trained_model(self.model_dir, "causal-lm").to(self.device)
                model.eval()
                self._loaded = (model, tokenizer)
            return self._loaded

    def reply(self, messages: list[Message], settings: ChatSettings,
              emit: Callable[[str], None], cancel: threading.Event | None = None) -> ChatReply:
        model, tokenizer = self.load()
        return generate_reply(model, tokenizer, messages, settings, emit, cancel)

    def abort(self) -> None:
        """Nothing to close: the cancel event stops generation at the next token."""
