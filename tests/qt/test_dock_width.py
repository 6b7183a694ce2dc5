"""The Checkpoints dock keeps its width whatever view the central area shows (issue 12: after
Compare it shrank to ~150 px and its rows turned into bare arrows)."""

from __future__ import annotations

from PySide6.QtWidgets import QApplication

TIMEOUT = 60_000


def test_views_never_squeeze_the_checkpoints_dock(qtbot, main_window, minilm_path):
    main_window.resize(1024, 700)
    main_window.open_checkpoint(str(minilm_path))
    qtbot.waitUntil(lambda: main_window.tabs.count() >= 1, timeout=TIMEOUT)
    QApplication.processEvents()
    width = main_window.browser.width()
    assert width >= 200
    tab = main_window.tabs.currentWidget()
    attention = tab.show_view("Attention")
    # the Attention view (and its Compare page) asks for more than 1024 - dock: it must make do
    assert attention.minimumSizeHint().width() > 1024 - width - 20
    for page in (attention.compare, attention.heatmap):
        attention.views.setCurrentWidget(page)
        QApplication.processEvents()
        assert main_window.browser.width() == width
    for name in ("Overview", "Tensors", "Modules", "Edit config", "Graph", "Fine-tune",
                 "Attention", "Overview"):
        tab.show_view(name)
        QApplication.processEvents()
        assert main_window.browser.width() == width, name
        assert main_window.width() == 1024, name
