"""Local chat generation on a tiny Llama with a ChatML template: streaming, stop, truncation."""

from __future__ import annotations

import threading

import pytest

from tests.fixtures.chat import tiny_chat_llama
from workbench.core.chat.local import NO_TEMPLATE_NOTE, LocalChat, render_prompt
from workbench.core.chat.settings import ChatSettings
from workbench.core.errors import WorkbenchError


@pytest.fixture(scope="module")
def llama():
    return LocalChat(tiny_chat_llama())


def test_reply_streams_pieces_that_make_the_answer(llama):
    pieces: list[str] = []
    reply = llama.reply([{"role": "user", "content": "hello there"}],
                        ChatSettings(temperature=0, max_new_tokens=12), pieces.append)
    assert reply.tokens == 12 and reply.finish_reason == "length" and not reply.stopped
    assert len(pieces) > 1  # streamed in several pieces, not once at the end
    assert "".join(pieces).strip() == reply.text.strip()
    again = llama.reply([{"role": "user", "content": "hello there"}],
                        ChatSettings(temperature=0, max_new_tokens=12), lambda _t: None)
    assert again.text == reply.text  # temperature 0 is greedy: the same answer


def test_sampling_settings_are_used_and_bounded(llama):
    reply = llama.reply([{"role": "user", "content": "a story"}],
                        ChatSettings(temperature=1.0, top_p=0.5, max_new_tokens=5), lambda t: None)
    assert reply.tokens == 5
    for bad in (dict(temperature=-1), dict(top_p=0), dict(max_new_tokens=0),
                dict(max_new_tokens=100_000)):
        with pytest.raises(WorkbenchError):
            ChatSettings(**bad)


def test_stop_really_stops_generation(llama):
    cancel = threading.Event()
    pieces: list[str] = []

    def emit(text: str) -> None:
        pieces.append(text)
        if len(pieces) == 3:
            cancel.set()  # as the GUI's Stop does, from the streaming callback's side

    reply = llama.reply([{"role": "user", "content": "go on"}],
                        ChatSettings(temperature=0, max_new_tokens=200), emit, cancel)
    assert reply.stopped and reply.finish_reason == "stopped"
    assert reply.tokens < 20  # far fewer than the 200 asked for


def test_history_is_truncated_from_the_oldest_turn():
    import transformers

    tokenizer = transformers.AutoTokenizer.from_pretrained(tiny_chat_llama())
    long = " ".join(["word"] * 40)
    messages = [{"role": "system", "content": "be brief"}]
    for i in range(4):
        messages += [{"role": "user", "content": f"question {i} {long}"},
                     {"role": "assistant", "content": f"answer {i} {long}"}]
    messages.append({"role": "user", "content": "last question"})
    full, notes = render_prompt(tokenizer, messages, None)
    assert notes == ()
    ids, notes = render_prompt(tokenizer, messages, 120)
    assert len(ids) <= 120 < len(full)
    assert "oldest" in notes[0]
    text = tokenizer.decode(ids)
    assert "be brief" in text and "last question" in text  # system and last turn kept
    assert "question 0" not in text
    with pytest.raises(WorkbenchError, match="Shorten it"):
        render_prompt(tokenizer, [{"role": "user", "content": long * 5}], 50)


def test_long_reply_request_is_bounded_by_the_context():
    chat = LocalChat(tiny_chat_llama(positions=64))
    reply = chat.reply([{"role": "user", "content": "hi"}],
                       ChatSettings(temperature=0, max_new_tokens=500), lambda t: None)
    assert reply.tokens <= 32 and "lowered to 32" in reply.notes[0]


def test_without_a_template_it_continues_plain_text(tmp_path):
    import shutil

    from tests.fixtures.training import tiny_model

    folder = tmp_path / "plain"
    shutil.copytree(tiny_model("gpt2"), folder)
    reply = LocalChat(folder).reply([{"role": "user", "content": "a good day"}],
                                    ChatSettings(temperature=0, max_new_tokens=4), lambda t: None)
    assert reply.notes == (NO_TEMPLATE_NOTE,) and reply.tokens == 4
    with pytest.raises(WorkbenchError, match="end with a user"):
        LocalChat(folder).reply([{"role": "assistant", "content": "x"}], ChatSettings(),
                                lambda t: None)
