"""The Edit config form's geometry at 1024x700: one editor column, one default column, no
horizontal scroll, error borders that keep the spin box arrows, a diff tree whose columns fit."""

from __future__ import annotations

import shutil

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QWidget

from tests.qt.config.test_config_editor import TIMEOUT, open_editor
from workbench.qt.config.form import ERROR_COLOR


def test_form_columns_line_up_and_fit_1024(qtbot, main_window, tiny_models, tmp_path):
    folder = tmp_path / "tiny-bert"
    shutil.copytree(tiny_models["bert"], folder)
    main_window.resize(1024, 700)
    view = open_editor(qtbot, main_window, folder)
    panel, form = view.panel, view.panel.form
    qtbot.wait(50)
    split = panel.splitter.sizes()
    edges = form.column_edges()
    assert len(edges) == len(form.rows) > 20
    # every visible row, in every group: the same editor left/right edge and default column
    assert len(set(edges)) == 1, set(edges)
    assert form.widget().width() <= form.viewport().width()
    assert form.horizontalScrollBar().maximum() == 0
    assert form.horizontalScrollBarPolicy() == Qt.ScrollBarPolicy.ScrollBarAlwaysOff
    label_w, default_w = form.column_widths
    assert all(r.label.width() == label_w and r.default_label.width() == default_w
               for r in form.rows.values())
    # numbers read as people write them, in the default column as in the editors
    assert form.rows["intermediate_size"].default_label.toolTip() == \
        "Use the class default (3,072)"
    # the estimate's footnote wraps in the narrow panel instead of running out of it
    estimate = panel.estimate.status
    assert estimate.wordWrap() and estimate.width() <= estimate.parentWidget().width()
    # an error frames the editor; the spin box itself keeps its native (unstyled) drawing
    row = form.rows["hidden_size"]
    row.editor.setValue(7)  # not divisible by the heads
    qtbot.waitUntil(lambda: bool(form.message_for("hidden_size")), timeout=TIMEOUT)
    assert row.cell.border_color == ERROR_COLOR
    left_edge = row.cell.grab().toImage().pixelColor(0, row.cell.height() // 2)
    assert left_edge.red() > 150 and left_edge.green() < 100  # the frame is drawn in red
    # no style sheet anywhere in the form (each one slowed building it ~40%)
    assert not any(w.testAttribute(Qt.WidgetAttribute.WA_StyleSheetTarget)
                   for w in form.findChildren(QWidget))
    assert row.label.font().bold() and row.label.autoFillBackground()
    # the changed (bold, marked) name keeps the columns where they were
    assert row.label.text().startswith("\u25cf") and set(form.column_edges()) == set(edges)
    assert panel.splitter.sizes() == split  # the estimate's text did not push the splitter
    # the diff tree: "Edited" wide enough for its header, no horizontal scroll
    diff = panel.diff
    header = diff.header()
    for column, title in ((1, "Original"), (2, "Edited")):
        assert header.sectionSize(column) >= diff.fontMetrics().horizontalAdvance(title)
    assert sum(header.sectionSize(i) for i in range(3)) <= diff.viewport().width()
    assert diff.horizontalScrollBar().maximum() == 0


def test_diff_lists_the_ignored_position_ids_buffer(qtbot, main_window, minilm_path):
    view = open_editor(qtbot, main_window, minilm_path)
    counts = view.panel.diff.section_counts()
    assert counts["Stored buffers, ignored by transformers"] == 1
    assert counts["No longer used, dropped"] == 0


def test_editors_stop_growing_on_a_wide_screen_and_stay_aligned(qtbot, main_window,
                                                                 tiny_models):
    from workbench.qt.config.form import EDITOR_MAX, ConfigForm

    view = open_editor(qtbot, main_window, tiny_models["bert"])
    form = ConfigForm(view.panel.form.schema)  # the same form, alone, 2000 px wide
    qtbot.addWidget(form)
    form.resize(2000, 900)
    form.show()
    qtbot.waitExposed(form)
    edges = set(form.column_edges())
    assert len(edges) == 1
    left, right, default = edges.pop()
    assert right - left == EDITOR_MAX and default > right
    assert form.horizontalScrollBar().maximum() == 0


def test_a_narrow_form_gives_its_room_to_the_editors_and_keeps_none_boxes_whole(
        qtbot, main_window, tiny_models):
    """New Model at 1024 px: the Llama form (~590 px) left ~100 px blank right of the rows while
    the spin boxes beside a "None" box shrank to one digit and the box read "Non"."""
    from workbench.qt.config.form import EDITOR_MAX, EDITOR_MIN, ConfigForm

    view = open_editor(qtbot, main_window, tiny_models["llama"])
    form = ConfigForm(view.panel.form.schema)
    qtbot.addWidget(form)
    form.resize(590, 600)
    form.show()
    qtbot.waitExposed(form)
    boxes = [r for r in form.rows.values() if r.none_box is not None]
    assert boxes, "the Llama config has optional number fields"
    for row in boxes:
        assert row.none_box.width() >= row.none_box.sizeHint().width(), row.spec.name
        assert row.editor.width() >= EDITOR_MIN // 2, row.spec.name
    assert len(set(form.column_edges())) == 1
    row = next(iter(form.rows.values()))
    assert row.cell.width() < EDITOR_MAX  # narrow: so no room may be left unused
    grid_right = row.group.contentsRect().right() - row.group.layout().contentsMargins().right()
    reset_right = row.reset.geometry().right()
    assert grid_right - reset_right <= 12, (grid_right, reset_right)
    assert form.horizontalScrollBar().maximum() == 0
