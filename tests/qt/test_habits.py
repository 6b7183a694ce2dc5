"""Keyboard and habits: menu shortcuts, Escape, state restored from QSettings, folder pickers,
and the New Model dialog's defaults."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import QSettings, Qt
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QMenu, QSplitter

TIMEOUT = 60_000


def menu_actions(menu: QMenu):
    for action in menu.actions():
        if action.isSeparator():
            continue
        if action.menu() is not None:
            yield from menu_actions(action.menu())
        else:
            yield action


def test_every_menu_action_has_a_shortcut(qtbot, main_window, tiny_models):
    with qtbot.waitSignal(main_window.checkpointOpened, timeout=TIMEOUT):
        main_window.open_checkpoint(str(tiny_models["bert"]))  # fills Open Recent
    actions = [a for m in main_window.menus.values() for a in menu_actions(m)]
    assert len(actions) >= 15
    missing = [a.text() for a in actions if a.shortcut().isEmpty()]
    assert not missing
    shortcuts = [a.shortcut().toString() for a in actions]
    assert len(shortcuts) == len(set(shortcuts))  # no two actions fight over a key
    view_action = next(a for a in actions if a.text() == "Graph")
    view_action.trigger()
    assert main_window.current_tab().tabText(main_window.current_tab().currentIndex()) == "Graph"


def test_escape_closes_the_new_model_dialog(qtbot, main_window):
    main_window.new_model_action.trigger()
    dialog = main_window.new_model_dialog
    main_window.new_model_action.trigger()  # again before it shows (it shows a turn later)
    assert main_window.new_model_dialog is dialog
    qtbot.waitExposed(dialog)
    area = dialog.screen().availableGeometry()  # offscreen: 800x600, under its 1200x780
    assert dialog.width() <= area.width() and dialog.height() <= area.height()
    qtbot.keyClick(dialog, Qt.Key.Key_Escape)
    assert not dialog.isVisible()


def test_new_model_dialog_defaults_to_the_demo_tokenizer_without_an_empty_diff(qtbot,
                                                                               main_window,
                                                                               minilm_path):
    main_window.new_model_action.trigger()
    dialog = main_window.new_model_dialog
    root, vocab = dialog.tokenizer.currentData()
    assert Path(root) == Path(minilm_path) and vocab == 30522
    assert dialog.tokenizer.currentText().endswith("30,522 tokens)")  # read as people write it
    assert dialog.panel.values["vocab_size"] == 30522
    dialog.family.setCurrentIndex(dialog.family.findData("gpt2"))  # kept across families
    assert dialog.panel.values["vocab_size"] == 30522
    assert not dialog.panel.diff_box.isVisibleTo(dialog)
    dialog.reject()


def test_window_dock_and_splitters_come_back(qtbot, tmp_path, tiny_models):
    from workbench.qt.main_window import MainWindow

    settings = QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat)
    first = MainWindow(settings=settings)
    qtbot.addWidget(first)
    first.show()
    first.resize(780, 560)  # inside the offscreen screen: restoreGeometry clamps to it
    first.browser.hide()
    qtbot.wait(20)
    size = (first.width(), first.height())
    assert size != (1400, 880)  # not the default size
    with qtbot.waitSignal(first.checkpointOpened, timeout=TIMEOUT):
        first.open_checkpoint(str(tiny_models["llama"]))
    graph = first.show_view("Graph")
    qtbot.wait(50)
    split = graph.findChildren(QSplitter)[-1]  # the canvas | sidebar splitter
    split.moveSplitter(300, 1)  # as a drag does: emits splitterMoved
    sizes = split.sizes()
    first.close()
    settings.sync()

    second = MainWindow(settings=QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat))
    qtbot.addWidget(second)
    second.show()
    assert (second.width(), second.height()) == size
    assert not second.browser.isVisible()
    with qtbot.waitSignal(second.checkpointOpened, timeout=TIMEOUT):
        second.open_checkpoint(str(tiny_models["llama"]))
    graph = second.show_view("Graph")
    qtbot.wait(50)
    assert graph.findChildren(QSplitter)[-1].sizes() == sizes
    second.close()


def test_build_and_save_as_pick_folders_outside_site_packages(qtbot, main_window, minilm_path,
                                                              tmp_path, monkeypatch):
    """The demo lives in site-packages: the picker starts at home, then at the last folder."""
    from PySide6.QtWidgets import QFileDialog

    asked = []

    def pick(_parent, _title, start):
        asked.append(start)
        return str(tmp_path)  # the user chose tmp_path (not empty: a named folder inside)

    monkeypatch.setattr(QFileDialog, "getExistingDirectory", staticmethod(pick))
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: pytest.fail("save"))
    (tmp_path / "other").mkdir()
    main_window.open_checkpoint(str(minilm_path))
    qtbot.waitUntil(lambda: main_window.tabs.count() == 1, timeout=TIMEOUT)
    view = main_window.current_tab().show_view("Edit config")
    built, saved = [], []
    monkeypatch.setattr(view, "build_from_weights", built.append)
    monkeypatch.setattr(view, "save_as", saved.append)
    view._on_build_triggered()
    assert asked[0] == str(Path.home()) and "site-packages" not in asked[0]
    assert built == [str(tmp_path / f"{Path(minilm_path).name}-rebuilt")]
    view._on_save_as_triggered()
    assert asked[1] == str(tmp_path)  # the last folder chosen
    assert saved == [str(tmp_path / f"{Path(minilm_path).name}-edited")]
    assert isinstance(main_window.menus["File"].actions()[0], QAction)


def test_every_splitter_of_the_application_remembers_its_position():
    """Splitter positions are kept by RememberedSplitter (no app-wide event filter): a plain
    QSplitter in a view would silently forget where the user put it."""
    import re

    root = Path(__file__).resolve().parents[2] / "workbench" / "qt"
    plain = [f"{path.relative_to(root)}:{n}" for path in root.rglob("*.py")
             if path.name != "splitter_memory.py"
             for n, line in enumerate(path.read_text().splitlines(), 1)
             if re.search(r"(?<!Remembered)QSplitter\(", line)]
    assert plain == []
