"""The module tree: class, parameter counts and a share-of-total bar per module."""

from __future__ import annotations

from PySide6.QtCore import QRect, Qt
from PySide6.QtGui import QColor, QPainter
from PySide6.QtWidgets import (
    QHeaderView,
    QStyledItemDelegate,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from workbench.core.model.architecture import ModuleNode
from workbench.core.units import human_count

SHARE_ROLE = Qt.ItemDataRole.UserRole + 1
SHARE_COLUMN_PX = 110


class _ShareBarDelegate(QStyledItemDelegate):
    """Draws the share of total parameters as a horizontal bar behind the percentage."""

    def paint(self, painter: QPainter, option, index) -> None:
        share = index.data(SHARE_ROLE) or 0.0
        rect: QRect = option.rect.adjusted(2, 3, -2, -3)
        painter.save()
        painter.fillRect(QRect(rect.left(), rect.top(), int(rect.width() * share), rect.height()),
                         QColor(90, 150, 230, 160))
        painter.restore()
        super().paint(painter, option, index)


class ModuleTreeView(QWidget):
    """A tree of ModuleNode; children are created when a branch is first expanded."""

    def __init__(self, root: ModuleNode | None, parent=None):
        super().__init__(parent)
        self.tree = QTreeWidget()
        self.tree.setHeaderLabels(["Module", "Class", "Own params", "Total params", "Share"])
        self.tree.setItemDelegateForColumn(4, _ShareBarDelegate(self.tree))
        # The names take the room left; class and counts are as wide as their text and the
        # share bar fixed: at 1024 px fixed 320 + 200 px columns pushed Share off the right edge.
        header = self.tree.header()
        header.setStretchLastSection(False)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        for column in (1, 2, 3):
            header.setSectionResizeMode(column, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(4, QHeaderView.ResizeMode.Fixed)
        header.resizeSection(4, SHARE_COLUMN_PX)
        header.setMinimumSectionSize(60)
        self.tree.setUniformRowHeights(True)
        self._nodes: dict[int, ModuleNode] = {}
        self._total = max(root.num_parameters, 1) if root else 1
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.tree)
        self.tree.itemExpanded.connect(self._on_tree_itemExpanded)
        if root is not None:
            item = self._make_item(root, "(model)")
            self.tree.addTopLevelItem(item)
            item.setExpanded(True)

    def _make_item(self, node: ModuleNode, label: str | None = None) -> QTreeWidgetItem:
        share = node.num_parameters / self._total
        item = QTreeWidgetItem([label or node.name, node.class_name,
                                human_count(node.own_parameters),
                                human_count(node.num_parameters), f"{share:.1%}"])
        item.setData(4, SHARE_ROLE, share)
        item.setToolTip(0, node.path or "(root)")
        item.setToolTip(3, f"{node.num_parameters:,} parameters")
        for col in (2, 3, 4):
            item.setTextAlignment(col, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        self._nodes[id(item)] = node
        if node.children:
            item.setChildIndicatorPolicy(QTreeWidgetItem.ChildIndicatorPolicy.ShowIndicator)
        return item

    def _on_tree_itemExpanded(self, item: QTreeWidgetItem) -> None:
        if item.childCount():
            return
        node = self._nodes.get(id(item))
        if node:
            item.addChildren([self._make_item(c) for c in node.children])

    def expand_path(self, path: str) -> QTreeWidgetItem | None:
        """Expand down to the module with this qualified name and select it."""
        item = self.tree.topLevelItem(0)
        parts = path.split(".") if path else []
        for part in parts:
            if item is None:
                return None
            item.setExpanded(True)
            item = next((item.child(i) for i in range(item.childCount())
                         if item.child(i).text(0) == part), None)
        if item is not None:
            self.tree.setCurrentItem(item)
        return item
