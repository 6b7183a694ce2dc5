"""The form's LoRA defaults are what training adapts (computed by core, in a worker)."""

from __future__ import annotations

import pytest

from tests.core.training.test_lora_targets import adapted_leaf_names, tiny_config


# The model types where the form's own table used to show other targets than training used.
@pytest.mark.parametrize("model_type", ["deberta", "deberta-v2", "phi"])
def test_form_shows_exactly_what_training_uses(qtbot, model_type):
    import transformers

    from workbench.core.model.architecture import build_meta_model, module_tree
    from workbench.core.training.model_setup import apply_lora
    from workbench.core.training.spec import TrainSpec
    from workbench.qt.common.tasks import TaskRunner
    from workbench.qt.train.form import TrainForm

    config = tiny_config(model_type)
    spec = TrainSpec(model_path="m", task="sequence-classification", train_file="t.csv",
                     method="lora", lora_r=2)
    model = transformers.AutoModelForSequenceClassification.from_config(config)
    trained = adapted_leaf_names(apply_lora(model, spec))

    form = TrainForm()
    qtbot.addWidget(form)
    runner = TaskRunner()
    tree = module_tree(build_meta_model(config))
    with qtbot.waitSignal(form.loraChoiceShown, timeout=30_000):
        form.set_module_tree(tree, model_type, runner=runner)
    runner.shutdown()
    editor = form.editors["lora_target_modules"]
    assert set(editor.defaults) == trained
    assert editor.edit.placeholderText() == f"default: {', '.join(editor.defaults)}"


def test_choice_combos_come_from_the_spec_types(qtbot):
    from workbench.core.training.spec import Method, Precision, Scheduler
    from workbench.core.training.tasks import Task
    from workbench.qt.train.form import TrainForm

    form = TrainForm()
    qtbot.addWidget(form)
    for name, kind in (("task", Task), ("method", Method), ("scheduler", Scheduler),
                       ("precision", Precision)):
        combo = form.editors[name].widget
        assert [combo.itemData(i) for i in range(combo.count())] == [m.value for m in kind]
    form.set_value("method", Method.LORA)  # an enum member selects its item, adds none
    assert form.editors["method"].widget.count() == len(Method)
    assert form.editors["method"].value() == "lora"
