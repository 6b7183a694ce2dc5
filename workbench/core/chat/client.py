"""An OpenAI-compatible chat client for a local server (`transformers serve` on 127.0.0.1):
POST /v1/chat/completions with stream=true, read the server-sent events as they arrive.

The standard library only (http.client). Stop closes the connection; the server sees the
disconnect and stops generating.
"""

from __future__ import annotations

import http.client
import json
import socket
import threading
import urllib.parse
from collections.abc import Callable
from pathlib import Path
from typing import Any

from workbench.core.chat.settings import ChatReply, ChatSettings, Message, check_messages
from workbench.core.errors import WorkbenchError

PLAIN_NOTE = ("The server's tokenizer has no chat template: it continues your last message "
              "as plain text (/v1/completions), without the earlier turns.")


class ServerChat:
    """Chat with the model `model` served at `base_url` (e.g. http://127.0.0.1:8000/v1).

    `chat=False` uses /v1/completions with the last message as the prompt (a model whose
    tokenizer has no chat template).

    The history is cut to the model's context here, as the local chat does (oldest turns
    dropped, the system prompt kept), with the served folder's tokenizer and config:
    `model_dir`, or `model` itself when it names a local folder (`transformers serve` takes
    the folder's path as the model name). The server would refuse an over-long prompt."""

    def __init__(self, base_url: str, model: str, title: str = "", chat: bool = True,
                 timeout: float = 60.0, model_dir: str | Path | None = None) -> None:
        parts = urllib.parse.urlsplit(base_url)
        if parts.scheme != "http" or not parts.hostname:
            raise WorkbenchError(f"{base_url} is not an http:// server address.")
        self.host, self.port = parts.hostname, parts.port or 80
        self.path = parts.path.rstrip("/")
        self.base_url, self.model, self.chat = base_url.rstrip("/"), model, chat
        self.title = title or f"Server {self.host}:{self.port}"
        self.timeout = timeout
        self._connection: http.client.HTTPConnection | None = None
        self._lock = threading.Lock()
        folder = Path(model_dir) if model_dir else Path(model)
        self.model_dir: Path | None = folder if folder.is_dir() else None
        self._limits: tuple[Any, int | None] | None = None  # (tokenizer, context), read once

    def _tokenizer_and_context(self) -> tuple[Any, int | None]:
        """The served model's tokenizer and context length, read from its folder once."""
        if self._limits is None:
            import transformers

            from workbench.core.chat.local import config_context_length
            from workbench.core.model.loading import load_tokenizer

            tokenizer = load_tokenizer(self.model_dir)
            try:
                config = transformers.AutoConfig.from_pretrained(self.model_dir)
            except (OSError, ValueError) as e:
                raise WorkbenchError(f"Could not read the config of {self.model_dir} to fit the "
                                     f"history to its context: {e}") from None
            self._limits = (tokenizer, config_context_length(config, tokenizer))
        return self._limits

    def fit(self, messages: list[Message], settings: ChatSettings
            ) -> tuple[list[Message], ChatSettings, tuple[str, ...]]:
        """The messages and settings to send: the history cut to the served model's context
        the way the local chat cuts it, and max new tokens lowered if it takes it all."""
        check_messages(messages)
        if self.model_dir is None:  # a server elsewhere: it alone knows its model's limits
            return messages, settings, ()
        from workbench.core.chat.local import fit_alone, fit_messages, reply_budget

        tokenizer, context = self._tokenizer_and_context()
        max_new, notes = reply_budget(context, settings.max_new_tokens)
        if max_new != settings.max_new_tokens:
            settings = ChatSettings(settings.temperature, settings.top_p, max_new)
        budget = None if context is None else context - max_new
        if self.chat:
            messages, _, cut = fit_messages(tokenizer, messages, budget)
            notes += cut
        else:
            fit_alone(tokenizer(messages[-1]["content"])["input_ids"], budget)
        return messages, settings, notes

    def _body(self, messages: list[Message], settings: ChatSettings) -> tuple[str, dict]:
        # include_usage: the OpenAI API sends the token count of a stream only when asked, and
        # `transformers serve` follows it from 5.25 (5.24 sent it always, ignoring the field)
        body: dict = {"model": self.model, "stream": True,
                      "stream_options": {"include_usage": True},
                      "max_tokens": settings.max_new_tokens,
                      "temperature": settings.temperature}
        if not settings.greedy:
            body["top_p"] = settings.top_p
            # `transformers serve` keeps the model's do_sample (False unless its
            # generation_config.json says otherwise) and would answer greedily; its own
            # `generation_config` field turns sampling on (unset fields still come from the
            # model's config). Other OpenAI-style servers ignore the field.
            body["generation_config"] = json.dumps({
                "do_sample": True, "temperature": settings.temperature,
                "top_p": settings.top_p, "max_new_tokens": settings.max_new_tokens})
        if self.chat:
            body["messages"] = messages
            return f"{self.path}/chat/completions", body
        body["prompt"] = messages[-1]["content"]
        return f"{self.path}/completions", body

    def reply(self, messages: list[Message], settings: ChatSettings,
              emit: Callable[[str], None], cancel: threading.Event | None = None) -> ChatReply:
        messages, settings, notes = self.fit(messages, settings)
        cancel = cancel if cancel is not None else threading.Event()
        path, body = self._body(messages, settings)
        url = f"http://{self.host}:{self.port}{path}"
        connection = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        with self._lock:
            self._connection = connection
        pieces: list[str] = []
        reason, tokens = "", 0
        try:
            connection.request("POST", path, body=json.dumps(body).encode("utf-8"),
                               headers={"Content-Type": "application/json",
                                        "Accept": "text/event-stream"})
            response = connection.getresponse()
            if response.status != 200:
                detail = response.read(400).decode("utf-8", "replace").strip()
                raise WorkbenchError(f"The server answered {response.status} "
                                     f"{response.reason} to {url}: {detail}")
            while not cancel.is_set():
                line = response.readline()
                if not line:
                    break  # the stream ended
                event = _event(line)
                if event is None:
                    continue
                if event == "[DONE]":
                    break
                text, finish, used = _delta(event, self.chat)
                if text:
                    pieces.append(text)
                    emit(text)
                reason = finish or reason
                tokens = used or tokens
        except ConnectionRefusedError:
            raise WorkbenchError(f"Nothing answers at {self.base_url} (connection refused): "
                                 f"is the server running?") from None
        except TimeoutError:
            raise WorkbenchError(f"The server at {self.base_url} sent nothing for "
                                 f"{self.timeout:.0f} s; it may be overloaded or stuck.") from None
        except (OSError, http.client.HTTPException) as e:
            if not cancel.is_set():
                raise WorkbenchError(f"The connection to {self.base_url} failed: {e}") from None
        finally:
            with self._lock:
                self._connection = None
            connection.close()
        stopped = cancel.is_set()
        return ChatReply("".join(pieces), tokens, stopped, "stopped" if stopped else reason,
                         notes + (() if self.chat else (PLAIN_NOTE,)))

    def abort(self) -> None:
        """Close the connection of the reply in progress (from any thread): the read returns."""
        with self._lock:
            connection = self._connection
        sock = getattr(connection, "sock", None)
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


def _event(line: bytes) -> dict | str | None:
    """The JSON of one `data:` line of a server-sent event stream (None for other lines)."""
    text = line.decode("utf-8", "replace").strip()
    if not text.startswith("data:"):
        return None
    data = text[5:].strip()
    if data == "[DONE]":
        return data
    try:
        event = json.loads(data)
    except json.JSONDecodeError:
        raise WorkbenchError(f"The server sent something that is not JSON: {data[:120]}") \
            from None
    if isinstance(event, dict) and event.get("error"):
        raise WorkbenchError(f"The server failed while answering: {event['error']}")
    return event if isinstance(event, dict) else None


def _delta(event: dict, chat: bool) -> tuple[str, str, int]:
    """(new text, finish reason, completion tokens so far) of one streamed chunk."""
    choices = event.get("choices") or [{}]
    choice = choices[0] if isinstance(choices[0], dict) else {}
    if chat:
        text = (choice.get("delta") or {}).get("content") or ""
    else:
        text = choice.get("text") or ""
    usage = event.get("usage") or {}
    return str(text), str(choice.get("finish_reason") or ""), int(
        usage.get("completion_tokens") or 0)
