"""Readouts that must be true: names, titles, the size delta, the file tree (issue: screens)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

TIMEOUT = 60_000


def test_unedited_config_shows_no_size_change(qtbot, main_window, minilm_path):
    """MiniLM stores a position_ids buffer: comparing with stored elements said '-512'."""
    main_window.open_checkpoint(str(minilm_path))
    qtbot.waitUntil(lambda: main_window.tabs.count() >= 1, timeout=TIMEOUT)
    view = main_window.tabs.currentWidget().show_view("Edit config")
    qtbot.waitUntil(lambda: view.panel.ready, timeout=TIMEOUT)
    text = view.panel.estimate.label.text()
    assert "vs original" not in text, text
    assert view.panel.original_parameters == view.panel.estimate.num_parameters == 22_713_216


def test_hf_cache_models_are_named_by_repo_id(qtbot, main_window, tiny_models, tmp_path):
    from tests.conftest import make_fake_hub_cache

    snapshot = make_fake_hub_cache(tmp_path / "hub", tiny_models["bert"], "acme/tiny-bert")
    main_window.open_checkpoint(str(snapshot))
    qtbot.waitUntil(lambda: main_window.tabs.count() >= 1, timeout=TIMEOUT)
    assert main_window.tabs.tabText(main_window.tabs.currentIndex()) == "acme/tiny-bert"
    assert main_window.browser.recent_list.item(0).text() == "acme/tiny-bert"
    assert main_window.recent_menu.actions()[0].text().startswith("acme/tiny-bert")
    assert "acme/tiny-bert" in main_window.start_page.recent.item(0).text()


def test_missing_path_error_title_is_not_its_last_component(qtbot, main_window, monkeypatch):
    from workbench.qt import main_window as main_window_module

    shown = []
    monkeypatch.setattr(main_window_module, "show_error",
                        lambda parent, title, text, details="": shown.append((title, text)))
    main_window.open_checkpoint("/does/not/exist")
    qtbot.waitUntil(lambda: bool(shown), timeout=TIMEOUT)
    title, text = shown[0]
    assert title == "Could not open the checkpoint" and "/does/not/exist" in text


def test_file_tree_starts_at_home_and_expands_only_the_opened_path(main_window, tmp_path):
    browser = main_window.browser
    assert browser.tree_root == str(Path.home())
    first, second = tmp_path / "a" / "one", tmp_path / "b" / "two"
    first.mkdir(parents=True)
    second.mkdir(parents=True)
    browser.show_path(str(first))
    tree, model = browser.file_tree, browser.fs_model
    assert tree.isExpanded(model.index(str(first.parent)))
    browser.show_path(str(second))
    assert tree.isExpanded(model.index(str(second.parent)))
    assert not tree.isExpanded(model.index(str(first.parent)))
    shutil.rmtree(tmp_path / "a")


def test_file_tree_names_its_folder_goes_up_and_says_when_a_folder_is_empty(
        qtbot, main_window, tmp_path):
    browser = main_window.browser
    empty, full = tmp_path / "empty", tmp_path / "full"
    empty.mkdir()
    (full / "model").mkdir(parents=True)
    (full / "model" / "config.json").write_text("{}")
    browser.set_tree_root(str(empty))
    assert browser.root_label.toolTip() == str(empty)
    qtbot.waitUntil(lambda: not browser.tree_empty.isHidden(), timeout=TIMEOUT)
    browser.up_button.click()
    assert browser.tree_root == str(tmp_path)
    qtbot.waitUntil(lambda: browser.tree_empty.isHidden(), timeout=TIMEOUT)
    browser.set_tree_root(str(full))
    qtbot.waitUntil(lambda: browser.fs_model.rowCount(browser.file_tree.rootIndex()) == 1,
                    timeout=TIMEOUT)
    assert browser.tree_empty.isHidden()
    browser.set_tree_root(str(empty))  # listed before: known empty without a new listing
    assert not browser.tree_empty.isHidden()
    browser.set_tree_root("/")
    assert not browser.up_button.isEnabled()


def test_overview_shows_parameters_and_stored_buffers_apart(qtbot, main_window, minilm_path):
    from workbench.qt.checkpoint_tab import _parameters_text

    main_window.open_checkpoint(str(minilm_path))
    qtbot.waitUntil(lambda: main_window.tabs.count() >= 1, timeout=TIMEOUT)
    info = main_window.tabs.currentWidget().info
    text = _parameters_text(info)
    assert text.startswith("22.7") and "22,713,216" in text
    assert f"{info.num_parameters:,} stored elements (+512" in text  # position_ids, I64


def test_revert_arrow_restores_the_checkpoints_value_not_the_class_default(
        qtbot, main_window, tiny_models):
    main_window.open_checkpoint(str(tiny_models["bert"]))
    qtbot.waitUntil(lambda: main_window.tabs.count() >= 1, timeout=TIMEOUT)
    view = main_window.tabs.currentWidget().show_view("Edit config")
    qtbot.waitUntil(lambda: view.panel.ready, timeout=TIMEOUT)
    panel, row = view.panel, view.panel.form.rows["intermediate_size"]
    assert not row.reset.isEnabled()  # nothing to revert yet
    row.editor.setValue(96)
    assert panel.values["intermediate_size"] == 96 and row.reset.isEnabled()
    row.reset.click()
    assert panel.values["intermediate_size"] == 64  # the checkpoint's, not BERT's 3072
    row.default_label.click()
    assert panel.values["intermediate_size"] == 3072  # the class default, on request
    qtbot.waitUntil(lambda: panel.ready, timeout=TIMEOUT)


@pytest.mark.parametrize("size", [(1024, 700), (1440, 900)])
def test_no_view_resizes_the_window(qtbot, main_window, minilm_path, size):
    """Every page of a checkpoint's tab, the Fine-tune pages included, fits the window as it
    is: none widens or heightens it (opening Fine-tune once widened 1024x700 to 1228x700)."""
    from PySide6.QtWidgets import QApplication

    main_window.resize(*size)
    main_window.open_checkpoint(str(minilm_path))
    qtbot.waitUntil(lambda: main_window.tabs.count() >= 1, timeout=TIMEOUT)
    tab = main_window.tabs.currentWidget()
    for index in range(tab.count()):
        name = tab.tabText(index)
        view = tab.show_view(name)
        QApplication.processEvents()
        assert (main_window.width(), main_window.height()) == size, name
        pages = getattr(view, "pages", None)
        for page in range(pages.count() if pages is not None else 0):
            pages.setCurrentIndex(page)
            QApplication.processEvents()
            assert (main_window.width(), main_window.height()) == size, (name, page)
        assert main_window.minimumSizeHint().width() <= size[0], name
    view = tab.views["Fine-tune"]
    view.state_label.setText("Pausing at the next step... " * 4)  # long state text
    QApplication.processEvents()
    assert (main_window.width(), main_window.height()) == size


def test_a_new_window_fits_the_screen(main_window):
    area = main_window.screen().availableGeometry()
    assert main_window.width() <= area.width() and main_window.height() <= area.height()
