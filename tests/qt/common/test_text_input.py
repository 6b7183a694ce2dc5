"""GrowingTextEdit: as tall as its wrapped text, however it got its width."""

from __future__ import annotations

SENTENCE = ("The quick brown fox jumps over the lazy dog while a small bird sings in the old tree "
            "near the river bank.")


def test_a_box_made_narrower_grows_to_the_lines_its_text_wraps_into(qtbot):
    """The text was set while the box was wide (one line); narrowed by the layout it wrapped into
    two but stayed one line tall, the second cut under a scroll bar (Qt relayouts the text on a
    resize without documentSizeChanged)."""
    from workbench.qt.common.text_input import GrowingTextEdit

    box = GrowingTextEdit(SENTENCE)
    qtbot.addWidget(box)
    box.resize(1400, box.height())
    box.show()
    qtbot.waitExposed(box)
    assert box.lines_shown() == 1 and box.height() == box.height_for(1)
    box.resize(450, box.height())
    qtbot.waitUntil(lambda: box.lines_shown() >= 2)
    assert box.height() == box.height_for(box.lines_shown())
    box.resize(1400, box.height())
    qtbot.waitUntil(lambda: box.height() == box.height_for(1))
