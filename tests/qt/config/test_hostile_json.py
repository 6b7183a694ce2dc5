"""Pasted hostile JSON in the config editor is an inline message, never a RecursionError."""

from __future__ import annotations


def test_json_dialog_bounds_nesting(qtbot):
    from workbench.qt.config.form import JsonEditDialog

    dialog = JsonEditDialog("rope_parameters", '{"rope_type": "default"}')
    qtbot.addWidget(dialog)
    dialog.edit.setPlainText("[" * 5000 + "]" * 5000)
    dialog._on_buttons_accepted()
    assert "nests objects/lists more than 16 levels" in dialog.error.text()
    assert dialog.result() == 0


def test_json_field_editor_keeps_deep_text_as_text(qtbot):
    from workbench.qt.common.dataclass_form import JsonEditor

    text = "[" * 5000 + "]" * 5000
    assert JsonEditor.parse(None, text) == text
    assert JsonEditor.parse(None, '{"a": [1, 2]}') == {"a": [1, 2]}
