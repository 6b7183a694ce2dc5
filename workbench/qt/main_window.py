"""The main window: browser dock, one tab per open checkpoint, menus and the status bar."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QSettings, Qt, QTimer, Signal
from PySide6.QtGui import (
    QAction,
    QCloseEvent,
    QDragEnterEvent,
    QDropEvent,
    QKeySequence,
)
from PySide6.QtWidgets import (
    QFileDialog,
    QLabel,
    QMainWindow,
    QProgressBar,
    QPushButton,
    QStackedWidget,
    QStyle,
    QTabWidget,
)

from workbench.core.checkpoint.hf_cache import display_name
from workbench.core.errors import WorkbenchError
from workbench.qt.browser.dock import BrowserDock
from workbench.qt.browser.start_page import StartPage
from workbench.qt.common.dialogs import fit_to_screen, show_error
from workbench.qt.common.tasks import Task, TaskRunner

MAX_RECENT = 12
VIEW_TITLES = ("Overview", "Tensors", "Config", "Modules", "Edit config", "Graph", "Attention",
               "Fine-tune")  # the tabs of a CheckpointTab, in its order


def _inspect(path: str, progress=None):
    """Worker-side: import the core lazily so the window shows before torch is loaded."""
    from workbench.core.checkpoint.inspection import inspect_checkpoint

    return inspect_checkpoint(path, progress=progress)


def _device_summary() -> str:
    """Compute devices and library versions for the status bar (imports torch: run in a worker)."""
    import gc

    import torch
    import transformers

    from workbench.core.devices import available_devices

    # torch and transformers leave ~1M long-lived objects; moving them out of the collector's
    # view removes 0.5-0.8 s full-collection pauses that would otherwise hit the GUI thread.
    # (No gc.collect() first: freezing is O(1), a collection here would itself pause the GUI.)
    gc.freeze()
    found = available_devices()  # cpu first; the status line names accelerators first
    devices = [d.label for d in found[1:]] + [d.label for d in found[:1]]
    return (f"Devices: {', '.join(devices)}   ·   torch {torch.__version__}   ·   "
            f"transformers {transformers.__version__}")


CENTRAL_MIN_WIDTH = 480  # px: with the dock's default width, fits a 1024-wide window
NARROW_WINDOW = 1024  # px: below it the dock starts narrower than its own width (~264 px)
NARROW_DOCK_SHARE = 0.22  # its share of such a window (never less than its tabs need)


class MainWindow(QMainWindow):
    """Opens checkpoints (menus, dock, start page, drag and drop) into tabs."""

    checkpointOpened = Signal(object)  # the CheckpointTab
    openFailed = Signal(str)

    def __init__(self, settings: QSettings | None = None, parent=None):
        super().__init__(parent)
        self.setWindowTitle("Transformer Workbench")
        fit_to_screen(self, 1400, 880)
        self.setAcceptDrops(True)
        self.settings = settings or QSettings("TransformerWorkbench", "workbench")
        self.runner = TaskRunner(self)
        self._opening: dict[str, Task] = {}

        self.tabs = QTabWidget()
        self.tabs.setTabsClosable(True)
        self.tabs.setMovable(True)
        self.tabs.tabCloseRequested.connect(self.close_tab)
        self.start_page = StartPage()
        self.stack = QStackedWidget()
        self.stack.addWidget(self.start_page)
        self.stack.addWidget(self.tabs)
        self.setCentralWidget(self.stack)
        # An explicit minimum: a view's own minimum width (Attention's Compare row, wide forms)
        # no longer makes the main window shrink the Checkpoints dock to fit it (issue 12).
        self.stack.setMinimumWidth(CENTRAL_MIN_WIDTH)

        self.browser = BrowserDock(self)
        self.addDockWidget(Qt.DockWidgetArea.LeftDockWidgetArea, self.browser)
        self.browser.openRequested.connect(self.open_checkpoint)
        self.start_page.openFolderClicked.connect(self.open_folder_dialog)
        self.start_page.openFileClicked.connect(self.open_file_dialog)
        self.start_page.demoClicked.connect(self.open_demo)
        self.start_page.cacheClicked.connect(self._on_start_page_cacheClicked)
        self.start_page.recentActivated.connect(self.open_checkpoint)

        from workbench.qt.window_requests import install_requests

        install_requests(self)  # feature views ask for other views through it
        self._build_menus()
        self._build_status_bar()
        self._refresh_recent()
        self._dock_width_chosen = False  # once, at the first show: _narrow_dock_on_small_screens
        self._narrowed_dock_width: int | None = None  # the width it set, while not resized since
        self._wide_dock_width = 0
        self._restore_window_state()

    # -- construction ------------------------------------------------------------------------------
    def _build_menus(self) -> None:
        bar = self.menuBar()
        self.menus = {name: bar.addMenu(f"&{name}") for name in ("File", "Edit", "View", "Tools",
                                                                 "Help")}
        file_menu = self.menus["File"]
        self._action(file_menu, "Open &Folder...", self.open_folder_dialog, QKeySequence.Open)
        self._action(file_menu, "Open &File...", self.open_file_dialog, "Ctrl+Shift+O")
        self._action(file_menu, "Open &Demo Model", self.open_demo, "Ctrl+D")
        self.recent_menu = file_menu.addMenu("Open &Recent")
        file_menu.addSeparator()
        self.feature_actions_anchor = file_menu.addSeparator()
        self._action(file_menu, "&Close Tab", lambda: self.close_tab(self.tabs.currentIndex()),
                     QKeySequence.Close)
        # "Ctrl+Q" rather than QKeySequence.Quit, which some platform themes leave empty
        self._action(file_menu, "&Quit", self.close, "Ctrl+Q")
        browser_action = self.browser.toggleViewAction()
        browser_action.setShortcut(QKeySequence("Ctrl+B"))
        self.menus["View"].addAction(browser_action)
        self.menus["View"].addSeparator()
        for n, title in enumerate(VIEW_TITLES, start=1):  # every view of a tab, Alt+1..Alt+8
            self._action(self.menus["View"], title, lambda _c=False, t=title: self.show_view(t),
                         f"Alt+{n}")
        self.open_log_action = self._action(self.menus["Help"], "Open &Log Folder",
                                            self.open_log_folder, "Ctrl+Shift+L")
        self._action(self.menus["Help"], "&About", self._show_about, QKeySequence.HelpContents)
        from workbench.qt.train.actions import install_train_actions

        install_train_actions(self)
        self.finetune_demo_action.setShortcut(QKeySequence("Ctrl+Shift+F"))
        from workbench.qt.config.actions import install_config_actions

        install_config_actions(self)
        from workbench.qt.hub.actions import install_hub_actions

        install_hub_actions(self)
        from workbench.qt.deploy.actions import install_deploy_actions

        install_deploy_actions(self)

    def _action(self, menu, text: str, slot, shortcut=None) -> QAction:
        action = QAction(text, self)
        if shortcut is not None:
            action.setShortcut(QKeySequence(shortcut))
        action.triggered.connect(slot)
        menu.addAction(action)
        return action

    def _build_status_bar(self) -> None:
        self.progress = QProgressBar()
        self.progress.setRange(0, 0)
        self.progress.setMaximumWidth(160)
        self.progress.hide()
        self.progress_label = QLabel()
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.hide()
        self.cancel_button.clicked.connect(self._on_cancel_button_clicked)
        self.device_label = QLabel("Devices: detecting...")
        status = self.statusBar()
        status.addWidget(self.progress_label)
        status.addWidget(self.progress)
        status.addWidget(self.cancel_button)
        status.addPermanentWidget(self.device_label)

    def start_background_checks(self) -> None:
        """Import the views' modules off the GUI thread, then fill the device label."""
        from workbench.qt.common.prewarm import start_prewarm

        start_prewarm(self.runner)  # the first Attention/Graph tab opens faster
        self.runner.start(_device_summary, on_success=self.device_label.setText,
                          on_error=lambda msg, _d: self.device_label.setText(f"Devices: {msg}"))

    # -- opening ---------------------------------------------------------------------------------
    def open_folder_dialog(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Open checkpoint folder", self._last_dir())
        if path:
            self.open_checkpoint(path)

    def open_file_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, "Open checkpoint file", self._last_dir(),
            "Checkpoints (*.safetensors *.bin *.pt *.pth *.json);;All files (*)")
        if path:
            self.open_checkpoint(path)

    def open_demo(self) -> None:
        from workbench.core.model.loading import demo_checkpoint_path

        try:
            self.open_checkpoint(str(demo_checkpoint_path()))
        except WorkbenchError as e:
            show_error(self, "Demo model not installed", str(e))

    def _on_start_page_cacheClicked(self) -> None:
        self.browser.show()
        self.browser.tabs.setCurrentIndex(1)
        self.browser.refresh_cache()

    def open_checkpoint(self, path: str) -> Task | None:
        """Inspect `path` in a worker, then add a tab (or focus the existing one)."""
        path = str(Path(path).expanduser())
        for i in range(self.tabs.count()):
            if self.tabs.widget(i).info.path == str(Path(path).resolve()):
                self.tabs.setCurrentIndex(i)
                self.stack.setCurrentWidget(self.tabs)
                return None
        if path in self._opening:
            return self._opening[path]
        task = self.runner.start(
            _inspect, path,
            on_success=self._on_inspect_succeeded,
            on_error=lambda msg, details: self._on_inspect_failed(path, msg, details),
            on_progress=lambda msg: self.progress_label.setText(f"{Path(path).name}: {msg}..."))
        task.finished.connect(lambda: self._on_task_finished(path))
        self._opening[path] = task
        self._show_busy(True, f"Opening {Path(path).name}...")
        return task

    def _on_inspect_succeeded(self, info) -> None:
        from workbench.qt.checkpoint_tab import CheckpointTab

        # Built in this turn of the event loop, shown in the next: together the two stalled the
        # window 50-90 ms (bench_stalls "overview: open"), each alone stays under ~30 ms.
        tab = CheckpointTab(info, self.runner)
        QTimer.singleShot(0, self, lambda: self._show_opened(tab))

    def _show_opened(self, tab) -> None:
        info = tab.info
        index = self.tabs.addTab(tab, tab.title)
        self.tabs.setTabToolTip(index, info.path)
        if getattr(tab, "badge_text", ""):  # warnings: the same badge as its Overview tab
            self.tabs.setTabIcon(index, tab.badge_icon)
            self.tabs.setIconSize(tab.badge_icon.availableSizes()[0])
            self.tabs.setTabToolTip(index, f"{info.path}\n{len(info.warnings)} warning(s)")
        self.tabs.setCurrentIndex(index)
        self.stack.setCurrentWidget(self.tabs)
        self._remember(info.path)
        self.browser.show_path(info.path)
        self.statusBar().showMessage(
            f"Opened {tab.title}: {info.architecture or info.format}, "
            f"{len(info.warnings)} warning(s)", 8000)
        self.checkpointOpened.emit(tab)

    def _on_inspect_failed(self, path: str, message: str, details: str) -> None:
        self.openFailed.emit(message)
        # For a path that does not exist the message names it; a title made of its last part
        # ("exist" of /does/not/exist) would only confuse.
        title = (f"Could not open {display_name(path)}" if Path(path).exists()
                 else "Could not open the checkpoint")
        show_error(self, title, message, details)

    def _on_task_finished(self, path: str) -> None:
        self._opening.pop(path, None)
        if not self._opening:
            self._show_busy(False)

    def _show_busy(self, busy: bool, text: str = "") -> None:
        self.progress.setVisible(busy)
        self.cancel_button.setVisible(busy)
        self.progress_label.setText(text)

    def _on_cancel_button_clicked(self) -> None:
        for task in self._opening.values():
            task.cancel()
        self._opening.clear()
        self._show_busy(False)
        self.statusBar().showMessage("Cancelled.", 4000)

    # -- tabs --------------------------------------------------------------------------------------
    def show_view(self, title: str):
        """Bring the current checkpoint's view `title` to the front (View menu); or None."""
        tab = self.current_tab()
        return tab.show_view(title) if tab is not None else None

    def current_tab(self):
        """The CheckpointTab in front, or None."""
        return self.tabs.currentWidget()

    def close_tab(self, index: int) -> None:
        if index < 0:
            return
        tab = self.tabs.widget(index)
        confirm = getattr(tab, "confirm_close", None)  # e.g. a fine-tune run in progress
        if confirm and not confirm():
            return
        self.tabs.removeTab(index)
        tab.shutdown()
        tab.deleteLater()
        if self.tabs.count() == 0:
            self.stack.setCurrentWidget(self.start_page)

    # -- recent ---------------------------------------------------------------------------------
    def recent_paths(self) -> list[str]:
        value = self.settings.value("recent", [])
        paths = [value] if isinstance(value, str) else list(value or [])
        return [p for p in paths if Path(p).exists()]

    def _remember(self, path: str) -> None:
        paths = [path] + [p for p in self.recent_paths() if p != path]
        self.settings.setValue("recent", paths[:MAX_RECENT])
        self.settings.setValue("last_dir", str(Path(path).parent))
        self._refresh_recent()

    def _restore_window_state(self) -> None:
        """Window geometry and dock state as the user left them; splitters as they are shown."""
        from workbench.qt.common.splitter_memory import remember_splitters_in

        geometry, state = (self.settings.value(k) for k in ("window/geometry", "window/state"))
        self._dock_width_restored = state is not None
        if state is not None:  # docks first: a hidden dock must not hold the width open
            self.restoreState(state)
        if geometry is not None:
            self.restoreGeometry(geometry)
            # saved on a larger monitor: never wider or taller than this screen
            fit_to_screen(self, self.width(), self.height())
        remember_splitters_in(self.settings)

    def showEvent(self, event) -> None:
        super().showEvent(event)
        if not self._dock_width_chosen:
            self._dock_width_chosen = True
            self._narrow_dock_on_small_screens()

    def _narrow_dock_on_small_screens(self) -> None:
        """On a window narrower than 1024 px (a small screen) the dock starts at a share of the
        width, but wide enough for its three tabs, so the views keep most of the window (at 800
        px: ~205 instead of 264); a layout the user left is restored as it was instead.
        """
        if self._dock_width_restored or self.width() >= NARROW_WINDOW:
            return
        width = max(self.narrow_dock_floor(), int(self.width() * NARROW_DOCK_SHARE))
        if width < self.browser.width():
            self._wide_dock_width = self.browser.width()
            self.resizeDocks([self.browser], [width], Qt.Orientation.Horizontal)
            self._narrowed_dock_width = width

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        # A dock narrowed for a small window gets its width back when the window grows past
        # 1024 px, unless the user has sized it since (then it is theirs).
        narrowed = self._narrowed_dock_width
        if narrowed is not None and self.width() >= NARROW_WINDOW:
            self._narrowed_dock_width = None
            if abs(self.browser.width() - narrowed) <= 2:
                self.resizeDocks([self.browser], [self._wide_dock_width],
                                 Qt.Orientation.Horizontal)

    def narrow_dock_floor(self) -> int:
        """The narrowest dock that shows all its tab titles (tab bar, frame and margins)."""
        tabs = self.browser.tabs
        return tabs.tabBar().sizeHint().width() + 2 * tabs.style().pixelMetric(
            QStyle.PixelMetric.PM_DefaultFrameWidth) + 6

    def _last_dir(self) -> str:
        return str(self.settings.value("last_dir", str(Path.home())))

    def _refresh_recent(self) -> None:
        paths = self.recent_paths()
        self.start_page.set_recent(paths)
        self.browser.set_recent(paths)
        self.recent_menu.clear()
        for n, p in enumerate(paths, start=1):
            action = self.recent_menu.addAction(f"{display_name(p)}    ({p})",
                                                lambda p=p: self.open_checkpoint(p))
            if n <= 9:
                action.setShortcut(QKeySequence(f"Ctrl+Alt+{n}"))
        self.recent_menu.setEnabled(bool(paths))

    # -- drag and drop, close -------------------------------------------------------------------
    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:
        for url in event.mimeData().urls():
            if url.isLocalFile():
                self.open_checkpoint(url.toLocalFile())
        event.acceptProposedAction()

    def closeEvent(self, event: QCloseEvent) -> None:
        for i in range(self.tabs.count()):
            veto = getattr(self.tabs.widget(i), "confirm_close", None)
            if veto and not veto():
                event.ignore()
                return
        self.settings.setValue("window/geometry", self.saveGeometry())
        self.settings.setValue("window/state", self.saveState())
        from workbench.qt.common.splitter_memory import remember_splitters_in

        remember_splitters_in(None)
        while self.tabs.count():
            self.close_tab(0)
        self.runner.shutdown()
        super().closeEvent(event)

    def open_log_folder(self) -> Path:
        """Show the log folder in the file manager (created if needed); returns it."""
        from PySide6.QtCore import QUrl
        from PySide6.QtGui import QDesktopServices

        from workbench.core.logs import log_dir, setup_logging

        # core's folder, not QStandardPaths: the CLI (no Qt) must write to the same place
        setup_logging()
        folder = log_dir()
        folder.mkdir(parents=True, exist_ok=True)
        QDesktopServices.openUrl(QUrl.fromLocalFile(str(folder)))
        return folder

    def _show_about(self) -> None:
        from PySide6.QtWidgets import QMessageBox

        from workbench import __version__

        QMessageBox.about(self, "About Transformer Workbench",
                          f"Transformer Workbench {__version__}\nInspect, edit, graph, probe and "
                          f"fine-tune Transformer checkpoints, offline.")
