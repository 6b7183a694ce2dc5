"""The main window: open through the API, drag and drop, tensor filtering, errors, clean close."""

from __future__ import annotations

from PySide6.QtCore import QMimeData, QPoint, Qt, QUrl
from PySide6.QtGui import QDropEvent

import workbench.qt.main_window as main_window_module


def _open(qtbot, window, path):
    with qtbot.waitSignal(window.checkpointOpened, timeout=60_000) as blocker:
        window.open_checkpoint(str(path))
    return blocker.args[0]


def test_open_through_the_api(qtbot, main_window, minilm_path):
    assert main_window.stack.currentWidget() is main_window.start_page
    tab = _open(qtbot, main_window, minilm_path)
    assert main_window.stack.currentWidget() is main_window.tabs
    assert tab.info.architecture == "BertModel"
    assert "BertModel" in tab.overview.label.text()
    assert "22.7 M" in tab.overview.label.text()
    assert tab.tensors.model.rowCount() == 104
    root = tab.modules.tree.topLevelItem(0)
    assert root.text(1) == "BertModel"
    assert [root.child(i).text(0) for i in range(root.childCount())] == [
        "embeddings", "encoder", "pooler"]
    assert main_window.recent_paths() == [str(minilm_path)]
    assert main_window.start_page.recent.item(0).data(Qt.ItemDataRole.UserRole) == str(minilm_path)


def test_open_by_drop_event(qtbot, main_window, tiny_models):
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(tiny_models["gpt2"]))])
    event = QDropEvent(QPoint(10, 10), Qt.DropAction.CopyAction, mime,
                       Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    with qtbot.waitSignal(main_window.checkpointOpened, timeout=60_000) as blocker:
        main_window.dropEvent(event)
    assert blocker.args[0].info.model_type == "gpt2"
    assert main_window.tabs.count() == 1


def test_filter_the_tensor_table(qtbot, main_window, minilm_path):
    tab = _open(qtbot, main_window, minilm_path)
    view = tab.tensors
    qtbot.keyClicks(view.filter_edit, "layer.3 attention query")
    shown = [view.proxy.index(r, 0).data() for r in range(view.proxy.rowCount())]
    assert sorted(shown) == ["encoder.layer.3.attention.self.query.bias",
                             "encoder.layer.3.attention.self.query.weight"]
    assert view.count_label.text() == "2 of 104 tensors"
    view.filter_edit.clear()
    assert view.proxy.rowCount() == 104
    view.table.sortByColumn(3, Qt.SortOrder.DescendingOrder)  # elements, numerically
    assert view.proxy.index(0, 0).data() == "embeddings.word_embeddings.weight"


def test_corrupt_file_shows_an_error_dialog(qtbot, main_window, tmp_path, monkeypatch):
    shown = []
    monkeypatch.setattr(main_window_module, "show_error",
                        lambda parent, title, message, details="": shown.append((title, message)))
    bad = tmp_path / "broken.safetensors"
    bad.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json at all}")
    with qtbot.waitSignal(main_window.openFailed, timeout=30_000):
        main_window.open_checkpoint(str(bad))
    [(title, message)] = shown
    assert title == "Could not open broken.safetensors"
    assert "not valid JSON" in message
    assert main_window.tabs.count() == 0
    assert main_window.isVisible()


def test_several_tabs_and_closing_frees_them(qtbot, main_window, tiny_models):
    for family in ("bert", "llama"):
        _open(qtbot, main_window, tiny_models[family])
    assert main_window.tabs.count() == 2
    main_window.open_checkpoint(str(tiny_models["bert"]))  # already open: focuses, no new tab
    assert main_window.tabs.count() == 2
    assert main_window.current_tab().info.model_type == "bert"
    main_window.close_tab(0)
    main_window.close_tab(0)
    assert main_window.stack.currentWidget() is main_window.start_page


def test_no_thread_left_after_closing_mid_open(qtbot, main_window, minilm_path):
    from workbench.qt.common.tasks import running_threads

    main_window.open_checkpoint(str(minilm_path))
    main_window.close()
    assert not running_threads()


def test_window_shows_before_torch_is_imported():
    """Start-up order: the window module and its imports never import torch."""
    import subprocess
    import sys

    code = ("import sys; from PySide6.QtWidgets import QApplication; app = QApplication([]);"
            "from workbench.qt.main_window import MainWindow; w = MainWindow(); w.show();"
            "app.processEvents(); print('torch' in sys.modules, 'transformers' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120, env={**__import__("os").environ,
                                           "QT_QPA_PLATFORM": "offscreen"}).stdout
    assert out.strip().splitlines()[-1] == "False False"


def test_hf_cache_tab_lists_and_opens(qtbot, main_window, tiny_models, tmp_path, monkeypatch):
    from tests.conftest import make_fake_hub_cache

    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    make_fake_hub_cache(tmp_path / "hf" / "hub", tiny_models["llama"], "tiny/llama")
    main_window.start_page.cacheClicked.emit()
    tree = main_window.browser.cache_tree
    qtbot.waitUntil(lambda: tree.topLevelItemCount() == 1, timeout=30_000)
    item = tree.topLevelItem(0)
    assert item.text(0) == "tiny/llama"
    with qtbot.waitSignal(main_window.checkpointOpened, timeout=60_000) as blocker:
        tree.itemActivated.emit(item, 0)
    assert blocker.args[0].info.model_type == "llama"


def test_an_open_request_waits_for_its_tab_and_is_dropped_when_the_open_fails(
        qtbot, main_window, tiny_models, tmp_path, monkeypatch):
    """open_then calls back with the tab it asked for, which is shown a turn after the open task
    finished; a request whose open failed never fires on a later checkpoint's tab."""
    from workbench.qt.common.requests import open_then

    monkeypatch.setattr(main_window_module, "show_error", lambda *args, **kwargs: None)
    called = []
    with qtbot.waitSignal(main_window.openFailed, timeout=30_000):
        open_then(main_window, str(tmp_path / "missing"), lambda tab: called.append("missing"))
    with qtbot.waitSignal(main_window.checkpointOpened, timeout=60_000) as opened:
        open_then(main_window, str(tiny_models["bert"]), called.append)
    assert called == [opened.args[0]]
    open_then(main_window, str(tiny_models["bert"]), called.append)  # already open: at once
    assert called == [opened.args[0]] * 2
