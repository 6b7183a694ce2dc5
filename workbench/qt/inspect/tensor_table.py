"""The tensor table: a QAbstractTableModel over TensorInfo rows, sortable and filterable."""

from __future__ import annotations

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QSortFilterProxyModel, Qt
from PySide6.QtWidgets import QHeaderView, QLabel, QLineEdit, QTableView, QVBoxLayout, QWidget

from workbench.core.checkpoint.tensors import TensorInfo
from workbench.core.units import human_bytes

COLUMNS = ("Name", "DType", "Shape", "Elements", "Bytes", "Shard")
FIT_SAMPLE = 2_000  # rows read to size the columns (~5 ms)


def display_texts(t: TensorInfo) -> tuple[str, ...]:
    """A tensor's row as shown, one text per column of COLUMNS."""
    return (t.name, t.dtype, " x ".join(map(str, t.shape)) or "scalar", f"{t.numel:,}",
            human_bytes(t.nbytes), t.shard)


class TensorTableModel(QAbstractTableModel):
    """Rows are stored tensors; sort keys are the raw numbers, display text is human."""

    def __init__(self, tensors: tuple[TensorInfo, ...], parent=None):
        super().__init__(parent)
        self._rows = tensors

    def rowCount(self, parent=QModelIndex()) -> int:  # noqa: B008 (Qt signature)
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent=QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(self, section, orientation, role=Qt.ItemDataRole.DisplayRole):
        if role == Qt.ItemDataRole.DisplayRole and orientation == Qt.Orientation.Horizontal:
            return COLUMNS[section]
        return None

    def data(self, index, role=Qt.ItemDataRole.DisplayRole):
        if not index.isValid():
            return None
        t, col = self._rows[index.row()], index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            return display_texts(t)[col]
        if role == Qt.ItemDataRole.ToolTipRole and col == 0:
            return t.name  # whole, where the column elides it
        if role == Qt.ItemDataRole.UserRole:  # sort key
            return (t.name, t.dtype, t.numel, t.numel, t.nbytes, t.shard)[col]
        if role == Qt.ItemDataRole.TextAlignmentRole and col in (3, 4):
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None

    def tensor(self, row: int) -> TensorInfo:
        return self._rows[row]


class TensorFilterModel(QSortFilterProxyModel):
    """Filters on the tensor name (case-insensitive substring; several words must all match)."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setSortRole(Qt.ItemDataRole.UserRole)
        self._words: list[str] = []

    def set_filter_text(self, text: str) -> None:
        self.beginFilterChange()
        self._words = text.lower().split()
        self.endFilterChange()

    def filterAcceptsRow(self, row: int, parent) -> bool:
        if not self._words:
            return True
        name = self.sourceModel().tensor(row).name.lower()
        return all(w in name for w in self._words)


class TensorTableView(QWidget):
    """Filter box + table + a count of what is shown."""

    def __init__(self, tensors: tuple[TensorInfo, ...], parent=None):
        super().__init__(parent)
        self.model = TensorTableModel(tensors, self)
        self.proxy = TensorFilterModel(self)
        self.proxy.setSourceModel(self.model)
        self.filter_edit = QLineEdit(
            placeholderText="Filter tensors by name (e.g. 'layers.0 attn')")
        self.filter_edit.setClearButtonEnabled(True)
        self.table = QTableView()
        self.table.setModel(self.proxy)
        # No sort indicator before enabling sorting: otherwise Qt sorts every row on open.
        self.table.horizontalHeader().setSortIndicator(-1, Qt.SortOrder.AscendingOrder)
        self.table.setSortingEnabled(True)
        self.table.setAlternatingRowColors(True)
        self.table.verticalHeader().setVisible(False)
        self.table.verticalHeader().setDefaultSectionSize(22)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        # The names take what the other columns leave (elided in the middle: both ends of
        # "encoder.layer.0....weight" matter); those are as wide as their widest text. A fixed
        # 420 px name column pushed Elements, Bytes and Shard off a 1024 px window.
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        header.setStretchLastSection(False)
        self.table.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        self._fit_columns(tensors)
        self.count_label = QLabel()
        layout = QVBoxLayout(self)
        layout.addWidget(self.filter_edit)
        layout.addWidget(self.table)
        layout.addWidget(self.count_label)
        self.filter_edit.textChanged.connect(self._on_filter_edit_textChanged)
        self._update_count()

    def _fit_columns(self, tensors: tuple[TensorInfo, ...]) -> None:
        """Columns after the name as wide as their widest text, read from a bounded sample
        (a hostile header can list 200,000 tensors; this runs on the GUI thread)."""
        sample = tensors[:FIT_SAMPLE]
        metrics = self.table.fontMetrics()
        header = self.table.horizontalHeader()
        rows = [display_texts(t) for t in sample]
        for column in range(1, len(COLUMNS)):
            texts = {row[column] for row in rows}
            widest = max((metrics.horizontalAdvance(t) for t in texts), default=0)
            header_width = metrics.horizontalAdvance(COLUMNS[column]) + 24  # the sort arrow
            header.resizeSection(column, max(widest + 16, header_width))

    def _on_filter_edit_textChanged(self, text: str) -> None:
        self.proxy.set_filter_text(text)
        self._update_count()

    def _update_count(self) -> None:
        shown, total = self.proxy.rowCount(), self.model.rowCount()
        self.count_label.setText(f"{shown:,} of {total:,} tensors" if shown != total
                                 else f"{total:,} tensors")
