"""One open checkpoint: overview, tensors, config, modules, plus the feature views.

Feature views (config editor, graph, attention, fine-tuning) register in FEATURE_VIEWS as
(title, "module:Class"). Each class is constructed as `Class(tab)` when its tab is first shown,
gets the CheckpointInfo as `tab.info` and the shared TaskRunner as `tab.runner`, and may define
`shutdown()` to release what it holds when the tab closes.
"""

from __future__ import annotations

import html
import importlib

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QPushButton,
    QScrollArea,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from workbench.core.checkpoint.inspection import CheckpointInfo
from workbench.core.devices import system_memory
from workbench.core.model.breakdown import memory_rows, parameter_breakdown
from workbench.core.units import human_bytes, human_count
from workbench.qt.common.json_tree import JsonTreeView
from workbench.qt.common.tasks import TaskRunner
from workbench.qt.inspect.module_tree_view import ModuleTreeView
from workbench.qt.inspect.tensor_table import TensorTableView

FEATURE_VIEWS: list[tuple[str, str]] = [
    ("Edit config", "workbench.qt.config.editor_view:ConfigEditorView"),
    ("Graph", "workbench.qt.graph.view:GraphView"),
    ("Attention", "workbench.qt.attention.view:AttentionView"),
    ("Fine-tune", "workbench.qt.train.view:TrainView"),
]


class CheckpointTab(QTabWidget):
    """The views of one checkpoint, built lazily; `shutdown()` frees what they hold."""

    def __init__(self, info: CheckpointInfo, runner: TaskRunner, parent=None):
        super().__init__(parent)
        self.info, self.runner = info, runner
        self.setDocumentMode(True)
        self.overview = OverviewView(info)
        self.tensors = TensorTableView(info.tensors)
        self.modules = ModuleTreeView(info.module_tree)
        self.addTab(self.overview, "Overview")
        self.overview.viewRequested.connect(self.show_view)
        self.overview.exportRequested.connect(self._on_overview_exportRequested)
        self.badge_text = warning_badge(len(info.warnings))
        if self.badge_text:
            self.setTabToolTip(0, f"{len(info.warnings)} warning(s): see the top of the Overview")
            self.badge_icon = warning_icon(len(info.warnings))
            self.setTabIcon(0, self.badge_icon)
            self.setIconSize(self.badge_icon.availableSizes()[0])
        self.addTab(self.tensors, "Tensors")
        if info.config is not None:
            self.addTab(JsonTreeView(info.config), "Config")
        self.addTab(self.modules, "Modules")
        self._lazy: dict[int, str] = {}
        for title, target in FEATURE_VIEWS:
            self._lazy[self.addTab(QWidget(), title)] = target
        self.views: dict[str, QWidget] = {}
        self.currentChanged.connect(self._on_self_currentChanged)

    @property
    def title(self) -> str:
        """The name people know it by (an HF cache snapshot: its repo id; see display_name)."""
        from workbench.core.checkpoint.hf_cache import display_name

        return display_name(self.info.path)

    def show_view(self, title: str) -> QWidget | None:
        """Switch to (and build, if needed) the view with this tab title."""
        for i in range(self.count()):
            if self.tabText(i) == title:
                self.setCurrentIndex(i)
                self._on_self_currentChanged(i)
                return self.widget(i)
        return None

    def _on_self_currentChanged(self, index: int) -> None:
        target = self._lazy.pop(index, None)
        if target is None:
            return
        module_name, class_name = target.split(":")
        view = getattr(importlib.import_module(module_name), class_name)(self)
        title = self.tabText(index)
        placeholder = self.widget(index)
        self.blockSignals(True)
        self.removeTab(index)
        self.insertTab(index, view, title)
        self.setCurrentIndex(index)
        self.blockSignals(False)
        placeholder.deleteLater()
        self.views[title] = view

    def _on_overview_exportRequested(self) -> None:
        action = getattr(self.window(), "export_action", None)  # File > Export... (deploy)
        if action is not None:
            action.trigger()

    def confirm_close(self) -> bool:
        """Ask each feature view that can veto closing (a run in progress); True to close."""
        for view in self.views.values():
            confirm = getattr(view, "confirm_close", None)
            if confirm and not confirm():
                return False
        return True

    def shutdown(self) -> None:
        """Release models and workers held by feature views."""
        for view in self.views.values():
            stop = getattr(view, "shutdown", None)
            if stop:
                stop()
        self.views.clear()


def warning_badge(count: int) -> str:
    """The badge a tab with warnings carries ("⚠ 3"); "" without warnings."""
    return f"\u26a0 {count}" if count else ""


def warning_icon(count: int):
    """An amber pill with the warning count, for a tab bar."""
    from PySide6.QtGui import QColor, QFont, QIcon, QPainter, QPixmap

    pixmap = QPixmap(30, 16)
    pixmap.fill(Qt.GlobalColor.transparent)
    painter = QPainter(pixmap)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    painter.setBrush(QColor(224, 140, 0))
    painter.setPen(Qt.PenStyle.NoPen)
    painter.drawRoundedRect(0, 0, 30, 16, 8, 8)
    font = QFont()
    font.setBold(True)
    font.setPixelSize(11)
    painter.setFont(font)
    painter.setPen(QColor("white"))
    painter.drawText(pixmap.rect(), Qt.AlignmentFlag.AlignCenter, f"!{min(count, 99)}")
    painter.end()
    return QIcon(pixmap)


QUICK_ACTIONS = (("Inspect attention", "Attention"), ("Fine-tune", "Fine-tune"),
                 ("Graph", "Graph"))


class OverviewView(QScrollArea):
    """A readable summary: warnings first, quick actions, what the checkpoint is, how big,
    where its parameters are, how much memory it needs."""

    viewRequested = Signal(str)  # a tab title of the CheckpointTab
    exportRequested = Signal()

    def __init__(self, info: CheckpointInfo, parent=None):
        super().__init__(parent)
        self.setWidgetResizable(True)
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
        self.label = QLabel(overview_html(info))
        self.label.setTextFormat(Qt.TextFormat.RichText)
        self.label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.label.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        self.label.setWordWrap(True)
        self.label.setMaximumWidth(1200)  # lines stay readable on a 2560-wide screen
        inner = QWidget()
        layout = QVBoxLayout(inner)
        layout.addLayout(actions)
        layout.addWidget(self.label)
        layout.addStretch()
        self.setWidget(inner)


def overview_html(info: CheckpointInfo) -> str:
    """The overview as a small HTML document."""
    e = html.escape
    rows = [
        ("Architecture", info.architecture or "unknown"),
        ("Model type", info.model_type or "unknown"),
        ("Format", info.format),
        ("Parameters", _parameters_text(info)),
        ("Tensors", f"{info.num_tensors:,} ({human_bytes(info.total_bytes)} of data)"),
        ("Size on disk", human_bytes(info.size_on_disk)),
        ("DTypes", ", ".join(f"{k}: {human_count(v)}" for k, v in info.dtypes.items()) or "-"),
        ("Files", ", ".join(info.shards) if len(info.shards) <= 4
         else f"{len(info.shards)} shards ({info.shards[0]} ... {info.shards[-1]})"),
    ]
    if info.tokenizer:
        t = info.tokenizer
        specials = ", ".join(f"{k}={v}" for k, v in t.special_tokens.items())
        rows.append(("Tokenizer", f"{t.tokenizer_class or '?'}, vocabulary {t.vocab_size or '?'}"
                     + (f", max length {t.model_max_length}" if t.model_max_length else "")
                     + (f"<br>special tokens: {e(specials)}" if specials else "")))
    else:
        rows.append(("Tokenizer", "none found"))
    if info.adapter:
        a = info.adapter
        rows.append(("Adapter", f"{a.peft_type} r={a.r} alpha={a.alpha} on {a.base_model}; "
                     f"targets: {', '.join(a.target_modules)}"))
    if info.guess:
        g = info.guess
        rows.append(("Best guess", f"{g.family}: {g.num_layers or '?'} layers, hidden "
                     f"{g.hidden_size or '?'}, vocabulary {g.vocab_size or '?'}"))
    if info.gguf:
        g = info.gguf
        rows.append(("GGUF", f"v{g.version} {g.architecture or '?'}, {g.file_type or '?'}, "
                     f"context {g.context_length or '?'}, {g.block_count or '?'} blocks, "
                     f"tokenizer {g.tokenizer_model or '?'} ({g.vocab_size or '?'} tokens)"
                     + (", chat template" if g.chat_template else "")))
        rows.append(("Attention / Fine-tune", "available: transformers dequantizes the file"
                     if g.loadable else "not available: transformers cannot load this file"))
    if info.quantization:
        q = info.quantization
        rows.append(("Quantization", f"{q.method} {q.bits or '?'}-bit, group "
                     f"{q.group_size or '-'}, {q.detail or ''}; {len(q.quantized_modules)} "
                     f"modules quantized; {human_count(q.stored_elements)} stored elements "
                     f"({human_count(q.metadata_elements)} scales/zeros)"))
    breakdown = parameter_breakdown(info.module_tree, info.tensors)
    if breakdown is not None and breakdown.parameters:
        total = breakdown.parameters
        parts = " · ".join(f"{name} {human_count(n)} ({100 * n / total:.1f}%)"
                           for name, n in breakdown.parts() if n)
        blocks = f"; {breakdown.num_blocks} blocks" if breakdown.num_blocks else ""
        # replaces the plain "Parameters" row: the same count, with buffers named apart
        rows[3] = ("Parameters", f"{human_count(total)} ({total:,})"
                   + (f" + {breakdown.buffers:,} buffer elements "
                      f"({', '.join(breakdown.buffer_names[:3])})" if breakdown.buffers else "")
                   + (f"; {info.num_parameters:,} stored elements"
                      if info.num_parameters != total else ""))
        rows.insert(4, ("Breakdown", parts + blocks))
    if info.memory:
        m = info.memory
        ram = system_memory()
        rows.append(("Weights memory", " · ".join(
            f"{r.label} {human_bytes(r.bytes)}"
            + ("" if r.fits or ram is None else " (exceeds RAM)")
            for r in memory_rows(m, [("RAM", ram)]))
            + (f"; this machine has {human_bytes(ram)} RAM" if ram else "")))
        if m.as_stored is not None and (info.gguf or info.quantization):
            rows.append(("Weights as stored", human_bytes(m.as_stored)))
        rows.append(("Full fine-tune (AdamW)", f"{human_bytes(m.adamw_fp32)} fp32, "
                     f"{human_bytes(m.adamw_mixed)} mixed precision, before activations"))
    body = "".join(f"<tr><td style='padding-right:18px;color:#666'><b>{e(k)}</b></td>"
                   f"<td>{v if k in ('Tokenizer',) else e(v)}</td></tr>" for k, v in rows)
    warnings = "".join(f"<li>{e(w)}</li>" for w in info.warnings)
    warn_html = (f"<table width='100%' cellpadding='8' style='background:#fff1d6;"
                 f"border:1px solid #e0a030'><tr><td><b style='color:#8a4b00'>"
                 f"{warning_badge(len(info.warnings))} warning(s)</b><ul>{warnings}</ul>"
                 f"</td></tr></table>" if warnings
                 else "<p style='color:#2e7d32'>No warnings.</p>")
    return (f"{warn_html}<h2>{e(info.architecture or 'Checkpoint')}</h2><p style='color:#666'>"
            f"{e(info.path)}</p><table cellspacing='4'>{body}</table>")


def _parameters_text(info) -> str:
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
