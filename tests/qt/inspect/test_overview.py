"""The Overview: parameters and buffers apart, breakdown, warnings banner and badge, actions."""

from __future__ import annotations

from workbench.qt.checkpoint_tab import warning_badge


def _open(qtbot, window, path):
    with qtbot.waitSignal(window.checkpointOpened, timeout=60_000) as blocker:
        window.open_checkpoint(str(path))
    return blocker.args[0]


def test_minilm_overview_shows_buffers_apart_and_breakdown(qtbot, main_window, minilm_path):
    tab = _open(qtbot, main_window, minilm_path)
    text = tab.overview.label.text()
    assert ("22.7 M (22,713,216) + 512 buffer elements (embeddings.position_ids); "
            "22,713,728 stored elements") in text
    assert text.count("Parameters") == 1
    assert "6 blocks" in text and "embeddings 11.9 M" in text
    assert tab.badge_text == warning_badge(len(tab.info.warnings))
    tab.overview.buttons["Graph"].click()
    assert tab.tabText(tab.currentIndex()) == "Graph"


def test_badge_counts_warnings(qtbot, main_window, tmp_path):
    (tmp_path / "config.json").write_text('{"model_type": "bert", "hidden_size": 32, '
                                          '"num_hidden_layers": 1, "num_attention_heads": 2, '
                                          '"intermediate_size": 37, "vocab_size": 99}')
    tab = _open(qtbot, main_window, tmp_path)
    assert not tab.overview.buttons["Inspect attention"].isEnabled()  # config only
    n = len(tab.info.warnings)
    assert tab.badge_text == (f"\u26a0 {n}" if n else "")
    if n:
        assert not tab.tabIcon(0).isNull() and f"{n} warning(s)" in tab.tabToolTip(0)
        index = main_window.tabs.indexOf(tab)
        assert f"{n} warning(s)" in main_window.tabs.tabToolTip(index)
    assert warning_badge(3) == "\u26a0 3" and warning_badge(0) == ""
