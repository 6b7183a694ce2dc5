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
    assert "2 model(s)" in page.cache_status.text()
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
