"""Side panels of the config editor: the live size estimate and the diff against the original."""

from __future__ import annotations

import html

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QHeaderView,
    QLabel,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from workbench.core.config.rules import Issue
from workbench.core.config.schema import to_json_text
from workbench.core.units import human_bytes, human_count


class EstimatePanel(QWidget):
    """Parameter count, weights memory and fine-tuning memory of the edited config."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.label = QLabel("Estimating...")
        self.label.setWordWrap(True)
        self.label.setMinimumHeight(130)  # rich-text height-for-width is not always honoured
        self.status = QLabel()
        self.status.setStyleSheet("color:#888")
        self.status.setWordWrap(True)  # a narrow panel (1024 px window) cut it mid-word
        self.problems = QLabel()
        self.problems.setWordWrap(True)
        self.problems.hide()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.label)
        layout.addWidget(self.problems)
        layout.addWidget(self.status)
        self.num_parameters: int | None = None

    def show_busy(self) -> None:
        self.status.setText("Updating estimate...")

    def show_estimate(self, estimate, original_parameters: int | None, elapsed_ms: float) -> None:
        """Show an Estimate (None: the config cannot be built, so no size)."""
        if estimate is None:
            self.num_parameters = None
            self.label.setText("<b>No estimate</b>: fix the errors first.")
            self.status.setText("")
            return
        n = estimate.num_parameters
        self.num_parameters = n
        delta = ""
        if original_parameters:
            diff = n - original_parameters
            if diff:
                delta = (f" <span style='color:{'#2e7d32' if diff < 0 else '#b35900'}'>"
                         f"({'+' if diff > 0 else '-'}{human_count(abs(diff))} vs original "
                         f"{human_count(original_parameters)})</span>")
        m = estimate.memory
        rows = [("Model", html.escape(estimate.model_class)),
                ("Parameters", f"<b>{human_count(n)}</b> ({n:,}){delta}"),
                ("Weights fp32", human_bytes(m.fp32)), ("Weights bf16", human_bytes(m.bf16)),
                ("Full fine-tune, AdamW mixed", f"{human_bytes(m.adamw_mixed)} before "
                 f"activations"),
                ("Full fine-tune, AdamW fp32", human_bytes(m.adamw_fp32))]
        self.label.setText("<table cellspacing='3'>" + "".join(
            f"<tr><td style='color:#666;padding-right:10px'>{k}</td><td>{v}</td></tr>"
            for k, v in rows) + "</table>")
        self.status.setText(f"Updated {elapsed_ms:.0f} ms after the edit "
                            f"(meta-device build {estimate.seconds * 1000:.0f} ms)")

    def show_config_issues(self, issues: list[Issue]) -> None:
        """Issues that belong to no single field (shown here, not inline)."""
        if not issues:
            self.problems.hide()
            return
        self.problems.setText("<br>".join(
            f"<span style='color:{'#c62828' if i.severity == 'error' else '#b35900'}'>"
            f"{'&#10006;' if i.severity == 'error' else '&#9888;'} {html.escape(i.message)}"
            f"</span>" for i in issues))
        self.problems.show()


class DiffPanel(QTreeWidget):
    """Changed fields versus the original, and what the change means for the stored weights."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setHeaderLabels(["Change", "Original", "Edited"])
        # the name column takes what is left; values are sized to their contents (never cut
        # to "Edi") within limits, so no horizontal scroll at 1024 wide
        header = self.header()
        header.setStretchLastSection(False)
        header.setMinimumSectionSize(40)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        for column in (1, 2):
            header.setSectionResizeMode(column, QHeaderView.ResizeMode.ResizeToContents)
        self.setTextElideMode(Qt.TextElideMode.ElideRight)
        self.setRootIsDecorated(True)
        self.setAlternatingRowColors(True)

    def show_diff(self, changes, comparison, has_weights: bool) -> None:
        """Show FieldChanges and a WeightsComparison (None when the model cannot be built)."""
        self.clear()
        fields = QTreeWidgetItem([f"Changed fields ({len(changes)})", "", ""])
        for c in changes:
            QTreeWidgetItem(fields, [c.name, _short(c.old), _short(c.new)])
        self.addTopLevelItem(fields)
        fields.setFirstColumnSpanned(True)  # section titles use the whole width
        fields.setExpanded(True)
        if comparison is None:
            if has_weights:
                unknown = QTreeWidgetItem(["Stored weights: unknown until the config is valid",
                                           "", ""])
                self.addTopLevelItem(unknown)
                unknown.setFirstColumnSpanned(True)
            return
        weights = QTreeWidgetItem([f"Stored weights: {len(comparison.matched)} still fit", "",
                                   ""])
        self.addTopLevelItem(weights)
        weights.setFirstColumnSpanned(True)
        sections = [
            (f"Change shape ({len(comparison.mismatched)})",
             [(n, str(list(s)), str(list(e))) for n, s, e in comparison.mismatched]),
            (f"New, initialised fresh ({len(comparison.missing)})",
             [(n, "-", "new") for n in comparison.missing]),
            (f"No longer used, dropped ({len(comparison.unexpected)})",
             [(n, "stored", "-") for n in comparison.unexpected]),
            (f"Stored buffers, ignored by transformers ({len(comparison.ignored)})",
             [(n, "stored", "-") for n in comparison.ignored]),
        ]
        for title, rows in sections:
            item = QTreeWidgetItem(weights, [title, "", ""])
            item.setFirstColumnSpanned(True)
            for row in rows[:500]:  # a 70B rebuild can list thousands; the count says how many
                QTreeWidgetItem(item, list(row))
            item.setExpanded(0 < len(rows) <= 12)
        weights.setExpanded(True)

    def section_counts(self) -> dict[str, int]:
        """Child counts by section title prefix, for tests and screenshots."""
        out: dict[str, int] = {}

        def visit(item: QTreeWidgetItem) -> None:
            if " (" in item.text(0):
                out[item.text(0).split(" (")[0]] = item.childCount()
            for i in range(item.childCount()):
                visit(item.child(i))

        for i in range(self.topLevelItemCount()):
            visit(self.topLevelItem(i))
        return out


def _short(value, limit: int = 40) -> str:
    text = to_json_text(value)
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"
