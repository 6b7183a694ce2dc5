"""Start page: the HF cache table (rows from a real cache layout), sortable, double-click opens."""

from __future__ import annotations

from PySide6.QtCore import Qt

from tests.conftest import make_fake_hub_cache


def test_cache_table_rows_from_a_hub_cache(qtbot, tiny_models, tmp_path, monkeypatch):
    from workbench.qt.browser.start_page import StartPage

    hub = tmp_path / "hub"
    snap = make_fake_hub_cache(hub, tiny_models["bert"], "acme/tiny-bert")
    make_fake_hub_cache(hub, tiny_models["gpt2"], "acme/tiny-gpt2")
    monkeypatch.setenv("HF_HUB_CACHE", str(hub))
    page = StartPage()
    qtbot.addWidget(page)
    page.scan_cache()  # no window runner: scans inline
    table = page.cache_table
    assert table.rowCount() == 2
    names = sorted(table.item(r, 0).text() for r in range(2))
    assert names == ["acme/tiny-bert", "acme/tiny-gpt2"]
    assert all(table.item(r, 3).text() == "1" for r in range(2))  # one revision each
    assert "2 model(s)" in page.cache_status.text() and table.isVisibleTo(page)
    table.sortItems(0, Qt.SortOrder.AscendingOrder)
    with qtbot.waitSignal(page.recentActivated) as blocker:
        table.cellDoubleClicked.emit(0, 0)
    assert blocker.args[0] == str(snap)


def test_empty_cache_says_what_to_do(qtbot, tmp_path, monkeypatch):
    from workbench.qt.browser.start_page import StartPage

    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "none"))
    page = StartPage()
    qtbot.addWidget(page)
    page.scan_cache()
    assert page.cache_table.rowCount() == 0
    assert "Download from Hub" in page.cache_status.text()
    assert not page.cache_table.isVisibleTo(page)  # no empty table filling half the page


def test_window_scans_a_big_cache_in_a_worker_and_closing_cancels_the_scan(qtbot, tmp_path,
                                                                             monkeypatch):
    from PySide6.QtCore import QSettings

    from tests.core.checkpoint.test_hf_cache_scan import make_big_hub_cache
    from workbench.qt.common.tasks import running_threads
    from workbench.qt.main_window import MainWindow

    hub = tmp_path / "hub"
    ids = make_big_hub_cache(hub, repos=20, files=100)  # 2,000 blobs and 2,000 links
    monkeypatch.setenv("HF_HUB_CACHE", str(hub))
    window = MainWindow(settings=QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat))
    qtbot.addWidget(window)
    window.show()
    page = window.start_page
    assert page.scan_task is not None  # shown: the scan runs in the window's runner
    qtbot.waitUntil(lambda: page.cache_table.rowCount() == 20, timeout=30_000)
    assert sorted(page.cache_table.item(r, 0).text() for r in range(20)) == sorted(ids)
    assert "20 model(s)" in page.cache_status.text()
    page.scan_cache()  # a rescan, still running when the window closes
    task = page.scan_task
    window.close()
    assert task.cancel_event.is_set()
    assert not running_threads()  # joined by the close, not left walking the cache


def test_a_scan_cut_short_says_so_above_the_table(qtbot, tmp_path):
    from tests.core.checkpoint.test_hf_cache_scan import make_big_hub_cache
    from workbench.core.checkpoint.hf_cache import scan_cached_models
    from workbench.qt.browser.start_page import StartPage

    ids = make_big_hub_cache(tmp_path / "hub", repos=20, files=100)
    scan = scan_cached_models(tmp_path / "hub", max_entries=600)
    page = StartPage()
    qtbot.addWidget(page)
    page.set_cache_scan(scan)
    shown = [page.cache_table.item(r, 0).text() for r in range(page.cache_table.rowCount())]
    assert 1 <= len(shown) < 20 and set(shown) == set(ids[:len(shown)])
    status = page.cache_status.text()
    assert "stopped after 600 entries" in status and f"the {len(shown)} most" in status
    assert "more may be in the cache" in status


def test_recent_list_wraps_its_empty_state_and_elides_long_paths(qtbot, tmp_path, monkeypatch):
    """At 1024x700 the Recent pane is ~270 px: the empty text wraps (not cut off behind a
    sideways scroll bar) and a deep HF-cache path is elided inside the row, name on top."""
    from workbench.qt.browser.start_page import StartPage

    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "none"))
    page = StartPage()
    qtbot.addWidget(page)
    page.resize(700, 500)
    page.set_recent([])
    page.show()
    qtbot.waitExposed(page)
    assert page.recent_empty.isVisible() and not page.recent.isVisible()
    assert page.recent_empty.wordWrap()
    assert page.recent_empty.width() < page.recent_empty.fontMetrics().horizontalAdvance(
        page.recent_empty.text())  # it really had to wrap at this width
    deep = str(tmp_path / "hub" / "models--acme--tiny-bert" / "snapshots" / ("a" * 40))
    page.set_recent([deep])
    assert page.recent.isVisible() and not page.recent_empty.isVisible()
    assert page.recent.item(0).text().splitlines() == ["acme/tiny-bert", deep]
    assert page.recent.horizontalScrollBarPolicy() == Qt.ScrollBarPolicy.ScrollBarAlwaysOff
    assert page.recent.textElideMode() == Qt.TextElideMode.ElideMiddle
    assert page.recent.horizontalScrollBar().maximum() == 0 or not \
        page.recent.horizontalScrollBar().isVisible()
