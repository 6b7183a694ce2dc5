"""A form generated from a ConfigSchema: one row per field, a widget chosen by the field's type."""

from __future__ import annotations

import html
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import QLocale, QRectF, QSize, Qt, Signal
from PySide6.QtGui import (
    QColor,
    QCursor,
    QDoubleValidator,
    QFont,
    QFontMetrics,
    QPainter,
    QPalette,
    QPen,
)
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QCompleter,
    QDialog,
    QDialogButtonBox,
    QFrame,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QSpinBox,
    QStyle,
    QStyleOptionFocusRect,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from workbench.core.config.rules import Issue, ValidationResult, parse_value
from workbench.core.config.schema import ConfigSchema, FieldSpec, to_json_text
from workbench.core.errors import WorkbenchError

INT_MIN, INT_MAX = -(2**31), 2**31 - 1
ERROR_COLOR, WARNING_COLOR, CHANGED_BG = "#c62828", "#b35900", "#fff3c4"
# Column widths shared by every group, so editors and defaults line up down the whole form; the
# name and default columns give way (elided, full text in the tooltip) before the editor does.
LABEL_MIN, LABEL_MAX, DEFAULT_MIN, DEFAULT_MAX, EDITOR_MIN = 110, 240, 56, 150, 80
EDITOR_MAX = 520


# The form styles its rows with palettes and painting, never with style sheets: one sheet per row
# (the default buttons, the changed names, the error frames) put each widget under Qt's
# style-sheet style and made building MiniLM's form ~40% slower (30 vs 18 ms, offscreen).


class FieldCell(QFrame):
    """The frame around a field's editor: bordered in a colour while the field has an error
    (the border is on the frame: drawn on a spin box it would replace its arrows)."""

    def __init__(self):
        super().__init__()
        self.border_color: str | None = None

    def set_border(self, color: str | None) -> None:
        if color != self.border_color:
            self.border_color = color
            self.update()

    def paintEvent(self, event) -> None:
        if self.border_color:
            painter = QPainter(self)
            painter.setRenderHint(QPainter.RenderHint.Antialiasing)
            painter.setPen(QPen(QColor(self.border_color), 1))
            painter.drawRoundedRect(QRectF(self.rect()).adjusted(0.5, 0.5, -0.5, -0.5), 3, 3)


class TextButton(QPushButton):
    """A flat button that reads as grey, left-aligned text ("default 512"); paler when
    disabled, with the focus frame the style draws."""

    def __init__(self, cursor: QCursor):
        super().__init__()
        self.setFlat(True)
        self.setCursor(cursor)

    def sizeHint(self) -> QSize:
        metrics = self.fontMetrics()
        return QSize(metrics.horizontalAdvance(self.text()) + 8, metrics.height() + 4)

    def minimumSizeHint(self) -> QSize:
        return QSize(0, self.sizeHint().height())

    def paintEvent(self, event) -> None:
        painter = QPainter(self)
        group = (QPalette.ColorGroup.Normal if self.isEnabled()
                 else QPalette.ColorGroup.Disabled)
        role = (QPalette.ColorRole.PlaceholderText if self.isEnabled()
                else QPalette.ColorRole.WindowText)
        painter.setPen(self.palette().color(group, role))
        painter.drawText(self.rect().adjusted(4, 0, -4, 0),
                         Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter, self.text())
        if self.hasFocus():
            option = QStyleOptionFocusRect()
            option.initFrom(self)
            self.style().drawPrimitive(QStyle.PrimitiveElement.PE_FrameFocusRect, option,
                                       painter, self)


def _set_text_color(widget: QWidget, color: str) -> None:
    palette = widget.palette()
    palette.setColor(QPalette.ColorRole.WindowText, QColor(color))
    widget.setPalette(palette)


@dataclass
class FieldRow:
    """The widgets of one field."""

    spec: FieldSpec
    label: QLabel
    editor: QWidget
    none_box: QCheckBox | None
    default_label: QPushButton
    reset: QToolButton
    message: QLabel
    group: QGroupBox
    cell: FieldCell | None = None  # the editor frame: carries the error border


class JsonEditDialog(QDialog):
    """A multi-line JSON editor that refuses to close on invalid JSON."""

    def __init__(self, name: str, text: str, parent=None):
        super().__init__(parent)
        self.setWindowTitle(f"Edit {name} as JSON")
        self.resize(520, 380)
        self.edit = QPlainTextEdit()
        self.edit.setPlainText(text)
        self.error = QLabel()
        _set_text_color(self.error, ERROR_COLOR)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok
                                   | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self._on_buttons_accepted)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.edit)
        layout.addWidget(self.error)
        layout.addWidget(buttons)
        self.value: Any = None

    def _on_buttons_accepted(self) -> None:
        from workbench.core import jsonio
        from workbench.core.config.rules import VALUE_LIMITS
        from workbench.core.errors import WorkbenchError

        class NotJson(WorkbenchError):
            pass

        try:  # bounded: a pasted 1,000-deep text is an error message, not a RecursionError
            self.value = jsonio.loads(self.edit.toPlainText() or "null", source="The text",
                                      limits=VALUE_LIMITS, syntax_error=NotJson)
        except WorkbenchError as e:
            self.error.setText(("Not valid JSON: " if isinstance(e, NotJson) else "") + str(e))
            return
        self.accept()


class ConfigForm(QScrollArea):
    """Grouped rows of editors; emits `edited(name, value)` for every user change."""

    edited = Signal(str, object)
    parseErrorsChanged = Signal()

    def __init__(self, schema: ConfigSchema, parent=None):
        super().__init__(parent)
        self.schema = schema
        self.rows: dict[str, FieldRow] = {}
        self.parse_errors: dict[str, str] = {}
        self._shown: dict[str, Any] = {}
        self._original: dict[str, Any] = {}
        self._issues: dict[str, list[Issue]] = {}
        self.setWidgetResizable(True)
        inner = QWidget()
        self._layout = QVBoxLayout(inner)
        self.groups: dict[str, QGroupBox] = {}
        self._grids: list[QGridLayout] = []
        self._texts: dict[str, tuple[str, str]] = {}  # name: (label text, default text), unelided
        self._hand_cursor = QCursor(Qt.CursorShape.PointingHandCursor)  # one for every row
        for group, specs in schema.grouped().items():
            box = QGroupBox(f"{group} ({len(specs)})")
            grid = QGridLayout(box)
            # the editors take the room up to EDITOR_MAX, then it goes to the right margin
            # (with equal stretch the margin took half of it on a narrow form)
            grid.setColumnStretch(1, 1000)
            grid.setColumnStretch(4, 1)
            for i, spec in enumerate(specs):
                self.rows[spec.name] = self._make_row(spec, grid, 2 * i, box)
            self.groups[group] = box
            self._grids.append(grid)
            self._layout.addWidget(box)
        self._layout.addStretch()
        self.setWidget(inner)
        # never a horizontal scroll: the columns below shrink to the viewport instead
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        bold = QFont(self.font())
        bold.setBold(True)
        metrics, bold_metrics = QFontMetrics(self.font()), QFontMetrics(bold)
        self._label_need = min(LABEL_MAX, 12 + max(
            [bold_metrics.horizontalAdvance(f"\u25cf {n}") for n in self.rows] or [0]))
        self._default_need = min(DEFAULT_MAX, 16 + max(
            [metrics.horizontalAdvance(t) for _l, t in self._texts.values()] or [0]))
        self._editor_need = max([r.cell.minimumWidth() for r in self.rows.values()] or [0])
        self.column_widths: tuple[int, int] = (0, 0)  # (name, default) as last applied
        self._fit_columns()

    # -- construction ----------------------------------------------------------------------------
    def _make_row(self, spec: FieldSpec, grid: QGridLayout, row: int, box: QGroupBox) -> FieldRow:
        tip = (f"<b>{html.escape(spec.name)}</b> <i>({html.escape(spec.type_text)})</i><br>"
               f"{html.escape(spec.doc) or 'No description in the config class.'}<br>"
               f"Default: <code>{html.escape(to_json_text(spec.default))}</code>")
        label = QLabel(spec.name)
        label.setToolTip(tip)
        editor = self._make_editor(spec)
        editor.setToolTip(tip)
        editor.setMinimumWidth(EDITOR_MIN // 2)  # a spin box's hint fits 2^31: too wide
        cell = FieldCell()
        # the hint of the editor column is ignored: it takes what the fixed columns leave
        cell.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        cell.setMaximumWidth(EDITOR_MAX)  # a 1,500 px field on a 2560 screen reads badly
        cell_layout = QHBoxLayout(cell)
        cell_layout.setContentsMargins(1, 1, 1, 1)  # room for the error border, shown or not
        cell_layout.addWidget(editor, 1)
        none_box = None
        if spec.optional and spec.kind in ("bool", "int", "float", "str"):
            none_box = QCheckBox("None")
            none_box.setToolTip("No value: transformers derives or ignores it")
            none_box.toggled.connect(lambda on, s=spec: self._on_none_box_toggled(s, on))
            cell_layout.addWidget(none_box)
        more = None
        if spec.kind == "json":
            more = QToolButton()
            more.setText("{ }")
            more.setToolTip("Edit as JSON in a larger editor")
            more.clicked.connect(lambda _=False, s=spec: self._on_json_button_clicked(s))
            cell_layout.addWidget(more)
        # the editor gets EDITOR_MIN; a "None" box or "{ }" button beside it comes on top (within
        # EDITOR_MIN they squeezed the editor to a digit and the box's text to "Non")
        extras = sum(w.sizeHint().width() + max(cell_layout.spacing(), 0)
                     for w in (none_box, more) if w is not None)
        cell.setMinimumWidth(EDITOR_MIN + extras)
        # "default X" applies the config class's default; the arrow reverts to the
        # checkpoint's own value (what a user undoing an edit means).
        default_label = TextButton(self._hand_cursor)
        self._texts[spec.name] = (spec.name, f"default {_short(spec.default)}")
        default_label.setText(self._texts[spec.name][1])
        default_label.setToolTip(f"Use the class default ({_short(spec.default)})")
        default_label.clicked.connect(lambda _=False, s=spec: self.edited.emit(s.name, s.default))
        reset = QToolButton()
        reset.setText("\u21ba")
        reset.setToolTip("Revert to the checkpoint's value")
        reset.clicked.connect(lambda _=False, s=spec: self.edited.emit(
            s.name, self._original.get(s.name)))
        message = QLabel()
        message.setWordWrap(True)
        message.hide()
        grid.addWidget(label, row, 0)
        grid.addWidget(cell, row, 1)
        grid.addWidget(default_label, row, 2)
        grid.addWidget(reset, row, 3)
        grid.addWidget(message, row + 1, 1, 1, 3)
        return FieldRow(spec, label, editor, none_box, default_label, reset, message, box, cell)

    # -- uniform columns ---------------------------------------------------------------------------
    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self._fit_columns()

    def _fit_columns(self) -> None:
        """Give the name and default columns one width in every group, from the viewport width."""
        grid = self._grids[0] if self._grids else None
        if grid is None:
            return
        spacing = max(grid.horizontalSpacing(), 0)
        m, outer = grid.contentsMargins(), self._layout.contentsMargins()
        reset_width = next(iter(self.rows.values())).reset.sizeHint().width()
        # group box frame (~2x4 px) and the grid's gaps around the four columns
        overhead = (m.left() + m.right() + outer.left() + outer.right() + 8 + 3 * spacing
                    + reset_width)
        room = max(0, self.viewport().width() - overhead - self._editor_need)
        default = max(DEFAULT_MIN, min(self._default_need, room * 2 // 5))
        label = max(LABEL_MIN, min(self._label_need, room - default))
        if (label, default) == self.column_widths:
            return
        self.column_widths = (label, default)
        for row in self.rows.values():
            row.label.setFixedWidth(label)
            row.default_label.setFixedWidth(default)
            self._elide(row)

    def _elide(self, row: FieldRow) -> None:
        """Set the name and default texts, elided to their columns (full text in tooltips)."""
        name, default = self._texts[row.spec.name]
        changed = row.label.text().startswith("\u25cf")
        label_text = f"\u25cf {name}" if changed else name
        font = QFont(row.label.font())
        font.setBold(changed)
        width = self.column_widths[0] - 6
        row.label.setText(QFontMetrics(font).elidedText(label_text, Qt.TextElideMode.ElideRight,
                                                        width))
        row.default_label.setText(QFontMetrics(row.default_label.font()).elidedText(
            default, Qt.TextElideMode.ElideRight, self.column_widths[1] - 10))

    def column_edges(self) -> list[tuple[int, int, int]]:
        """(editor left, editor right, default left) of every visible row, in form coordinates:
        one value each when the columns line up."""
        inner = self.widget()
        out = []
        for row in self.rows.values():
            if row.cell.isVisible():
                left = row.cell.mapTo(inner, row.cell.rect().topLeft()).x()
                out.append((left, left + row.cell.width(),
                            row.default_label.mapTo(inner, row.default_label.rect().topLeft()).x()))
        return out

    def _make_editor(self, spec: FieldSpec) -> QWidget:
        name = spec.name
        if spec.kind == "bool":
            w = QCheckBox()
            w.toggled.connect(lambda on: self.edited.emit(name, bool(on)))
        elif spec.kind == "int":
            w = QSpinBox()
            w.setRange(INT_MIN, INT_MAX)
            w.setKeyboardTracking(False)  # one edit per commit, not per keystroke
            w.setGroupSeparatorShown(True)
            w.valueChanged.connect(lambda v: self.edited.emit(name, int(v)))
        elif spec.kind == "choice":
            w = QComboBox()
            for choice in spec.choices:
                w.addItem(str(choice), choice)
            if spec.optional:
                w.addItem("None", None)
            w.activated.connect(lambda i, w=w: self.edited.emit(name, w.itemData(i)))
        else:  # float, str, json: text, parsed on commit
            w = QLineEdit()
            if spec.kind == "float":
                validator = QDoubleValidator(w)
                validator.setNotation(QDoubleValidator.Notation.ScientificNotation)
                validator.setLocale(QLocale.c())  # config files use a decimal point
                w.setValidator(validator)
            if spec.suggestions:
                w.setCompleter(QCompleter(list(spec.suggestions), w))
            w.editingFinished.connect(lambda s=spec, w=w: self._on_text_committed(s, w))
        return w

    # -- user edits --------------------------------------------------------------------------------
    def _on_text_committed(self, spec: FieldSpec, w: QLineEdit) -> None:
        text = w.text()
        if text == self._display_text(spec, self._shown.get(spec.name)):
            return  # focus left without a change
        try:
            value = parse_value(spec, text)
        except WorkbenchError as e:
            self.parse_errors[spec.name] = str(e)
            self._refresh_message(spec.name)
            self.parseErrorsChanged.emit()
            return
        if spec.kind == "float" and isinstance(value, str):
            self.parse_errors[spec.name] = (f"{spec.name} must be a number such as 0.1 or "
                                            f"1e-05, not {text!r}.")
            self._refresh_message(spec.name)
            self.parseErrorsChanged.emit()
            return
        self._clear_parse_error(spec.name)
        self.edited.emit(spec.name, value)

    def _on_none_box_toggled(self, spec: FieldSpec, on: bool) -> None:
        row = self.rows[spec.name]
        row.editor.setEnabled(not on)
        if on and self._shown.get(spec.name) is not None:
            self.edited.emit(spec.name, None)
        elif not on and self._shown.get(spec.name) is None:
            self.edited.emit(spec.name, self._editor_value(row) if spec.default is None
                             else spec.default)

    def _on_json_button_clicked(self, spec: FieldSpec) -> None:
        dialog = JsonEditDialog(spec.name, to_json_text(self._shown.get(spec.name), 2), self)
        if dialog.exec() == QDialog.DialogCode.Accepted:
            self._clear_parse_error(spec.name)
            self.edited.emit(spec.name, dialog.value)

    def _clear_parse_error(self, name: str) -> None:
        if self.parse_errors.pop(name, None) is not None:
            self._refresh_message(name)
            self.parseErrorsChanged.emit()

    def _editor_value(self, row: FieldRow) -> Any:
        w, kind = row.editor, row.spec.kind
        if kind == "bool":
            return w.isChecked()
        if kind == "int":
            return w.value()
        if kind == "choice":
            return w.currentData()
        try:
            return parse_value(row.spec, w.text())
        except WorkbenchError:
            return None

    # -- showing state -----------------------------------------------------------------------------
    def set_values(self, shown: dict[str, Any], original: dict[str, Any] | None = None) -> None:
        """Show these values (no `edited` signals); highlight those that differ from original."""
        if original is not None:
            self._original = dict(original)
        self._shown = dict(shown)
        for name, row in self.rows.items():
            self._show_value(row, shown.get(name))
            changed = not _same(shown.get(name), self._original.get(name))
            row.label.setText(f"\u25cf {name}" if changed else name)
            if self.column_widths[0]:
                self._elide(row)
            self._mark_changed(row.label, changed)
            row.reset.setEnabled(changed)
            row.reset.setToolTip(f"Revert to the checkpoint's value "
                                 f"({_short(self._original.get(name))})")
            row.default_label.setEnabled(not _same(shown.get(name), row.spec.default))

    @staticmethod
    def _mark_changed(label: QLabel, changed: bool) -> None:
        """A changed field's name: bold on a highlight."""
        font = label.font()
        if font.bold() == changed:
            return
        font.setBold(changed)
        label.setFont(font)
        label.setAutoFillBackground(changed)
        if changed:
            palette = label.palette()
            palette.setColor(QPalette.ColorRole.Window, QColor(CHANGED_BG))
            label.setPalette(palette)

    def _show_value(self, row: FieldRow, value: Any) -> None:
        w, spec = row.editor, row.spec
        w.blockSignals(True)
        try:
            if spec.kind == "bool":
                w.setChecked(bool(value))
            elif spec.kind == "int":
                w.setValue(value if isinstance(value, int) and INT_MIN <= value <= INT_MAX else 0)
            elif spec.kind == "choice":
                index = w.findData(value)
                w.setCurrentIndex(index if index >= 0 else -1)
            else:
                w.setText(self._display_text(spec, value))
                w.setCursorPosition(0)
        finally:
            w.blockSignals(False)
        if row.none_box is not None:
            row.none_box.blockSignals(True)
            row.none_box.setChecked(value is None)
            row.none_box.blockSignals(False)
            w.setEnabled(value is not None)

    @staticmethod
    def _display_text(spec: FieldSpec, value: Any) -> str:
        if spec.kind == "str":
            return "" if value is None else str(value)
        if spec.kind == "float":
            return "" if value is None else repr(float(value)) if isinstance(
                value, int | float) else str(value)
        return to_json_text(value)

    def set_issues(self, result: ValidationResult) -> None:
        """Show each issue under the field(s) it concerns; clear the others."""
        self._issues = {name: result.for_field(name) for name in self.rows}
        for name in self.rows:
            self._refresh_message(name)

    def _refresh_message(self, name: str) -> None:
        row = self.rows[name]
        issues = list(self._issues.get(name, []))
        texts = []
        if name in self.parse_errors:
            texts.append((self.parse_errors[name], "error"))
        texts += [(i.message, i.severity) for i in issues]
        if not texts:
            row.message.hide()
            row.cell.set_border(None)
            return
        worst = "error" if any(s == "error" for _t, s in texts) else "warning"
        color = ERROR_COLOR if worst == "error" else WARNING_COLOR
        row.message.setText("\n".join(("\u2716 " if s == "error" else "\u26a0 ") + t
                                       for t, s in texts))
        _set_text_color(row.message, color)
        row.message.show()
        row.cell.set_border(color if worst == "error" else None)

    def message_for(self, name: str) -> str:
        """The inline message shown under a field ('' when none)."""
        row = self.rows[name]
        return row.message.text() if not row.message.isHidden() else ""

    def set_filter(self, text: str) -> int:
        """Show only fields whose name or help contains `text`; return how many are shown."""
        needle = text.strip().lower()
        shown = 0
        visible_groups: set[str] = set()
        for row in self.rows.values():
            match = not needle or needle in row.spec.name.lower() or needle in row.spec.doc.lower()
            for w in (row.label, row.editor.parentWidget(), row.default_label, row.reset):
                w.setVisible(match)
            row.message.setVisible(match and bool(row.message.text()) and (
                row.spec.name in self.parse_errors or bool(self._issues.get(row.spec.name))))
            if match:
                shown += 1
                visible_groups.add(row.spec.group)
        for group, box in self.groups.items():
            box.setVisible(group in visible_groups)
        return shown

    def is_row_visible(self, name: str) -> bool:
        return not self.rows[name].label.isHidden()


def _same(a: Any, b: Any) -> bool:
    return to_json_text(a) == to_json_text(b)


def _short(value: Any, limit: int = 24) -> str:
    """A value as people read it: JSON, whole numbers with thousands separators, shortened."""
    is_int = isinstance(value, int) and not isinstance(value, bool)
    text = f"{value:,}" if is_int else to_json_text(value)
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"
