"""A real `transformers serve` child process on a free loopback port, answering real HTTP."""

from __future__ import annotations

import shutil
import socket

import pytest

from tests.fixtures.training import tiny_model
from workbench.core.errors import WorkbenchError
from workbench.core.serve.server import ModelServer, chat, complete, free_port, port_in_use

CHAT_TEMPLATE = ("{% for m in messages %}{{ m['role'] }}: {{ m['content'] }}\n{% endfor %}"
                 "{% if add_generation_prompt %}assistant:{% endif %}")


@pytest.fixture(scope="module")
def chat_gpt2(tmp_path_factory):
    """The tiny GPT-2 with the MiniLM tokenizer and a chat template."""
    import transformers

    folder = tmp_path_factory.mktemp("serve") / "gpt2"
    shutil.copytree(tiny_model("gpt2"), folder)
    tokenizer = transformers.AutoTokenizer.from_pretrained(folder)
    tokenizer.chat_template = CHAT_TEMPLATE
    tokenizer.save_pretrained(folder)
    return folder


def test_server_answers_completions_and_chat(chat_gpt2):
    server = ModelServer(chat_gpt2, port=free_port())
    assert server.warnings == []
    with server:
        url = server.start(timeout=240)
        assert url == f"http://127.0.0.1:{server.port}/v1"
        assert port_in_use(server.port)
        text = complete(url, server.model_id, "a good day", max_tokens=4)
        assert isinstance(text, str) and text  # 4 tokens of a random model: any text
        reply = chat(url, server.model_id, "hello", max_tokens=3)
        assert isinstance(reply, str)
        with pytest.raises(WorkbenchError, match="already in use"):
            ModelServer(chat_gpt2, port=server.port)
        process = server.process
    assert process.poll() is not None  # stopped with the context
    assert not port_in_use(server.port)


def test_refusals_before_starting(chat_gpt2, tmp_path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        with pytest.raises(WorkbenchError, match="already in use"):
            ModelServer(chat_gpt2, port=busy.getsockname()[1])
        from workbench.cli import main

        assert main(["serve", str(chat_gpt2), "--port", str(busy.getsockname()[1]),
                     "--json"]) == 1
    with pytest.raises(WorkbenchError, match="causal"):
        ModelServer(tiny_model("bert"))
    shutil.copytree(tiny_model("gpt2"), tmp_path / "plain")
    assert "chat template" in ModelServer(tmp_path / "plain", port=free_port()).warnings[0]
