"""File > Download from Hub against a local Hub: preview, download into a tab, cancel."""

from __future__ import annotations

import threading

from tests.fixtures.hub_server import PARAMETERS
from workbench.qt.hub.dialog import PERMILLE


def _open_dialog(qtbot, main_window):
    main_window.hub_download_action.trigger()
    dialog = main_window.hub_dialog
    qtbot.waitUntil(dialog.isVisible, timeout=5_000)
    qtbot.keyClicks(dialog.repo_edit, "tiny/bert")
    return dialog


def test_menu_preview_then_download_opens_a_tab_and_fills_the_cache_list(
        qtbot, main_window, served, tmp_path):
    assert main_window.hub_download_action in main_window.menus["File"].actions()
    dialog = _open_dialog(qtbot, main_window)

    with qtbot.waitSignal(dialog.previewed, timeout=30_000) as blocker:
        dialog.preview_button.click()
    assert blocker.args[0].parameters == PARAMETERS
    assert "152.3 K parameters in 3 file(s)" in dialog.summary.text()
    from workbench.core.units import human_bytes

    bf16 = human_bytes(2 * dialog.preview.parameters)
    assert f"Weights in memory: {bf16} in bf16" in dialog.summary.text()
    assert "This machine: RAM " in dialog.summary.text()
    assert dialog.files_tree.topLevelItemCount() == len(served.repos["tiny/bert"].files)
    assert not [r for r in served.requests if r.method == "GET" and not r.range
                and r.path.endswith(".safetensors")]  # headers only

    dialog.which_combo.setCurrentIndex(1)  # safetensors only
    with qtbot.waitSignal(main_window.checkpointOpened, timeout=60_000) as opened:
        dialog.download_button.click()
    tab = opened.args[0]
    assert tab.info.num_parameters == PARAMETERS
    assert tab.info.path.startswith(str(tmp_path / "hf-cache"))
    assert dialog.file_bar.value() == dialog.overall_bar.value() == PERMILLE
    assert "5 of 5" in dialog.overall_label.text()
    qtbot.waitUntil(lambda: main_window.browser.cache_tree.topLevelItemCount() == 1,
                    timeout=30_000)
    assert main_window.browser.cache_tree.topLevelItem(0).text(0) == "tiny/bert"
    dialog.revision_edit.setText("v2")  # another revision: the preview no longer applies
    assert dialog.preview is None and dialog.files_tree.topLevelItemCount() == 0
    dialog.close()


def test_cancel_stops_a_running_download(qtbot, main_window, served, tmp_path):
    shard = "model-00001-of-00003.safetensors"
    release = threading.Event()
    served.stall[shard] = release
    opened = []
    main_window.checkpointOpened.connect(opened.append)
    dialog = _open_dialog(qtbot, main_window)
    task = dialog.start_download()
    qtbot.waitUntil(lambda: bool(served.file_gets(shard)), timeout=30_000)  # half-way through it
    assert dialog.cancel_button.text() == "Cancel"
    dialog.cancel_button.click()
    release.set()  # the next bytes reach huggingface_hub's loop, which stops there
    qtbot.waitUntil(lambda: not task.running, timeout=30_000)
    assert "Cancelled" in dialog.status.text()
    assert dialog.cancel_button.text() == "Close" and dialog.download_button.isEnabled()
    later = [r for r in served.requests if r.path.endswith("model-00002-of-00003.safetensors")]
    assert not later and not opened
    blobs = tmp_path / "hf-cache" / "models--tiny--bert" / "blobs"
    # config.json, and the shard stopped mid-file: kept as a partial for the next attempt
    partial = sorted(b.name.endswith(".workbench.incomplete") for b in blobs.iterdir())
    assert partial == [False, True]
    dialog.close()


def test_errors_show_inline(qtbot, main_window, served):
    dialog = _open_dialog(qtbot, main_window)
    dialog.repo_edit.setText("nobody/nothing")
    with qtbot.waitSignal(dialog.failed, timeout=30_000) as blocker:
        dialog.download_button.click()
    assert "nobody/nothing was not found" in blocker.args[0]
    assert "was not found" in dialog.status.text()
    dialog.repo_edit.setText("not-a-repo-id")
    dialog.preview_button.click()
    assert "owner/name" in dialog.status.text()
    qtbot.waitUntil(lambda: dialog.task is None, timeout=10_000)
    dialog.close()


def test_one_gguf_file_is_chosen_from_the_preview(qtbot, main_window, served, monkeypatch):
    import workbench.qt.main_window as main_window_module
    from tests.fixtures.hub_server import Repo

    monkeypatch.setattr(main_window_module, "show_error", lambda *args: None)  # not a real GGUF
    served.repos["q/gguf"] = Repo({"m-Q4_K_M.gguf": b"GGUF" + b"\0" * 40,
                                   "m-Q8_0.gguf": b"GGUF" + b"\1" * 80})
    main_window.hub_download_action.trigger()
    dialog = main_window.hub_dialog
    qtbot.keyClicks(dialog.repo_edit, "q/gguf")
    dialog.which_combo.setCurrentIndex(2)  # one GGUF file
    dialog.download_button.click()
    assert "Choose which .gguf file" in dialog.status.text()  # nothing listed before a preview
    with qtbot.waitSignal(dialog.previewed, timeout=30_000):
        dialog.preview_button.click()
    assert [dialog.gguf_combo.itemText(i) for i in range(dialog.gguf_combo.count())] == [
        "m-Q4_K_M.gguf", "m-Q8_0.gguf"]
    dialog.gguf_combo.setCurrentIndex(1)
    with qtbot.waitSignal(dialog.downloaded, timeout=30_000) as blocker:
        dialog.download_button.click()
    assert blocker.args[0].files == ("m-Q8_0.gguf",)
    qtbot.waitUntil(lambda: not main_window._opening, timeout=30_000)
    dialog.close()
