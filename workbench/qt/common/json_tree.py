"""A read-only tree view of a JSON-like value (a config)."""

from __future__ import annotations

import json

from PySide6.QtWidgets import QTreeWidget, QTreeWidgetItem


class JsonTreeView(QTreeWidget):
    """Keys and values of nested dicts/lists, expanded one level."""

    def __init__(self, value, parent=None):
        super().__init__(parent)
        self.setHeaderLabels(["Key", "Value"])
        self.setColumnWidth(0, 300)
        if isinstance(value, dict):
            for key, child in value.items():
                self.addTopLevelItem(self._item(str(key), child))

    def _item(self, key: str, value) -> QTreeWidgetItem:
        if isinstance(value, dict | list):
            item = QTreeWidgetItem([key, f"{len(value)} item(s)"])
            pairs = value.items() if isinstance(value, dict) else enumerate(value)
            item.addChildren([self._item(str(k), v) for k, v in pairs])
            return item
        return QTreeWidgetItem([key, json.dumps(value)])
