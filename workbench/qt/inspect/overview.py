"""The Overview of one checkpoint: warnings first, quick actions, then a dashboard of cards
(Parameters, Memory, Identity, DType mix) that reflow from two columns to one as it narrows.

The numbers come from core (`overview_data`, the CheckpointInfo); this module lays them out
and draws them (charts.py). Devices: RAM at once; GPUs once `set_devices` hands them over
(detecting them imports torch and may initialise CUDA, so CheckpointTab does it in a worker).
"""

from __future__ import annotations

import html
from collections.abc import Sequence

from PySide6.QtCore import QRectF, QSize, Qt, Signal
from PySide6.QtGui import QFont, QPainter, QPalette, QPen
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from workbench.core.checkpoint.inspection import CheckpointInfo
from workbench.core.devices import DeviceInfo, ram_device
from workbench.core.model.overview_data import OverviewData, overview_data
from workbench.core.units import human_bytes, human_count
from workbench.qt.common.labels import ElidedLabel
from workbench.qt.inspect.charts import (
    PART_COLORS,
    MemoryChart,
    StackedBarChart,
    percent,
    segment_colors,
)

QUICK_ACTIONS = (("Inspect attention", "Attention"), ("Fine-tune", "Fine-tune"),
                 ("Graph", "Graph"))
COLUMN_MIN_WIDTH = 430  # px: a card narrower than this goes to one column
WIDE_COLUMN_MIN_WIDTH = 600  # px: three columns only when each card keeps this much
CONTENT_MAX_WIDTH = 2400  # px: three cards of <= 800 px, lines stay readable at 2560 and up
SPACING = 12
CARD_RADIUS = 6  # px


def warning_badge(count: int) -> str:
    """The badge a tab with warnings carries ("⚠ 3"); "" without warnings."""
    return f"\u26a0 {count}" if count else ""


class WrapLabel(QLabel):
    """Rich text that wraps to the width it gets and never asks for more than a little: an
    unbreakable word (a long file name) is clipped rather than widening the window."""

    def __init__(self, text: str = "", parent=None):
        super().__init__(text, parent)
        self.setTextFormat(Qt.TextFormat.RichText)
        self.setWordWrap(True)
        self.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        policy = QSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Minimum)
        policy.setHeightForWidth(True)  # as setWordWrap set it: layouts ask for the height
        self.setSizePolicy(policy)

    def minimumSizeHint(self) -> QSize:
        # Narrow, and one line high: the layout asks heightForWidth for the real height (the
        # default minimum is the height wrapped at the minimum width: a gap below the text).
        hint = super().minimumSizeHint()
        return QSize(min(hint.width(), 120), min(hint.height(), self.fontMetrics().height()))


class Card(QWidget):
    """A titled panel of the dashboard: a rounded box in the palette's base colour.

    It paints its own box: a style sheet on the cards (or their parent) put every label and
    button inside under Qt's style-sheet style, which doubled the Overview's build and first
    show (25 + 27 ms vs 13 + 16 ms for MiniLM, measured offscreen)."""

    def __init__(self, title: str, parent=None):
        super().__init__(parent)
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Maximum)
        self.title = QLabel(title)
        font = QFont(self.title.font())
        font.setBold(True)
        font.setPointSizeF(font.pointSizeF() * 1.15)
        self.title.setFont(font)
        self.body = QVBoxLayout(self)
        self.body.setContentsMargins(12, 10, 12, 12)
        self.body.setSpacing(6)
        self.body.addWidget(self.title)

    def add(self, widget: QWidget) -> QWidget:
        self.body.addWidget(widget)
        return widget

    def paintEvent(self, event) -> None:
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setPen(QPen(self.palette().color(QPalette.ColorRole.Mid), 1))
        painter.setBrush(self.palette().color(QPalette.ColorRole.Base))
        painter.drawRoundedRect(QRectF(self.rect()).adjusted(0.5, 0.5, -0.5, -0.5),
                                CARD_RADIUS, CARD_RADIUS)

    def text(self) -> str:
        """Everything the card says in words (its labels, in order)."""
        return "\n".join(w.text() for w in self.findChildren(QLabel))


class CardGrid(QWidget):
    """Cards in columns: three on a wide screen (each WIDE_COLUMN_MIN_WIDTH), two when there is
    room for two cards of COLUMN_MIN_WIDTH, else one. Cards go round the columns in reading
    order (two columns: 1st, 3rd left; 2nd, 4th right)."""

    def __init__(self, cards: Sequence[Card], parent=None):
        super().__init__(parent)
        self.cards = list(cards)
        self.row = QHBoxLayout(self)
        self.row.setContentsMargins(0, 0, 0, 0)
        self.row.setSpacing(SPACING)
        self.columns = 0
        self.column_layouts: list[QVBoxLayout] = []
        self.set_columns(1)

    @staticmethod
    def columns_for(width: int) -> int:
        if width >= 3 * WIDE_COLUMN_MIN_WIDTH + 2 * SPACING:
            return 3
        return 2 if width >= 2 * COLUMN_MIN_WIDTH + SPACING else 1

    def set_columns(self, n: int) -> None:
        """Lay the cards out in `n` columns (no-op when they already are)."""
        if n == self.columns:
            return
        for column in self.column_layouts:
            for card in self.cards:
                column.removeWidget(card)
        while (item := self.row.takeAt(0)) is not None:
            if item.layout() is not None:
                item.layout().setParent(None)
        self.columns = n
        self.column_layouts = [QVBoxLayout() for _ in range(n)]
        for i, card in enumerate(self.cards):
            self.column_layouts[i % n].addWidget(card)
        for column in self.column_layouts:
            column.setSpacing(SPACING)
            column.addStretch()
            self.row.addLayout(column, 1)

    def column_of(self, card: Card) -> int:
        """The column (0-based) `card` is in."""
        return next(i for i, c in enumerate(self.column_layouts) if c.indexOf(card) >= 0)

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self.set_columns(self.columns_for(event.size().width()))


class OverviewView(QScrollArea):
    """A readable summary: warnings first, quick actions, what the checkpoint is, how big,
    where its parameters are, how it is stored, how much memory it needs on each device."""

    viewRequested = Signal(str)  # a tab title of the CheckpointTab
    exportRequested = Signal()

    def __init__(self, info: CheckpointInfo, devices: Sequence[DeviceInfo] | None = None,
                 parent=None):
        super().__init__(parent)
        self.info = info
        self.devices_pending = devices is None  # GPUs still to be detected
        self.devices = list(devices) if devices is not None else [ram_device()]
        self.data: OverviewData = overview_data(info, self.devices)
        self.setWidgetResizable(True)
        self.setFrameShape(QFrame.Shape.NoFrame)

        self.banner = WrapLabel(_warnings_html(info))
        if info.warnings:
            self.banner.setStyleSheet("QLabel { background: #fff1d6; color: #3d2600; "
                                      "border: 1px solid #e0a030; border-radius: 6px; "
                                      "padding: 8px; }")
        self.label = WrapLabel(_headline_html(info, self.data))  # the headline
        self.path_label = ElidedLabel(info.path)
        self.path_label.setForegroundRole(QPalette.ColorRole.PlaceholderText)
        self.buttons: dict[str, QPushButton] = {}
        actions = QHBoxLayout()
        for text, title in QUICK_ACTIONS:
            button = self.buttons[text] = QPushButton(text)
            button.clicked.connect(lambda _c=False, t=title: self.viewRequested.emit(t))
            if not info.has_weights and title != "Graph":
                button.setEnabled(False)
                button.setToolTip("No weights are stored: nothing to run.")
            actions.addWidget(button)
        export = self.buttons["Export..."] = QPushButton("Export...")
        export.clicked.connect(self.exportRequested.emit)
        export.setEnabled(info.has_weights)
        actions.addWidget(export)
        actions.addStretch()

        self.identity = Card("Identity")
        self.identity.add(WrapLabel(overview_html(info)))
        self.parameters_card = self._parameters_card()
        self.dtypes_card = self._dtypes_card()
        self.memory_card = Card("Memory")
        self.memory_chart = MemoryChart(self.data.memory, self.data.devices)
        self.memory_card.add(self.memory_chart)
        self.memory_text = self.memory_card.add(WrapLabel())
        self._fill_memory_text()
        # the charts first: at a glance how big and whether it fits; then what it is, how stored
        self.cards = [self.parameters_card, self.memory_card, self.identity, self.dtypes_card]
        self.grid = CardGrid(self.cards)

        content = QWidget()
        content.setMaximumWidth(CONTENT_MAX_WIDTH)
        layout = QVBoxLayout(content)
        layout.setContentsMargins(SPACING, SPACING, SPACING, SPACING)
        layout.setSpacing(8)
        for widget in (self.banner, self.label, self.path_label):
            layout.addWidget(widget)
        layout.addLayout(actions)
        layout.addSpacing(4)
        layout.addWidget(self.grid)
        layout.addStretch()
        outer = QWidget()
        row = QHBoxLayout(outer)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(content, 1)
        row.addStretch(0)
        self.setWidget(outer)

    def set_devices(self, devices: Sequence[DeviceInfo]) -> None:
        """Compare the memory against these devices (RAM and each GPU) from now on."""
        self.devices, self.devices_pending = list(devices), False
        self.data = overview_data(self.info, self.devices, self.data.breakdown)
        self.memory_chart.set_data(self.data.memory, self.data.devices)
        self._fill_memory_text()

    def text(self) -> str:
        """Everything the Overview says in words: headline, warnings and every card."""
        return "\n".join([self.banner.text(), self.label.text(), self.info.path,
                          *(card.text() for card in self.cards)])

    # -- cards -----------------------------------------------------------------------------------
    def _parameters_card(self) -> Card:
        card = Card("Parameters")
        d, b = self.data, self.data.breakdown
        big = (f"<span style='font-size:17pt; font-weight:600'>{human_count(d.parameters)}"
               f"</span>&nbsp; parameters ({d.parameters:,})")
        card.add(WrapLabel(big))
        stored = _parameters_text(self.info)
        if not self.info.has_weights or self.info.num_parameters != d.parameters:
            card.add(WrapLabel(html.escape(stored)))
        if d.parameter_parts:
            self.parameters_chart = card.add(StackedBarChart(
                "Parameters by part", d.parameter_parts,
                segment_colors(d.parameter_parts, PART_COLORS),
                lambda s: f"{human_count(s.value)} parameters ({s.value:,})"))
            card.add(WrapLabel(_legend(d.parameter_parts, self.parameters_chart.colors,
                                       lambda s: human_count(s.value))))
        else:
            self.parameters_chart = None
            card.add(WrapLabel("<i>No module structure: no breakdown by part.</i>"))
        notes = []
        if b is not None:
            if b.num_blocks:
                notes.append(f"{b.num_blocks} block{'s' if b.num_blocks > 1 else ''}")
            if b.tied:
                notes.append("tied (counted once): " + ", ".join(
                    f"{html.escape(a)} = {html.escape(t)}" for a, t in b.tied[:3])
                    + (f" and {len(b.tied) - 3} more" if len(b.tied) > 3 else ""))
            notes.append(_buffers_html(b))
        card.add(WrapLabel("<br>".join(n for n in notes if n)))
        return card

    def _dtypes_card(self) -> Card:
        card = Card("DType mix")
        d, info = self.data, self.info
        if not d.dtype_bytes:
            stated = (info.config or {}).get("dtype") or (info.config or {}).get("torch_dtype")
            card.add(WrapLabel("No weights are stored" + (
                f"; the config says {html.escape(str(stated))}." if stated else ".")))
            self.dtypes_chart = None
            return card
        self.dtypes_chart = card.add(StackedBarChart(
            "Stored bytes by dtype", d.dtype_bytes, segment_colors(d.dtype_bytes),
            lambda s: f"{human_bytes(s.value)}, {human_count(d.dtype_elements.get(s.label, 0))}"
                      f" elements"))
        card.add(WrapLabel(_legend(
            d.dtype_bytes, self.dtypes_chart.colors,
            lambda s: f"{human_bytes(s.value)} · {human_count(d.dtype_elements.get(s.label, 0))}"
                      f" elements")))
        card.add(WrapLabel(f"{info.num_tensors:,} tensors, {human_bytes(info.total_bytes)} of "
                           f"data; {human_bytes(info.size_on_disk)} on disk. Shares are of the "
                           f"stored bytes."))
        return card

    def _fill_memory_text(self) -> None:
        d, m = self.data, self.info.memory
        if m is None:
            self.memory_text.setText("No parameter count: no memory estimate.")
            return
        devices = " · ".join(f"<b>{html.escape(x.name)}</b> {human_bytes(x.total)}"
                             + (f" ({html.escape(x.description)})"
                                if x.description not in ("RAM", "CPU", x.name) else "")
                             for x in d.devices) or "none known"
        parts = [f"Weights only, before activations and caches. Devices: {devices}"
                 + (" (looking for GPUs...)" if self.devices_pending else ""),
                 "<span style='color:#4e79a7'>\u25a0</span> fits every device · "
                 "<span style='color:#e8a33a'>\u25a0</span> fits some · "
                 "<span style='color:#d1453b'>\u25a0</span> fits none"]
        if m.as_stored is not None and (self.info.gguf or self.info.quantization):
            parts.append(f"<b>Weights as stored</b>: {human_bytes(m.as_stored)} (llama.cpp and "
                         f"the quantized kernels keep them packed)")
        fine = {r.label: r for r in d.finetune}
        over = d.exceeds(fine["AdamW mixed"])
        parts.append(f"<b>Full fine-tune (AdamW)</b>: {human_bytes(m.adamw_fp32)} fp32, "
                     f"{human_bytes(m.adamw_mixed)} mixed precision, before activations"
                     + (f" · <span style='color:#d1453b'>exceeds {', '.join(over)}</span>"
                        if over else ""))
        self.memory_text.setText("<br>".join(parts))


def _legend(segments, colors, describe) -> str:
    """A colour key: '■ embeddings 11.9 M (52.5%)' per segment; lines break between items."""
    def item(s, c) -> str:
        words = f"{s.label} {describe(s)} ({percent(s.share)})".split(" ")
        label, rest = html.escape(words[0]), "&nbsp;".join(html.escape(w) for w in words[1:])
        return f"<span style='color:{c.name()}'>\u25a0</span>&nbsp;<b>{label}</b>&nbsp;{rest}"

    return " &nbsp; ".join(item(s, c) for s, c in zip(segments, colors, strict=True))


def _buffers_html(b) -> str:
    """Buffers apart from parameters, and how they were found."""
    e = html.escape
    parts = []
    if b.buffers:
        parts.append(f"{b.buffers:,} stored buffer elements ({e(', '.join(b.buffer_names[:3]))}"
                     + (f" and {len(b.buffer_names) - 3} more" if len(b.buffer_names) > 3
                        else "") + ")")
    if b.buffers_from_model and b.model_buffer_names:
        names = ", ".join(b.model_buffer_names[:3]) + (
            f" and {len(b.model_buffer_names) - 3} more" if len(b.model_buffer_names) > 3 else "")
        parts.append(f"the model registers {len(b.model_buffer_names)} buffer(s) "
                     f"({b.model_buffers:,} elements: {e(names)})")
    if not parts:
        return "No buffers."
    how = ("found with named_buffers() of the model built from the config"
           if b.buffers_from_model else "recognised by name (no model was built)")
    return "Buffers, not parameters: " + "; ".join(parts) + f"; {how}."


def _headline_html(info: CheckpointInfo, data: OverviewData) -> str:
    e = html.escape
    facts = [f"<b>{human_count(data.parameters)}</b> parameters",
             e(info.model_type or "unknown type"), e(info.format)]
    if info.has_weights:
        facts.append(f"{human_bytes(info.size_on_disk)} on disk")
    else:
        facts.append("config only")
    return (f"<span style='font-size:16pt; font-weight:600'>{e(info.architecture or 'Checkpoint')}"
            f"</span><br>{' · '.join(facts)}")


def _warnings_html(info: CheckpointInfo) -> str:
    if not info.warnings:
        return "<span style='color:#2e7d32'>\u2714 No warnings.</span>"
    items = "".join(f"<li>{html.escape(w)}</li>" for w in info.warnings)
    return (f"<b style='color:#8a4b00'>{warning_badge(len(info.warnings))} warning(s)</b>"
            f"<ul style='margin-left:-20px'>{items}</ul>")


def overview_html(info: CheckpointInfo) -> str:
    """What the checkpoint is (the Identity card) as a small HTML table."""
    e = html.escape
    rows = [
        ("Architecture", e(info.architecture or "unknown")),
        ("Model type", e(info.model_type or "unknown")),
        ("Format", e(info.format)),
        ("Files", e(", ".join(info.shards) or "none" if len(info.shards) <= 4
                    else f"{len(info.shards)} shards ({info.shards[0]} ... {info.shards[-1]})")),
    ]
    if info.tokenizer:
        t = info.tokenizer
        specials = ", ".join(f"{k}={v}" for k, v in t.special_tokens.items())
        rows.append(("Tokenizer", e(f"{t.tokenizer_class or '?'}, vocabulary "
                                    f"{t.vocab_size or '?'}"
                                    + (f", max length {t.model_max_length}"
                                       if t.model_max_length else ""))
                     + (f"<br>special tokens: {e(specials)}" if specials else "")))
    else:
        rows.append(("Tokenizer", "none found"))
    if info.adapter:
        a = info.adapter
        rows.append(("Adapter", e(f"{a.peft_type} r={a.r} alpha={a.alpha} on {a.base_model}; "
                                  f"targets: {', '.join(a.target_modules)}")))
    if info.guess:
        g = info.guess
        rows.append(("Best guess", e(f"{g.family}: {g.num_layers or '?'} layers, hidden "
                                     f"{g.hidden_size or '?'}, vocabulary {g.vocab_size or '?'}")))
    if info.gguf:
        g = info.gguf
        rows.append(("GGUF", e(f"v{g.version} {g.architecture or '?'}, {g.file_type or '?'}, "
                               f"context {g.context_length or '?'}, {g.block_count or '?'} "
                               f"blocks, tokenizer {g.tokenizer_model or '?'} "
                               f"({g.vocab_size or '?'} tokens)"
                               + (", chat template" if g.chat_template else ""))))
        rows.append(("Attention / Fine-tune", "available: transformers dequantizes the file"
                     if g.loadable else "not available: transformers cannot load this file"))
    if info.quantization:
        q = info.quantization
        rows.append(("Quantization", e(
            f"{q.method} {q.bits or '?'}-bit, group {q.group_size or '-'}, {q.detail or ''}; "
            f"{len(q.quantized_modules)} modules quantized; {human_count(q.stored_elements)} "
            f"stored elements ({human_count(q.metadata_elements)} scales/zeros)")))
    body = "".join(f"<tr><td style='padding-right:14px; color:palette(placeholder-text)'>"
                   f"<b>{e(k)}</b></td><td>{v}</td></tr>" for k, v in rows)
    return f"<table cellspacing='3'>{body}</table>"


def _parameters_text(info: CheckpointInfo) -> str:
    """Model parameters, and stored elements apart when they differ (buffers such as
    position_ids are stored but are not parameters; tied weights are stored once)."""
    stored = f"{human_count(info.num_parameters)} ({info.num_parameters:,})"
    if not info.has_weights:
        return stored + " from the config; no weights stored"
    tree = info.module_tree
    if tree is None or tree.num_parameters == info.num_parameters:
        return stored
    model = tree.num_parameters
    return (f"{human_count(model)} ({model:,}) in the model · {info.num_parameters:,} stored "
            f"elements ({info.num_parameters - model:+,}: buffers, tied or unused tensors)")
