"""A form generated from a dataclass: one editor per field, chosen from the field's type.

The type -> widget table follows magicgui: bool -> check box, int -> spin box, float -> line edit
with a validator (so 5e-05 stays readable), str with choices, Literal or Enum -> combo box,
str -> line edit, Optional[X] -> X's editor where empty means None, lists -> comma-separated
text. Unknown types fall back to JSON text and never raise while the form is built.
"""

from __future__ import annotations

import dataclasses
import enum
import json
import re
import types
import typing
from collections.abc import Callable
from typing import Any

from PySide6.QtGui import QDoubleValidator
from PySide6.QtWidgets import QCheckBox, QComboBox, QLineEdit, QSpinBox, QWidget


class FieldValueError(ValueError):
    """A widget holds text that is not a value of its field's type."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field


class FieldEditor:
    """One field's widget with typed get/set; subclasses wrap one Qt widget."""

    def __init__(self, name: str, optional: bool = False):
        self.name, self.optional = name, optional
        self.widget: QWidget = self._make()

    def _make(self) -> QWidget:
        raise NotImplementedError

    def value(self) -> Any:
        raise NotImplementedError

    def set_value(self, value: Any) -> None:
        raise NotImplementedError

    def on_changed(self, slot: Callable[[], None]) -> None:
        """Call `slot()` whenever the user edits the value."""
        raise NotImplementedError


class BoolEditor(FieldEditor):
    def _make(self) -> QWidget:
        return QCheckBox()

    def value(self) -> bool:
        return self.widget.isChecked()

    def set_value(self, value: Any) -> None:
        self.widget.setChecked(bool(value))

    def on_changed(self, slot) -> None:
        self.widget.toggled.connect(lambda _on: slot())


class IntEditor(FieldEditor):
    def _make(self) -> QWidget:
        box = QSpinBox()
        box.setRange(-1, 2**31 - 1)  # -1 is the usual "unset" (max_steps=-1)
        box.setAccelerated(True)
        return box

    def value(self) -> int:
        return self.widget.value()

    def set_value(self, value: Any) -> None:
        self.widget.setValue(int(value))

    def on_changed(self, slot) -> None:
        self.widget.valueChanged.connect(lambda _v: slot())


class TextEditor(FieldEditor):
    """str, Optional[str] and the parse-on-read types (float, lists, JSON) share a line edit."""

    def _make(self) -> QWidget:
        edit = QLineEdit()
        if self.optional:
            edit.setPlaceholderText("None")
        return edit

    def parse(self, text: str) -> Any:
        return text

    def format(self, value: Any) -> str:
        return str(value)

    def text(self) -> str:
        """The raw text (subclasses with compound widgets read their line edit)."""
        return self.widget.text()

    def set_text(self, text: str) -> None:
        self.widget.setText(text)

    def value(self) -> Any:
        text = self.text().strip()
        if self.optional and not text:
            return None
        try:
            return self.parse(text)
        except (ValueError, TypeError) as e:
            raise FieldValueError(self.name, f"{self.name}: {e}") from None

    def set_value(self, value: Any) -> None:
        self.set_text("" if value is None else self.format(value))

    def on_changed(self, slot) -> None:
        self.widget.textEdited.connect(lambda _t: slot())


class FloatEditor(TextEditor):
    def _make(self) -> QWidget:
        edit = super()._make()
        validator = QDoubleValidator(edit)
        validator.setNotation(QDoubleValidator.Notation.ScientificNotation)
        edit.setValidator(validator)
        return edit

    def parse(self, text: str) -> float:
        try:
            return float(text)
        except ValueError:
            raise ValueError(f"'{text}' is not a number (examples: 0.1, 5e-05)") from None

    def format(self, value: Any) -> str:
        return repr(float(value))


class ListEditor(TextEditor):
    def _make(self) -> QWidget:
        edit = super()._make()
        edit.setPlaceholderText("None" if self.optional else "comma-separated")
        return edit

    def parse(self, text: str) -> list[str]:
        return [part.strip() for part in text.split(",") if part.strip()]

    def format(self, value: Any) -> str:
        return ", ".join(str(v) for v in value)


class JsonEditor(TextEditor):
    """Fallback for types the table does not know: JSON text, plain text if it is not JSON."""

    def parse(self, text: str) -> Any:
        from workbench.core import jsonio
        from workbench.core.errors import WorkbenchError

        try:  # bounded, so a pasted 1,000-deep text cannot raise RecursionError here
            return jsonio.loads(text, source="This field",
                                limits=jsonio.JsonLimits(max_bytes=1_000_000, max_depth=16))
        except WorkbenchError:
            return text

    def format(self, value: Any) -> str:
        return json.dumps(value)


class ChoiceEditor(FieldEditor):
    def __init__(self, name: str, choices: list[str], optional: bool = False):
        self.choices = list(choices)
        super().__init__(name, optional)

    def _make(self) -> QWidget:
        combo = QComboBox()
        if self.optional:
            combo.addItem("None", None)
        for choice in self.choices:
            combo.addItem(str(choice), choice)
        return combo

    def value(self) -> Any:
        return self.widget.currentData()

    def set_value(self, value: Any) -> None:
        if isinstance(value, enum.Enum):  # items hold the plain values
            value = value.value
        index = self.widget.findData(value)
        if index < 0:  # a value outside the declared choices stays visible, not lost
            self.widget.addItem(str(value), value)
            index = self.widget.count() - 1
        self.widget.setCurrentIndex(index)

    def on_changed(self, slot) -> None:
        self.widget.currentIndexChanged.connect(lambda _i: slot())


def unwrap_optional(hint: Any) -> tuple[Any, bool]:
    """(inner type, True) for `X | None` / Optional[X]; (hint, False) otherwise."""
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        if len(args) == 1 and len(typing.get_args(hint)) == 2:
            return args[0], True
    return hint, False


def editor_for(name: str, hint: Any, choices: list[str] | None = None) -> FieldEditor:
    """The editor for a field of type `hint` (never raises on unknown types)."""
    inner, optional = unwrap_optional(hint)
    if typing.get_origin(inner) is typing.Literal:
        choices = choices or [str(a) for a in typing.get_args(inner)]
    if isinstance(inner, type) and issubclass(inner, enum.Enum):
        choices = choices or [member.value for member in inner]
    if choices:
        return ChoiceEditor(name, choices, optional)
    if inner is bool:
        return BoolEditor(name, optional)
    if inner is int and not optional:
        return IntEditor(name)
    if inner is int:
        editor = JsonEditor(name, optional)
        return editor
    if inner is float:
        return FloatEditor(name, optional)
    if inner is str:
        return TextEditor(name, optional)
    if typing.get_origin(inner) in (list, tuple, set) or inner in (list, tuple):
        return ListEditor(name, optional)
    return JsonEditor(name, optional)


def field_hints(cls: type) -> dict[str, Any]:
    """{field name: resolved type} of a dataclass, tolerating annotations that do not resolve."""
    try:
        hints = typing.get_type_hints(cls)
    except Exception:  # a forward reference we cannot resolve: fall back to the raw strings
        hints = {}
    return {f.name: hints.get(f.name, f.type) for f in dataclasses.fields(cls)}


def field_named_in(message: str, names: list[str]) -> str | None:
    """The field name a validation message mentions (longest match wins), or None."""
    for name in sorted(names, key=len, reverse=True):
        if re.search(rf"(?<![\w.]){re.escape(name)}(?!\w)", message):
            return name
    return None
