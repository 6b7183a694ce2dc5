"""The Fine-tune view opens with Setup in front; its Summary and Runs pages are built when first
shown or first used, in their places, and a shutdown builds neither."""

from __future__ import annotations

TITLES = ["Setup", "Training", "Summary", "Runs"]


def _open(main_window, qtbot, path):
    with qtbot.waitSignal(main_window.checkpointOpened, timeout=60_000) as opened:
        main_window.open_checkpoint(str(path))
    tab = opened.args[0]
    view = tab.show_view("Fine-tune")
    qtbot.waitUntil(lambda: tab.currentWidget() is view)  # a page is placed a turn after made
    return view


def test_summary_and_runs_are_built_when_first_shown_or_used(main_window, qtbot, tiny_models,
                                                             tmp_path):
    from workbench.qt.train.runs_view import RunsView
    from workbench.qt.train.summary import RunSummaryView

    view = _open(main_window, qtbot, tiny_models["bert"])
    assert view._summary is None and view._runs is None  # opening built neither
    assert [view.pages.tabText(i) for i in range(4)] == TITLES
    view.pages.setCurrentIndex(3)  # the user clicks Runs
    assert isinstance(view._runs, RunsView) and view.pages.widget(3) is view._runs
    assert view.pages.currentIndex() == 3 and view._summary is None
    # a caller that needs the Summary gets it built in its place; Runs stays in front
    summary = view.summary
    assert isinstance(summary, RunSummaryView) and view.pages.widget(2) is summary
    assert view.pages.currentIndex() == 3
    assert [view.pages.tabText(i) for i in range(4)] == TITLES
    view.pages.setCurrentWidget(view.summary)
    assert view.pages.currentIndex() == 2 and summary.isVisible()


def test_shutdown_of_a_fresh_view_builds_no_page(main_window, qtbot, tiny_models):
    view = _open(main_window, qtbot, tiny_models["bert"])
    view.shutdown()
    assert view._summary is None and view._runs is None
