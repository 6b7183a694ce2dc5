"""The File menu entry of the Hub download (kept light: the dialog is built on first use)."""

from __future__ import annotations

from typing import Any

from PySide6.QtGui import QAction, QKeySequence


def install_hub_actions(window: Any) -> None:
    """Add File > "Download from Hub..." to the main window."""
    action = QAction("Download from &Hub...", window)
    action.setToolTip("Preview and download a model from the Hugging Face Hub into the HF cache")
    action.setShortcut(QKeySequence("Ctrl+Shift+H"))
    action.triggered.connect(lambda: open_hub_dialog(window))
    window.menus["File"].insertAction(window.feature_actions_anchor, action)
    window.hub_download_action = action


def open_hub_dialog(window: Any) -> Any:
    """Show the (one) download dialog; a finished download opens in a tab and in the cache list."""
    from workbench.qt.hub.dialog import HubDownloadDialog

    dialog = getattr(window, "hub_dialog", None)
    if dialog is None:
        dialog = HubDownloadDialog(window.runner, window)
        dialog.downloaded.connect(lambda result: _on_downloaded(window, result))
        window.hub_dialog = dialog
    dialog.show()
    dialog.raise_()
    return dialog


def _on_downloaded(window: Any, result: Any) -> None:
    window.open_checkpoint(result.snapshot_path)
    window.browser.refresh_cache()
