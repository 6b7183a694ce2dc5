"""The HTTP chat client against a real `transformers serve` child on a free loopback port."""

from __future__ import annotations

import threading

import pytest

from tests.core.serve.test_serve import chat_gpt2  # noqa: F401  (the fixture, reused)
from workbench.core.chat.client import ServerChat
from workbench.core.chat.settings import ChatSettings
from workbench.core.errors import WorkbenchError
from workbench.core.serve.server import ModelServer, free_port


@pytest.fixture(scope="module")
def server(chat_gpt2):  # noqa: F811
    with ModelServer(chat_gpt2, port=free_port()) as server:
        server.start(timeout=240)
        yield server


def test_streamed_deltas_arrive(server):
    chat = ServerChat(server.url, server.model_id)
    pieces: list[str] = []
    reply = chat.reply([{"role": "user", "content": "hello"}, ],
                       ChatSettings(temperature=0, max_new_tokens=8), pieces.append)
    assert len(pieces) >= 2 and "".join(pieces) == reply.text
    assert reply.finish_reason == "length" and reply.tokens == 8
    hot = ChatSettings(temperature=1.5, max_new_tokens=8)
    samples = [chat.reply([{"role": "user", "content": "hello"}], hot, lambda t: None)
               for _ in range(2)]
    assert samples[0].text != samples[1].text  # sampling really happens on the server
    assert [r.tokens for r in samples] == [8, 8]  # and max new tokens still holds
    plain = ServerChat(server.url, server.model_id, chat=False)
    text = plain.reply([{"role": "user", "content": "a good day"}],
                       ChatSettings(temperature=0, max_new_tokens=4), lambda t: None)
    assert text.text and "plain text" in text.notes[0]


def test_stop_closes_the_stream(server):
    chat = ServerChat(server.url, server.model_id)
    cancel = threading.Event()
    pieces: list[str] = []

    def emit(text: str) -> None:
        pieces.append(text)
        if len(pieces) == 2:
            cancel.set()

    reply = chat.reply([{"role": "user", "content": "hello"}],
                       ChatSettings(temperature=0, max_new_tokens=40), emit, cancel)
    assert reply.stopped and len(pieces) == 2


def test_http_error_is_a_message(server):
    chat = ServerChat(server.url, "no-such-model-folder")
    with pytest.raises(WorkbenchError, match="server"):
        chat.reply([{"role": "user", "content": "hello"}], ChatSettings(max_new_tokens=2),
                   lambda t: None)


def test_connection_refused_is_a_message():
    chat = ServerChat(f"http://127.0.0.1:{free_port()}/v1", "m")
    with pytest.raises(WorkbenchError, match="connection refused"):
        chat.reply([{"role": "user", "content": "hi"}], ChatSettings(), lambda t: None)
    with pytest.raises(WorkbenchError, match="http://"):
        ServerChat("ftp://x/v1", "m")


def _long_history(turns: int) -> list[dict[str, str]]:
    history = [{"role": "system", "content": "be brief"}]
    for i in range(turns):
        history += [{"role": "user", "content": f"question {i} about a good day and a film"},
                    {"role": "assistant", "content": f"answer {i} about a lovely song"}]
    return [*history, {"role": "user", "content": "and the last one?"}]


def test_an_over_long_history_is_cut_like_the_local_chat(server, chat_gpt2):  # noqa: F811
    """The served GPT-2 takes 64 positions: a 10-turn history is cut to fit before it is sent
    (the server would refuse it), with the same messages the local chat keeps."""
    import transformers

    from workbench.core.chat.local import fit_messages

    history = _long_history(10)
    settings = ChatSettings(temperature=0, max_new_tokens=8)
    tokenizer = transformers.AutoTokenizer.from_pretrained(chat_gpt2)
    assert len(tokenizer.apply_chat_template(history, add_generation_prompt=True,
                                             return_dict=False)) > 64
    whole = ServerChat(server.url, server.model_id)
    whole.model_dir = None  # as before: the whole history goes to the server
    with pytest.raises(WorkbenchError, match="server"):
        whole.reply(history, settings, lambda t: None)

    chat = ServerChat(server.url, server.model_id)
    sent, _, notes = chat.fit(history, settings)
    kept, ids, local_notes = fit_messages(tokenizer, history, 64 - 8)
    assert sent == kept and notes == local_notes
    assert sent[0]["role"] == "system" and sent[-1] == history[-1] and len(sent) < len(history)
    assert len(ids) <= 64 - 8
    reply = chat.reply(history, settings, lambda t: None)
    assert reply.finish_reason == "length" and reply.tokens == 8  # the server answered
    assert any("oldest" in n for n in reply.notes)
    short = chat.reply(history[:1] + history[-1:], settings, lambda t: None)
    assert not any("oldest" in n for n in short.notes)  # nothing cut, nothing said


def test_a_reply_longer_than_the_context_is_lowered(server):
    chat = ServerChat(server.url, server.model_id)
    _, settings, notes = chat.fit([{"role": "user", "content": "hi"}],
                                  ChatSettings(max_new_tokens=100))
    assert settings.max_new_tokens == 32 and "lowered to 32" in notes[0]
