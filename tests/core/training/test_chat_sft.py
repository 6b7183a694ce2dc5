"""Chat fine-tuning through TRL's SFTTrainer: formats, loss mask, resume, LoRA, packing, saving."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.fixtures.chat import chat_spec, tiny_chat_model
from tests.fixtures.training import Recorder
from workbench.core.model.loading import load_tokenizer
from workbench.core.training.chat_data import IGNORE_INDEX, prepare_chat_data
from workbench.core.training.chat_samples import SAMPLES_NAME
from workbench.core.training.chat_templates import STANDARD_TEMPLATES
from workbench.core.training.checkpoints import latest_checkpoint
from workbench.core.training.runner import TrainControl, run_training
from workbench.core.training.runs import FINAL_NAME


@pytest.mark.parametrize("fmt", ["alpaca", "sharegpt", "messages", "prompt-completion"])
def test_each_format_trains_through_sft_trainer(tmp_path, fmt):
    rec = Recorder()
    result = run_training(chat_spec(tmp_path / "run", fmt, sample_prompts=0), rec)
    assert result.status == "finished", result.message
    assert sorted(rec.losses()) == [1, 2, 3]
    assert all(loss > 0 for loss in rec.losses().values())
    assert result.metrics["perplexity"] > 1 and "eval_loss" in result.metrics
    notes = [e.message for e in rec.events if e.kind == "status"]
    assert any(f"{fmt} format" in n for n in notes)


def test_labels_are_the_assistant_tokens_only(tmp_path):
    spec = chat_spec(tmp_path / "run", "sharegpt", eval_split=0.0)
    tokenizer = load_tokenizer(spec.model_path)
    data = prepare_chat_data(spec, tokenizer)
    row = data.train[0]  # human, gpt, human, gpt
    ids, labels = row["input_ids"], row["labels"]
    assert len(ids) == len(labels)
    # Rebuild the expected labels from the text: only the answers (and their <|im_end|>).
    answers = ["Start small: ten to fifteen minutes of easy jogging mixed with walking is "
               "plenty.<|im_end|>",
               "Three times a week, with a rest day between runs, is a good beginning."
               "<|im_end|>"]
    loss_text = tokenizer.decode([t for t in labels if t != IGNORE_INDEX])
    assert loss_text == "".join(answers)
    for t, label in zip(ids, labels, strict=True):
        assert label in (IGNORE_INDEX, t)
    # Every prompt token (system, user, the "assistant" headers) has -100.
    prompt_text = tokenizer.decode([t for t, lab in zip(ids, labels, strict=True)
                                    if lab == IGNORE_INDEX])
    assert "I want to start running" in prompt_text and "And how often?" in prompt_text
    assert prompt_text.count("<|im_start|>assistant") == 2


def test_marked_template_gives_the_same_mask_as_prefix_rendering(tmp_path):
    # The fixture's template has no {% generation %} markers (prefix rendering); the standard
    # chatml carries markers (transformers' assistant mask): both must find the same tokens.
    spec = chat_spec(tmp_path / "run", "messages", eval_split=0.0)
    own = prepare_chat_data(spec, load_tokenizer(spec.model_path))
    marked = prepare_chat_data(spec.replace(chat_template="chatml"),
                               load_tokenizer(spec.model_path))
    assert own.train["input_ids"] == marked.train["input_ids"]
    assert own.train["labels"] == marked.train["labels"]


def _write(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


GOOD = {"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hey"}]}


@pytest.mark.parametrize(("row", "message"), [
    ({"messages": [{"role": "user", "content": "a"}, {"role": "user", "content": "b"},
                   {"role": "assistant", "content": "c"}]},
     r"row 3: turn 2 is a user turn after user; turns must alternate"),
    ({"messages": [{"role": "user", "content": "only a question"}]},
     r"row 3 has no assistant turn"),
    ({"messages": [{"role": "user", "content": "a"}, {"role": "robot", "content": "b"}]},
     r"row 3: turn 2 has the unknown role 'robot'"),
    ({"messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": ""}]},
     r"row 3: turn 2's content is empty"),
])
def test_bad_rows_are_reported_by_number_before_training(tmp_path, row, message):
    data = _write(tmp_path / "bad.jsonl", [GOOD, GOOD, row, GOOD])
    rec = Recorder()
    with pytest.raises(Exception, match=message) as info:
        run_training(chat_spec(tmp_path / "run", train_file=str(data)), rec)
    assert type(info.value).__name__ == "TrainingDataError"
    assert "started" not in rec.kinds()


def test_a_template_that_cannot_render_a_row_is_named(tmp_path):
    from workbench.core.errors import TrainingDataError

    spec = chat_spec(tmp_path / "run", train_file=str(_write(tmp_path / "d.jsonl", [GOOD] * 3)))
    tokenizer = load_tokenizer(spec.model_path)
    tokenizer.chat_template = ("{% for m in messages %}{% if m['content'] == 'hey' %}"
                               "{{ raise_exception('no greetings') }}{% endif %}"
                               "{{ m['content'] }}{% endfor %}")
    with pytest.raises(TrainingDataError, match=r"d.jsonl row 1: the chat template cannot "
                                                r"render this row .*no greetings"):
        prepare_chat_data(spec, tokenizer)


def test_unknown_columns_and_empty_files_are_refused(tmp_path):
    from workbench.core.errors import TrainingDataError

    tokenizer = load_tokenizer(tiny_chat_model())
    data = _write(tmp_path / "x.jsonl", [{"question": "a", "answer": "b"}])
    with pytest.raises(TrainingDataError, match="not chat data in a known format"):
        prepare_chat_data(chat_spec(tmp_path / "r", train_file=str(data)), tokenizer)
    empty = tmp_path / "e.jsonl"
    empty.write_text("")
    with pytest.raises(TrainingDataError, match="is empty"):
        prepare_chat_data(chat_spec(tmp_path / "r", train_file=str(empty)), tokenizer)


def test_resume_reaches_the_planned_steps_and_the_template_is_saved(tmp_path):
    run_dir = tmp_path / "run"
    spec = chat_spec(run_dir, "alpaca", chat_template="zephyr", max_steps=4, save_steps=2,
                     sample_prompts=2)
    control = TrainControl()
    first = Recorder(lambda e: control.cancel() if e.kind == "log" and e.step == 3 else None)
    assert run_training(spec, first, control).status == "cancelled"
    checkpoint = latest_checkpoint(run_dir)
    assert checkpoint.name == "checkpoint-2"
    saved = json.loads((checkpoint / "tokenizer_config.json").read_text())
    template = saved.get("chat_template") or (checkpoint / "chat_template.jinja").read_text()
    assert template == STANDARD_TEMPLATES["zephyr"]
    rec = Recorder()
    result = run_training(spec, rec, resume_from=str(run_dir))
    assert result.status == "finished", result.message
    assert sorted(rec.losses()) == [3, 4]
    final = load_tokenizer(run_dir / FINAL_NAME)
    assert final.chat_template == STANDARD_TEMPLATES["zephyr"]
    samples = json.loads((run_dir / SAMPLES_NAME).read_text())
    assert len(samples) == 2
    assert all(s["prompt"][-1]["role"] == "user" and isinstance(s["base"], str)
               and isinstance(s["fine_tuned"], str) for s in samples)


def test_lora_with_packing_trains_and_saves_an_adapter(tmp_path):
    rec = Recorder()
    spec = chat_spec(tmp_path / "run", "messages", method="lora", packing=True, batch_size=2,
                     max_length=64, sample_prompts=1)
    result = run_training(spec, rec)
    assert result.status == "finished", result.message
    final = Path(result.final_model_dir)
    assert (final / "adapter_config.json").is_file()
    assert json.loads((final / "adapter_config.json").read_text())["task_type"] == "CAUSAL_LM"
    assert sorted(rec.losses()) == [1, 2, 3]
    samples = json.loads((tmp_path / "run" / SAMPLES_NAME).read_text())
    assert len(samples) == 1


def test_truncation_is_counted_before_training(tmp_path):
    spec = chat_spec(tmp_path / "run", "sharegpt", eval_split=0.0, max_length=40)
    tokenizer = load_tokenizer(spec.model_path)
    data = prepare_chat_data(spec, tokenizer)
    from workbench.core.training.chat_data import load_chat_rows

    rows = load_chat_rows(spec.train_file, tokenizer, tokenizer.chat_template)
    long = sum(len(ids) > 40 for ids in rows.input_ids)
    assert 0 < long < len(rows.input_ids)
    assert any(f"{long} of {len(rows.input_ids)} training examples are longer than max_length "
               f"40" in note for note in data.notes)
    assert max(len(ids) for ids in data.train["input_ids"]) == 40
