"""What one chat turn needs besides the messages: sampling settings and the reply it returns."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from workbench.core.errors import WorkbenchError

MAX_NEW_TOKENS = 4096  # the most one reply may generate (a bound, not a default)
ROLES = ("system", "user", "assistant")

Message = dict[str, str]  # {"role": ..., "content": ...}, the OpenAI / chat-template shape


@dataclass(frozen=True)
class ChatSettings:
    """Sampling of one reply; temperature 0 means greedy decoding."""

    temperature: float = 0.7
    top_p: float = 0.9
    max_new_tokens: int = 128

    def __post_init__(self) -> None:
        if not 0.0 <= self.temperature <= 5.0:
            raise WorkbenchError(f"Temperature {self.temperature} is outside 0-5 "
                                 f"(0 = greedy).")
        if not 0.0 < self.top_p <= 1.0:
            raise WorkbenchError(f"Top-p {self.top_p} must be in (0, 1].")
        if not 1 <= self.max_new_tokens <= MAX_NEW_TOKENS:
            raise WorkbenchError(f"Max new tokens {self.max_new_tokens} must be between 1 and "
                                 f"{MAX_NEW_TOKENS}.")

    @property
    def greedy(self) -> bool:
        return self.temperature == 0.0


@dataclass(frozen=True)
class ChatReply:
    """How a reply ended: its text, tokens generated, whether Stop cut it, and notes."""

    text: str
    tokens: int = 0
    stopped: bool = False
    finish_reason: str = ""
    notes: tuple[str, ...] = field(default_factory=tuple)


class ChatBackend(Protocol):
    """Something that answers a conversation, streaming text pieces through `emit`."""

    title: str

    def reply(self, messages: list[Message], settings: ChatSettings,
              emit: Callable[[str], None], cancel=None) -> ChatReply: ...

    def abort(self) -> None: ...


def check_messages(messages: list[Message]) -> None:
    """Refuse an empty conversation, unknown roles, or one that does not end with the user."""
    if not messages:
        raise WorkbenchError("Type a message first.")
    for i, m in enumerate(messages):
        if m.get("role") not in ROLES or not isinstance(m.get("content"), str):
            raise WorkbenchError(f"Message {i + 1} needs a role ({', '.join(ROLES)}) and text.")
    if messages[-1]["role"] != "user":
        raise WorkbenchError("The conversation must end with a user message to answer.")
