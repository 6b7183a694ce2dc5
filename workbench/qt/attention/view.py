"""The "Attention" tab: type text, run the model once, explore heads, layers and aggregations.

The view draws and dispatches: what a selection shows (one head, the mean or max over heads,
rollout) is computed by core.attention.aggregate.select_map, inline when cheap and in a worker
when not (rollout over many layers of a long input would freeze the window).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QMenu,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QSpinBox,
    QTabWidget,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from workbench.core.attention.aggregate import (
    KIND_TITLES,
    MODE_TITLES,
    MapMode,
    MapSelection,
    select_map,
    selection_cost,
)
from workbench.core.attention.links import MEAN, cached_link_table
from workbench.core.attention.overview import cached_overview
from workbench.qt.attention.grid import AttentionGrid
from workbench.qt.attention.jobs import (
    ModelCache,
    RenderHint,
    cached_render,
    compute_job,
    link_table_job,
    render_map,
)
from workbench.qt.attention.summary import AttentionSummary
from workbench.qt.attention.token_view import TokenStrip, TokenView
from workbench.qt.common.dialogs import show_error
from workbench.qt.common.heatmap import AttentionHeatmap
from workbench.qt.common.text_input import GrowingTextEdit

# The sub-views after the heatmap, in tab order (attribute name: tab title).
LAZY_VIEWS = {"grid": "All heads", "token_view": "Tokens", "summary": "Summary",
              "compare": "Compare"}
# Selections costing more multiply-adds than this (~10-20 ms of numpy here) go to a worker.
INLINE_COST = 20_000_000
# Maps with more cells than this are coloured in a worker (256^2 cells colour in ~1 ms here;
# 512^2 take ~5 ms and 2,048^2 ~60 ms) ...
INLINE_CELLS = 256 * 256
# ... and layers with more weights than this get their token-view links ranked in one.
INLINE_LINK_WEIGHTS = 500_000


class AttentionView(QWidget):
    """Input, run controls, and the heatmap / grid / tokens / summary / compare views."""

    rendered = Signal()  # every view shows the latest result
    matrixShown = Signal()  # the heatmap shows the current selection
    failed = Signal(str)
    runStarted = Signal(object)  # the Task of a model run (it reads the model until finished)

    def __init__(self, tab, parent=None, *, runner=None, config: dict | None = None,
                 live: bool = False):
        """`tab`: the CheckpointTab (its checkpoint, config and runner), or None with `runner`
        and `config` given, e.g. for a model paused in training (`live`: no device, dtype or
        Compare, since the model is already placed and must only be read while paused)."""
        super().__init__(parent)
        self.tab = tab
        self.runner = runner if runner is not None else tab.runner
        self.path: str | None = tab.info.load_path if tab is not None else None
        if config is None:
            config = (tab.info.config or {}) if tab is not None else {}
        # None, or a message: why a model run cannot start now (e.g. the run was resumed)
        self.can_run = lambda: None
        self.enc_dec = bool(config.get("is_encoder_decoder"))
        # A second segment only means something to models with a segment (token type) table:
        # GPT-2 has none and would read the pair as one run-on text.
        self.pairs = not self.enc_dec and bool(config.get("type_vocab_size"))
        self.cache = ModelCache()
        self.maps = None
        self.task = None
        self.matrix_task = None  # the worker computing an expensive selection, if any
        self.links_task = None  # the worker ranking the token view's links, if any
        self._pending_layers = None
        self._build_inputs()
        self._build_selectors()
        self.heatmap = AttentionHeatmap(square=True)
        self.token_view = TokenView()
        self.token_view.headsChanged.connect(self._on_token_view_headsChanged)
        # The grid, summary and compare views (six more plots) are built when first shown or
        # asked for, and drawn only once built: the tab opens without building them.
        self._built: dict[str, QWidget] = {}
        self.views = QTabWidget()
        self.views.addTab(self.heatmap, "Heatmap")
        for name, title in LAZY_VIEWS.items():
            self.views.addTab(QWidget(), title)
            if name == "token_view":
                self.views.removeTab(self.views.count() - 1)
                self.views.addTab(self.token_view, title)
        self.views.currentChanged.connect(self._on_views_currentChanged)
        layout = QVBoxLayout(self)
        layout.addWidget(self.inputs)
        layout.addWidget(self.notes)
        layout.addWidget(self.too_long)
        layout.addWidget(self.tokens_scroll)
        layout.addWidget(self.ids_label)
        layout.addLayout(self.selectors)
        layout.addWidget(self.views, 1)
        self._set_enabled_selectors(False)
        if live:
            for w in self.placement:
                w.setVisible(False)
            self.views.setTabVisible(list(LAZY_VIEWS).index("compare") + 1, False)

    # -- building ---------------------------------------------------------------------------------
    @property
    def grid(self) -> AttentionGrid:
        return self._lazy_view("grid")

    @property
    def summary(self) -> AttentionSummary:
        return self._lazy_view("summary")

    @property
    def compare(self):
        return self._lazy_view("compare")

    def _lazy_view(self, name: str) -> QWidget:
        """The named sub-view, built (and filled from the current result) on first use."""
        view = self._built.get(name)
        if view is not None:
            return view
        if name == "grid":
            view = AttentionGrid()
            view.headClicked.connect(self._on_grid_headClicked)
        elif name == "summary":
            view = AttentionSummary()
        else:
            from workbench.qt.attention.compare_view import CompareView

            view = CompareView(self)
        self._built[name] = view
        index = list(LAZY_VIEWS).index(name) + 1
        current = self.views.currentIndex()
        placeholder = self.views.widget(index)
        self.views.blockSignals(True)
        self.views.removeTab(index)
        self.views.insertTab(index, view, LAZY_VIEWS[name])
        self.views.setCurrentIndex(current)
        self.views.blockSignals(False)
        placeholder.deleteLater()
        if self.maps is not None:
            self._fill(name)
        return view

    def _on_views_currentChanged(self, index: int) -> None:
        name = list(LAZY_VIEWS)[index - 1] if index > 0 else "heatmap"
        if name in ("grid", "summary", "compare"):
            self._lazy_view(name)

    def _fill(self, name: str) -> None:
        """Draw the current result into one built sub-view."""
        maps, kind = self.maps, self.kind
        if name == "grid":
            overview = cached_overview(maps, kind)  # made by the worker that ran the model
            image = maps.extra.get("mosaic_images", {}).get(kind) if overview else None
            self._built["grid"].set_maps(maps.maps[kind], maps.layers[kind], kind in maps.causal,
                                         rgb=overview.mosaic if overview is not None else None,
                                         image=image)
        elif name == "summary":
            self._built["summary"].set_maps(maps, kind)
        elif name == "compare":
            self._built["compare"].refresh()

    def _build_inputs(self) -> None:
        self.inputs = QWidget()
        form = QFormLayout(self.inputs)
        form.setContentsMargins(0, 0, 0, 0)
        # As tall as their text (1-4 lines): at 1024x700 fixed 3-line boxes took the heatmap's room
        self.text_edit = GrowingTextEdit("The quick brown fox jumps over the lazy dog.")
        self.pair_edit = GrowingTextEdit(max_lines=3)
        self.pair_edit.setPlaceholderText("optional: a second segment (sentence pairs)")
        self.target_edit = GrowingTextEdit(max_lines=3)
        self.target_edit.setPlaceholderText("the decoder's text (e.g. a translation)")
        form.addRow("Source text" if self.enc_dec else "Text", self.text_edit)
        if self.enc_dec:
            form.addRow("Target text", self.target_edit)
        elif self.pairs:
            form.addRow("Second segment", self.pair_edit)
        row = QHBoxLayout()
        self.device_combo = QComboBox()
        self.device_combo.setEditable(True)
        self.device_combo.addItems(["cpu", "cuda", "cuda:1", "mps"])
        self.dtype_combo = QComboBox()
        self.dtype_combo.addItems(["float32", "bfloat16", "float16"])
        self.run_button = QPushButton("Run")
        self.run_button.setDefault(True)
        self.run_button.clicked.connect(self._on_run_button_clicked)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setVisible(False)
        self.cancel_button.clicked.connect(self._on_cancel_button_clicked)
        self.progress = QProgressBar()
        self.progress.setRange(0, 0)
        self.progress.setMaximumWidth(120)
        self.progress.setVisible(False)
        self.status = QLabel("The model loads on the first run and stays loaded for this tab.")
        self.placement = (QLabel("Device"), self.device_combo, QLabel("DType"), self.dtype_combo)
        for w in (*self.placement, self.run_button, self.cancel_button, self.progress,
                  self.status):
            row.addWidget(w)
        row.addStretch()
        form.addRow(row)
        self.notes = QLabel()
        self.notes.setWordWrap(True)
        self.notes.setStyleSheet("color: #b35900")
        self.notes.setVisible(False)
        self.too_long = QWidget()
        bar = QHBoxLayout(self.too_long)
        bar.setContentsMargins(0, 0, 0, 0)
        self.too_long_label = QLabel()
        self.too_long_label.setStyleSheet("color: #b35900")
        self.truncate_button = QPushButton("Truncate to the model's maximum")
        self.truncate_button.clicked.connect(self._on_truncate_button_clicked)
        bar.addWidget(self.too_long_label)
        bar.addWidget(self.truncate_button)
        bar.addStretch()
        self.too_long.setVisible(False)
        self.tokens_strip = TokenStrip()
        self.tokens_strip.setToolTip("Tokens; special tokens have dashed borders.")
        # Long inputs scroll inside at most two rows of chips, so the heatmap keeps its space.
        self.tokens_scroll = QScrollArea()
        self.tokens_scroll.setWidgetResizable(True)
        self.tokens_scroll.setWidget(self.tokens_strip)
        self.tokens_scroll.setFrameShape(QScrollArea.Shape.NoFrame)
        self.tokens_scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.tokens_scroll.setFixedHeight(self.tokens_strip.rows_height(2) + 2)
        self.ids_label = QLabel()
        self.ids_label.setStyleSheet("color: #666")
        # One line whatever the input: a long id list must not widen the window.
        self.ids_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)

    def _build_selectors(self) -> None:
        self.selectors = QHBoxLayout()
        self.kind_combo = QComboBox()
        self.layer_combo = QComboBox()
        self.mode_combo = QComboBox()
        for mode, title in MODE_TITLES.items():
            self.mode_combo.addItem(title, mode.value)
        self.head_spin = QSpinBox()
        self.scale_combo = QComboBox()
        self.scale_combo.addItems(["Scale: 0 to max", "Scale: 0 to 1"])
        self.export_button = QToolButton()
        self.export_button.setText("Export")
        self.export_button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        menu = QMenu(self.export_button)
        menu.addAction("Current view as PNG...", lambda: self._export_dialog("png"))
        menu.addAction("Current map as SVG...", lambda: self._export_dialog("svg"))
        menu.addAction("Current map as CSV...", lambda: self._export_dialog("csv"))
        menu.addAction("All layers and heads as .npy...", lambda: self._export_dialog("npy"))
        menu.addAction("Tokens as JSON...", lambda: self._export_dialog("json"))
        self.export_button.setMenu(menu)
        self.kind_label = QLabel("Attention")
        for label, widget in ((self.kind_label, self.kind_combo), ("Layer", self.layer_combo),
                              ("Map", self.mode_combo), ("Head", self.head_spin),
                              (None, self.scale_combo), (None, self.export_button)):
            if label:
                self.selectors.addWidget(label if isinstance(label, QLabel) else QLabel(label))
            self.selectors.addWidget(widget)
        self.selectors.addStretch()
        self.kind_combo.currentIndexChanged.connect(self._on_kind_combo_currentIndexChanged)
        for sig in (self.layer_combo.currentIndexChanged, self.mode_combo.currentIndexChanged,
                    self.head_spin.valueChanged, self.scale_combo.currentIndexChanged):
            sig.connect(self._on_selection_changed)

    def _set_enabled_selectors(self, enabled: bool) -> None:
        for w in (self.kind_combo, self.layer_combo, self.mode_combo, self.head_spin,
                  self.scale_combo, self.export_button):
            w.setEnabled(enabled)

    # -- running ----------------------------------------------------------------------------------
    def use_model(self, model, tokenizer, label: str = "live model") -> None:
        """Inspect an already-loaded model (e.g. one paused in training) instead of loading."""
        self.cache.key, self.cache.model, self.cache.tokenizer = ("live", label), model, tokenizer
        self.path = None
        self.status.setText(f"Using the {label}.")

    def run(self, layers=None, truncate: bool = False):
        """Start computing attention for the current inputs; returns the Task.

        Over the model's maximum length the view offers to truncate (`truncate=True` does)."""
        if self.task is not None and self.task.running:
            return self.task
        refused = self.can_run()
        if refused:
            self.status.setText(refused)
            self.failed.emit(refused)
            return None
        self.too_long.setVisible(False)
        text = self.text_edit.toPlainText()
        pair = (self.pair_edit.toPlainText().strip() or None) if self.pairs else None
        target = self.target_edit.toPlainText().strip() or None
        self._pending_layers = layers
        self.run_button.setEnabled(False)
        self.cancel_button.setVisible(True)
        self.progress.setVisible(True)
        self.task = self.runner.start(
            compute_job, self.cache, self.path, self.device_combo.currentText().strip(),
            self.dtype_combo.currentText(), text, pair, target, layers, truncate=truncate,
            offer_truncate=True, render=self._render_hint(),
            on_success=self._on_job_succeeded, on_error=self._on_job_failed,
            on_progress=lambda msg: self.status.setText(msg + "..."))
        self.task.finished.connect(self._on_task_finished)
        self.runStarted.emit(self.task)
        return self.task

    def _render_hint(self) -> RenderHint:
        """The selection the result will first show, for the worker to draw ahead."""
        return RenderHint(self.kind_combo.currentData(), self.layer_combo.currentData(),
                          self.mode, self.head_spin.value(), self._fixed_levels())

    def _fixed_levels(self) -> tuple[float, float] | None:
        return (0.0, 1.0) if self.scale_combo.currentIndex() == 1 else None

    def _on_run_button_clicked(self) -> None:
        self.run()

    def _on_truncate_button_clicked(self) -> None:
        self.run(truncate=True)

    def _on_cancel_button_clicked(self) -> None:
        if self.task is not None:
            self.task.cancel()
        self.status.setText("Cancelled.")

    def _on_task_finished(self) -> None:
        self.run_button.setEnabled(True)
        self.cancel_button.setVisible(False)
        self.progress.setVisible(False)

    def _on_job_failed(self, message: str, details: str) -> None:
        self.status.setText("Failed: see the message.")
        self.failed.emit(message)
        self.heatmap.clear(message)
        show_error(self, "Attention", message, details)

    def _on_job_succeeded(self, maps) -> None:
        from workbench.core.attention.compute import InputTooLongError

        if isinstance(maps, InputTooLongError):
            self.status.setText("Too long for this model.")
            self.too_long_label.setText(str(maps))
            self.truncate_button.setText(f"Truncate to the model's maximum ({maps.limit} tokens)")
            self.too_long.setVisible(True)
            self.failed.emit(str(maps))
            return
        self.maps = maps
        from workbench.core.units import human_bytes

        self.status.setText(f"{len(maps.tokens) + len(maps.target_tokens)} tokens, "
                            f"{', '.join(f'{k} {tuple(v.shape)}' for k, v in maps.maps.items())}"
                            f"; all layers' attention: {human_bytes(maps.estimated_bytes)}")
        self.notes.setText("\n".join(maps.notes))
        self.notes.setVisible(bool(maps.notes))
        self.tokens_strip.set_tokens(maps.tokens + maps.target_tokens)
        self._fit_tokens_scroll()
        ids = " ".join(str(t.id) for t in maps.tokens[:200])
        self.ids_label.setText(f"ids: {ids}{' ...' if len(maps.tokens) > 200 else ''}")
        keep = self.kind_combo.currentData()
        for combo in (self.kind_combo, self.layer_combo):
            combo.blockSignals(True)
        self.kind_combo.clear()
        for kind in maps.kinds:
            self.kind_combo.addItem(KIND_TITLES[kind], kind)
        if keep in maps.kinds:
            self.kind_combo.setCurrentIndex(maps.kinds.index(keep))
        self.kind_combo.setVisible(len(maps.kinds) > 1)
        self.kind_label.setVisible(len(maps.kinds) > 1)
        for combo in (self.kind_combo, self.layer_combo):
            combo.blockSignals(False)
        self._set_enabled_selectors(True)
        self._fill_layers()
        self.render_all()

    def _fit_tokens_scroll(self) -> None:
        """As tall as the chips need, at most two rows (then it scrolls)."""
        strip = self.tokens_strip
        need = strip.heightForWidth(self.tokens_scroll.viewport().width())
        self.tokens_scroll.setFixedHeight(min(need, strip.rows_height(2)) + 2)

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self._fit_tokens_scroll()

    # -- selection --------------------------------------------------------------------------------
    @property
    def kind(self) -> str:
        return self.kind_combo.currentData() or (self.maps.kinds[0] if self.maps else "self")

    @property
    def layer(self) -> int:
        return int(self.layer_combo.currentData() or 0)

    def _fill_layers(self) -> None:
        maps, kind = self.maps, self.kind
        previous = self.layer_combo.currentData()
        self.layer_combo.blockSignals(True)
        self.layer_combo.clear()
        for i in range(maps.num_layers[kind]):
            self.layer_combo.addItem(f"{i}" + ("" if i in maps.layers[kind] else
                                               " (not captured)"), i)
        index = self.layer_combo.findData(previous if previous in maps.layers[kind]
                                          else maps.layers[kind][-1])
        self.layer_combo.setCurrentIndex(max(index, 0))
        self.layer_combo.blockSignals(False)
        self.head_spin.blockSignals(True)
        self.head_spin.setRange(0, maps.num_heads(kind) - 1)
        self.head_spin.blockSignals(False)

    def _on_kind_combo_currentIndexChanged(self, _index: int) -> None:
        if self.maps is not None and self.kind in self.maps.kinds:
            self._fill_layers()
            self.render_all()

    def _on_selection_changed(self, *_args) -> None:
        if self.maps is None:
            return
        if self.layer not in self.maps.layers[self.kind]:
            self.run(layers=[self.layer])  # captured only some layers (memory): fetch this one
            return
        self.head_spin.setEnabled(self.mode == MapMode.HEAD)
        self.render_current(keep_view=True)
        self._update_token_view()
        if "compare" in self._built:
            self._fill("compare")

    def _on_grid_headClicked(self, layer: int, head: int) -> None:
        self.mode_combo.setCurrentIndex(self.mode_combo.findData(MapMode.HEAD.value))
        self.layer_combo.setCurrentIndex(self.layer_combo.findData(layer))
        self.head_spin.setValue(head)
        self.views.setCurrentWidget(self.heatmap)

    def _layer_pos(self) -> int:
        return self.maps.layers[self.kind].index(self.layer)

    @property
    def mode(self) -> MapMode:
        return MapMode(self.mode_combo.currentData() or MapMode.HEAD)

    def selection(self) -> MapSelection:
        """What the selectors ask for."""
        return MapSelection(self.kind, self.layer, self.mode, self.head_spin.value())

    def select(self, kind: str | None = None, layer: int | None = None, head: int | None = None,
               mode: MapMode | str | int | None = None) -> None:
        """Programmatic selection (tests, compare, scripting); `mode` a MapMode or its index."""
        if kind is not None:
            self.kind_combo.setCurrentIndex(self.kind_combo.findData(kind))
        if isinstance(mode, int):
            self.mode_combo.setCurrentIndex(mode)
        elif mode is not None:
            self.mode_combo.setCurrentIndex(self.mode_combo.findData(MapMode(mode).value))
        if layer is not None:
            self.layer_combo.setCurrentIndex(self.layer_combo.findData(layer))
        if head is not None:
            self.head_spin.setValue(head)

    def current_matrix(self, maps=None) -> tuple[np.ndarray | None, str, bool]:
        """(matrix or None, title or reason, causal) for the current selection of `maps`."""
        return select_map(maps or self.maps, self.selection())

    def render_current(self, keep_view: bool = False) -> None:
        """Draw the current selection: now when small, else when a worker computed and
        coloured it (the worker that ran the model already did the first one)."""
        if self.matrix_task is not None and self.matrix_task.running:
            self.matrix_task.cancel()  # a newer selection wins; the old result is dropped
        self.matrix_task = None
        selection, fixed = self.selection(), self._fixed_levels()
        ready = cached_render(self.maps, selection, fixed)
        if ready is not None:
            self._show_rendered(ready, keep_view)
            return
        stack = self.maps.maps.get(selection.kind)
        cells = 0 if stack is None else stack.shape[-2] * stack.shape[-1]
        if selection_cost(self.maps, selection) <= INLINE_COST and cells <= INLINE_CELLS:
            self._show_matrix(selection, *select_map(self.maps, selection), keep_view=keep_view)
            return
        self.heatmap.status.set_full_text("Computing...")
        maps = self.maps
        self.matrix_task = self.runner.start(
            render_map, maps, selection, fixed,
            on_success=lambda result: self._on_matrix_computed(maps, result, keep_view),
            on_error=self._on_job_failed)

    def _on_matrix_computed(self, maps, rendered, keep_view: bool) -> None:
        if maps is self.maps and rendered.selection == self.selection() \
                and rendered.fixed_levels == self._fixed_levels():  # else the user moved on
            self._show_rendered(rendered, keep_view)

    def _show_rendered(self, rendered, keep_view: bool) -> None:
        self._show_matrix(rendered.selection, rendered.matrix, rendered.title, rendered.causal,
                          keep_view=keep_view, image=rendered.image, levels=rendered.levels)

    def _show_matrix(self, selection: MapSelection, matrix, title: str, causal: bool,
                     keep_view: bool = False, image=None, levels=None) -> None:
        if matrix is None:
            self.heatmap.clear(title)
        else:
            rows, cols = (tuple(t.text for t in side)
                          for side in self.maps.axis_tokens(selection.kind))
            self.heatmap.set_matrix(matrix, rows, cols, levels=levels or self._fixed_levels(),
                                    title=title, keep_view=keep_view, causal=causal,
                                    image=image)
        self.matrixShown.emit()

    # -- token view -------------------------------------------------------------------------------
    def _token_view_head(self) -> int:
        """The head the token view follows: the Head selector's, or MEAN when the map is the
        mean over heads."""
        return MEAN if self.mode == MapMode.MEAN else self.head_spin.value()

    def _update_token_view(self) -> None:
        """Give the token view the current layer and its LinkTable: attached by the worker
        that ran the model, ranked here when small, else in a worker (then shown)."""
        maps, kind, layer = self.maps, self.kind, self.layer
        stack, pos = maps.maps[kind], self._layer_pos()
        table = cached_link_table(maps, kind, layer)
        if table is None and stack[pos].size <= INLINE_LINK_WEIGHTS:
            table = link_table_job(stack, pos)
            maps.extra.setdefault("links", {})[(kind, layer)] = (stack, table)
        self.token_view.set_data(stack[pos], *maps.axis_tokens(kind), self._token_view_head(),
                                 table=table)
        if table is not None:
            return
        if self.links_task is not None and self.links_task.running:
            self.links_task.cancel()
        self.links_task = self.runner.start(
            link_table_job, stack, pos,
            on_success=lambda t: self._on_links_computed(maps, kind, layer, stack, t),
            on_error=self._on_job_failed)

    def _on_links_computed(self, maps, kind: str, layer: int, stack, table) -> None:
        maps.extra.setdefault("links", {})[(kind, layer)] = (stack, table)
        if maps is self.maps and (kind, layer) == (self.kind, self.layer):
            self.token_view.set_table(table)

    def _on_token_view_headsChanged(self) -> None:
        """One head (or the mean alone) picked in the token view: the selectors show it too."""
        heads = self.token_view.checked_heads()
        if len(heads) != 1 or self.maps is None:
            return
        (head,) = heads
        self.token_view.follow(head)  # it already shows this head: no re-selection
        if head == MEAN:
            self.select(mode=MapMode.MEAN)
        else:
            self.select(mode=MapMode.HEAD, head=head)

    def render_all(self) -> None:
        """Draw every view from `self.maps`, then emit `rendered`."""
        self.head_spin.setEnabled(self.mode == MapMode.HEAD)
        self.render_current()
        self._update_token_view()
        for name in list(self._built):
            self._fill(name)
        self.rendered.emit()

    # -- export -----------------------------------------------------------------------------------
    def export(self, kind: str, path: str | Path) -> Path:
        """Write the current view/map/tokens: kind is png, svg, csv, npy or json."""
        from workbench.core.attention.aggregate import masked_future
        from workbench.core.attention.export import (
            save_csv,
            save_npy,
            save_svg,
            save_tokens_json,
        )

        path = Path(path)
        if kind == "png":
            return _save_grab(self.views.currentWidget(), path)
        if kind == "npy":
            return save_npy(path, self.maps.maps[self.kind])
        if kind == "json":
            return save_tokens_json(path, self.maps.tokens, self.maps.target_tokens)
        matrix, title, causal = self.current_matrix()
        if matrix is None:
            from workbench.core.errors import WorkbenchError

            raise WorkbenchError(title)
        matrix = masked_future(matrix) if causal else matrix
        rows, cols = ([t.text for t in side] for side in self.maps.axis_tokens(self.kind))
        if kind == "svg":
            return save_svg(path, matrix, rows, cols, title=title, levels=self.heatmap.levels)
        return save_csv(path, matrix, rows, cols)

    def _export_dialog(self, kind: str) -> None:
        if self.maps is None:
            return
        filters = {"png": "PNG image (*.png)", "svg": "SVG image (*.svg)", "csv": "CSV (*.csv)",
                   "npy": "NumPy array (*.npy)", "json": "JSON (*.json)"}
        name = f"attention_{self.kind}_L{self.layer}.{kind}" if kind != "json" else "tokens.json"
        path, _ = QFileDialog.getSaveFileName(self, "Export", name, filters[kind])
        if not path:
            return
        from workbench.core.errors import WorkbenchError

        try:
            self.export(kind, path)
        except (WorkbenchError, OSError) as e:
            show_error(self, "Export failed", str(e))
        else:
            self.status.setText(f"Wrote {path}")

    def shutdown(self) -> None:
        """Cancel a running job and drop the model."""
        for task in (self.task, self.matrix_task, self.links_task):
            if task is not None and task.running:
                task.cancel()
        if "compare" in self._built:
            self._built["compare"].shutdown()
        self.cache.clear()


def _save_grab(widget: QWidget, path: Path) -> Path:
    """Save a widget's pixels as PNG atomically (temp file, then rename)."""
    from workbench.core.atomic import atomic_path

    with atomic_path(path) as tmp:
        if not widget.grab().save(str(tmp), "PNG"):
            raise OSError(f"Could not write {path}")
    return path
