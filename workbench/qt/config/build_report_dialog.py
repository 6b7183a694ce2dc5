"""What happened to every tensor when a model was built: loaded, missing, unexpected, mismatched."""

from __future__ import annotations

import html

from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QLabel,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
)

from workbench.core.units import human_count
from workbench.qt.common.dialogs import fit_to_screen


class BuildReportDialog(QDialog):
    """A BuildResult as a summary line and four expandable lists."""

    def __init__(self, result, parent=None):
        super().__init__(parent)
        self.result = result
        self.setWindowTitle("Build report")
        fit_to_screen(self, 860, 560)
        report = result.report
        summary = (f"<b>{html.escape(result.model_class)}</b>, {human_count(result.num_parameters)}"
                   f" parameters ({result.num_parameters:,}), {result.dtype} on {result.device}, "
                   f"seed {result.seed}<br>Saved to <code>{html.escape(result.path)}</code>: "
                   f"{html.escape(', '.join(result.files))}")
        if report is not None:
            summary += (f"<br><br>{len(report.loaded)} loaded from the checkpoint, "
                        f"{len(report.missing)} missing (initialised fresh), "
                        f"{len(report.unexpected)} unexpected (dropped), "
                        f"{len(report.mismatched)} with a different shape.")
        label = QLabel(summary)
        label.setWordWrap(True)
        self.tree = QTreeWidget()
        self.tree.setHeaderLabels(["Tensor", "What happened"])
        self.tree.setColumnWidth(0, 420)
        self.sections: dict[str, QTreeWidgetItem] = {}
        if report is not None:
            self._section("Mismatched", [(n, report.how.get(n, f"{list(s)} -> {list(e)}"))
                                         for n, s, e in report.mismatched])
            self._section("Missing", [(n, report.how.get(n, "initialised"))
                                      for n in report.missing])
            self._section("Unexpected", [(n, "stored, not used by the new model: dropped")
                                         for n in report.unexpected])
            self._section("Loaded", [(n, "copied from the checkpoint") for n in report.loaded])
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.close)
        layout = QVBoxLayout(self)
        layout.addWidget(label)
        layout.addWidget(self.tree, 1)
        layout.addWidget(buttons)

    def _section(self, title: str, rows: list[tuple[str, str]]) -> None:
        item = QTreeWidgetItem([f"{title} ({len(rows)})", ""])
        for name, how in rows:
            child = QTreeWidgetItem(item, [name, how])
            child.setToolTip(1, how)
        self.tree.addTopLevelItem(item)
        item.setExpanded(0 < len(rows) <= 60 and title != "Loaded")
        self.sections[title] = item

    def names(self, title: str) -> list[str]:
        """Tensor names listed under a section."""
        item = self.sections[title]
        return [item.child(i).text(0) for i in range(item.childCount())]
