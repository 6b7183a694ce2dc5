"""Arguments a user gets wrong on every command: a device this machine lacks, an output place
that cannot be written, a path that does not exist, a model the command cannot use. Each is a
message naming what is wrong (exit status 1), never an "unexpected" error."""

from __future__ import annotations

import json

import pytest

from workbench.cli import main


def _error(capsys, *argv: str) -> str:
    assert main([*argv, "--json"]) == 1
    message = json.loads(capsys.readouterr().out)["error"]
    assert "unexpected" not in message.lower(), message
    return message


@pytest.fixture
def no_cuda():
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a CUDA GPU")


def test_a_device_this_machine_lacks_is_named_before_any_work(minilm_path, tmp_path, capsys,
                                                              no_cuda):
    data = tmp_path / "test.csv"
    data.write_text("text,label\na,0\n")
    commands = [
        ["attention", str(minilm_path), "--text", "hi", "--out", str(tmp_path / "a")],
        ["new", "bert", "--out", str(tmp_path / "n")],
        ["evaluate", str(minilm_path), "--task", "masked-lm", "--data", str(data)],
    ]
    for command in commands:
        assert "cuda is not available" in _error(capsys, *command, "--device", "cuda")
        assert "'tpu' is not cpu, mps or cuda:N" in _error(capsys, *command, "--device", "tpu")
        # and not as a training setting, which evaluate's device is not
        assert "Training setting" not in _error(capsys, *command, "--device", "cuda:x")
    assert not (tmp_path / "a").exists() and not (tmp_path / "n").exists()


def test_an_output_place_that_cannot_be_written_is_named(minilm_path, tmp_path, capsys):
    blocker = tmp_path / "a-file"  # a file where a folder should be: refused even for root
    blocker.write_text("x")
    out = blocker / "sub"
    message = _error(capsys, "export", str(minilm_path), "--out", str(out))
    assert message == (f"Cannot write into {blocker}: it already exists (a file where a folder "
                       f"should be?). Choose a folder you may write to.")
    message = _error(capsys, "attention", str(minilm_path), "--text", "hi", "--out", str(out))
    assert message.startswith("Cannot write into") and str(blocker) in message
    assert blocker.read_text() == "x"


def test_a_path_that_does_not_exist_is_named_as_such(tmp_path, capsys):
    missing = tmp_path / "nowhere"
    message = _error(capsys, "new", "gpt2", "--tokenizer", str(missing), "--out",
                     str(tmp_path / "n"))
    assert message == f"{missing} does not exist. Check the path."


def test_serving_a_model_without_a_head_says_what_serve_needs(minilm_path, capsys):
    pytest.importorskip("fastapi")  # `transformers serve` itself needs transformers[serving]
    message = _error(capsys, "serve", str(minilm_path))
    assert "no task head" in message and "ForCausalLM" in message
    assert "evaluate" not in message and "--task" not in message


def test_path_errors_read_as_the_users_and_others_do_not():
    import errno

    from workbench.core.errors import path_error_message

    refused = PermissionError(errno.EACCES, "Permission denied", "/srv/models/out.png")
    assert path_error_message(refused) == ("/srv/models/out.png: permission denied. Check the "
                                           "path, or choose a folder you may read and write.")
    assert path_error_message(OSError(errno.ENOSPC, "No space left on device")) is None
    assert path_error_message(KeyError("state_dict")) is None


@pytest.mark.parametrize(("name", "content", "expected"), [
    ("latin1.csv", "text,label\ncaf\xe9,1\n".encode("latin-1"),
     "latin1.csv is not UTF-8 text (it holds byte 0xe9, which UTF-8 does not allow there)"),
    ("quote.csv", b'text,label\n"unterminated,1\n',
     "Could not read quote.csv as CSV: Error tokenizing data. C error: EOF inside string"),
    ("lines.jsonl", b'{"text": "a", "label": 1}\n{bad json\n',
     "Could not read lines.jsonl as JSON: JSON parse error"),
    ("header.csv", b"text,label\n", "has no rows"),
])
def test_unreadable_data_files_say_why(tmp_path, name, content, expected):
    """The parser's reason, not datasets' wrapper ("An error occurred while generating the
    dataset")."""
    from workbench.core.errors import TrainingDataError
    from workbench.core.training.data import load_table

    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(TrainingDataError) as error:
        load_table(path)
    assert expected in str(error.value) and "generating the dataset" not in str(error.value)
