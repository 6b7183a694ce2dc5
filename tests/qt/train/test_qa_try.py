"""Question answering in the Fine-tune view: the form offers its column pickers, the demo spec
loads, and the summary's try-it box highlights the answer span of a real trained model."""

from __future__ import annotations

import pytest

from tests.fixtures.training import Recorder, tiny_model


@pytest.fixture(scope="module")
def qa_run(tmp_path_factory):
    from workbench.core.training.runner import run_training
    from workbench.core.training.spec import TrainSpec, demo_data_dir

    spec = TrainSpec(model_path=str(tiny_model("bert")), task="question-answering",
                     train_file=str(demo_data_dir() / "qa_train.jsonl"), eval_split=0.0,
                     max_length=64, doc_stride=16, max_steps=1, batch_size=4,
                     output_dir=str(tmp_path_factory.mktemp("qa") / "run"))
    result = run_training(spec, Recorder())
    assert result.status == "finished", result.message
    return result, spec


def test_form_shows_the_question_answering_columns_only_for_that_task(qtbot):
    from workbench.qt.train.form import TrainForm

    form = TrainForm()
    qtbot.addWidget(form)
    rows = form._rows_of["Data"]

    def visible(name: str) -> bool:
        return rows.isRowVisible(form.editors[name].widget)

    assert visible("text_column") and not visible("question_column")
    assert not visible("doc_stride")
    form.set_value("task", "question-answering")
    assert all(visible(n) for n in ("question_column", "context_column", "answers_column",
                                    "doc_stride"))
    assert not visible("text_column") and not visible("label_column")
    form.set_value("model_path", "m")
    form.set_value("train_file", "t.jsonl")
    spec = form.spec()
    assert spec is not None and spec.answers_column == "answers" and spec.doc_stride == 32


def test_demo_spec_for_question_answering_is_bundled():
    from workbench.core.training.spec import demo_spec

    spec = demo_spec(task="question-answering")
    assert spec.task == "question-answering" and spec.train_file.endswith("qa_train.jsonl")
    assert demo_spec().task == "sequence-classification"


def test_try_it_highlights_the_answer_span_in_the_context(qtbot, qa_run):
    from workbench.qt.common.tasks import TaskRunner
    from workbench.qt.train.summary import RunSummaryView

    result, spec = qa_run
    runner = TaskRunner()
    view = RunSummaryView(runner)
    qtbot.addWidget(view)
    view.resize(1000, 600)
    view.show()
    view.show_result(result, spec)
    box = view.qa_box
    assert box.isVisible() and not view.input.isVisible()
    # an emoji (two UTF-16 units in Qt) before the answer: the highlight must still be exact
    context = "Keeper 🙂 Agnes Morrow first lit the lamp of the tower in 1874."
    box.question.setText("Who first lit the lamp?")
    box.context.setPlainText(context)
    with qtbot.waitSignal(box.answer_button.clicked, timeout=1000):
        box.answer_button.click()
    qtbot.waitUntil(lambda: box.answer is not None, timeout=60_000)
    answer = box.answer
    assert answer.text and answer.text == context[answer.start:answer.end]
    [selection] = box.context.extraSelections()
    assert selection.cursor.selectedText() == answer.text
    assert answer.text in box.result.text() and "score" in box.result.text()
    from workbench.core.training.qa_answers import QAAnswer

    start = context.index("Agnes Morrow")  # after the emoji: Python and Qt indices differ
    box._on_answered(QAAnswer("Agnes Morrow", start, start + 12, 0.5))
    assert box.context.extraSelections()[0].cursor.selectedText() == "Agnes Morrow"
    box.context.setPlainText(context + " More.")  # an edit drops the stale highlight
    assert box.context.extraSelections() == []
    assert view.sizeHint().width() <= 1024
    runner.shutdown()


def test_demo_button_loads_the_qa_demo_and_its_summary_fits_1024(qtbot, main_window,
                                                                minilm_path, qa_run):
    from PySide6.QtWidgets import QApplication

    main_window.resize(1024, 700)
    with qtbot.waitSignal(main_window.checkpointOpened, timeout=60_000) as opened:
        main_window.open_checkpoint(str(minilm_path))
    view = opened.args[0].show_view("Fine-tune")
    from workbench.qt.train.view import CLOSE_DISCARD

    view.ask_close = lambda: CLOSE_DISCARD
    view.form.set_value("task", "question-answering")
    view.load_demo()
    form = view.form
    assert form.editors["train_file"].text().endswith("qa_train.jsonl")
    assert form.editors["task"].value() == "question-answering"
    assert form._rows_of["Data"].isRowVisible(form.editors["context_column"].widget)
    result, spec = qa_run
    view.summary.show_result(result, spec)
    view.pages.setCurrentWidget(view.summary)
    view.summary.qa_box.context.setPlainText("word " * 2000)  # a long context scrolls
    view.summary.qa_box.result.setText("Answer: <b>" + "long " * 200 + "</b>")
    QApplication.processEvents()
    assert view.summary.qa_box.isVisible() and main_window.width() == 1024
