"""Live training curves (loss, eval loss, learning rate, grad norm, throughput), progress and log.

Events arrive in batches; the plots redraw from growable numpy buffers on a QTimer (<= 10 Hz)
with pyqtgraph's peak downsampling and clip-to-view, so a long run stays cheap to draw.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QDoubleSpinBox,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QProgressBar,
    QVBoxLayout,
    QWidget,
)

from workbench.qt.common.labels import ElidedLabel
from workbench.qt.common.lazy_plot import LazyMenuViewBox

REDRAW_MS = 100  # each plot redraws at most 10 Hz: smooth enough to read
# Redrawing all four plots at once (setData + paint) costs 20-50 ms of CPU with software
# rendering: a visible hitch, and GIL time taken from the training thread. So each timer tick
# redraws ONE plot (round robin; ticks come four times as often), and the next tick waits at
# least DRAW_BUDGET x the last one's cost: drawing takes <= 1/DRAW_BUDGET of one core.
# The timer is single-shot and armed only when data arrived: an idle view never wakes up (each
# wake-up takes the GIL from the training thread). Measured (bench_train_gui.py, py-spy and
# faulthandler dumps at each late tick): the GUI's late ticks during training were plot paints
# (pyqtgraph's axis tick code, Python) contending for the GIL with the optimizer step's Python
# loop; at 20 the curves took 7-10% of a core, so the budget is 40 (<= 2.5% of a core).
DRAW_BUDGET = 40
PALETTE = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2",
           "#17becf"]


class Series:
    """A growable pair of float64 arrays (x, y) that hands out views without copying."""

    def __init__(self, capacity: int = 256):
        self._x = np.empty(capacity)
        self._y = np.empty(capacity)
        self.n = 0

    def append(self, x: float, y: float) -> None:
        if self.n == len(self._x):
            self._x = np.resize(self._x, 2 * self.n)
            self._y = np.resize(self._y, 2 * self.n)
        self._x[self.n], self._y[self.n] = x, y
        self.n += 1

    def clear(self) -> None:
        self.n = 0

    @property
    def x(self) -> np.ndarray:
        return self._x[: self.n]

    @property
    def y(self) -> np.ndarray:
        return self._y[: self.n]

    def value_at(self, x: float) -> float | None:
        """The y of the point nearest to `x`, or None when empty."""
        if not self.n:
            return None
        i = int(np.clip(np.searchsorted(self.x, x), 0, self.n - 1))
        if i > 0 and abs(self.x[i - 1] - x) < abs(self.x[i] - x):
            i -= 1
        return float(self.y[i])


class Ema:
    """TensorBoard-style exponential moving average with bias correction, extended in place:
    each redraw smooths only the points added since the last one (O(new), not O(all))."""

    def __init__(self, weight: float):
        self.weight = weight
        self.values = Series()
        self._acc = self._norm = 0.0

    def extend(self, y: np.ndarray) -> np.ndarray:
        """Smooth y[self.values.n:] and return the smoothed values of all of y."""
        w = self.weight
        for v in y[self.values.n:]:
            self._acc = w * self._acc + (1.0 - w) * float(v)
            self._norm = w * self._norm + (1.0 - w)
            self.values.append(0.0, self._acc / self._norm)
        return self.values.y


def ema(values: np.ndarray, weight: float) -> np.ndarray:
    """The smoothed copy of `values` (weight in [0, 1))."""
    return Ema(weight).extend(np.asarray(values, dtype=float)).copy()


def _finite(value: Any) -> float | None:
    try:
        v = float(value)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


def _fast_curve(plot: pg.PlotItem, color: str, width: float = 1.5, name: str | None = None,
                symbol: str | None = None) -> pg.PlotDataItem:
    """A curve set up for frequent setData on growing data."""
    curve = plot.plot([], [], pen=pg.mkPen(color, width=width), name=name, symbol=symbol,
                      symbolSize=6, symbolBrush=color if symbol else None)
    curve.setDownsampling(auto=True, method="peak")
    curve.setClipToView(True)
    curve.setSkipFiniteCheck(True)  # non-finite values never reach the buffers
    return curve


# Room beside the planned steps, as a fraction of them: with 2% a best-eval star on the last
# step of a short run was cut in half at the right edge of a 230 px plot (1024 px window).
X_PADDING = 0.04
LEGEND_BESIDE_PX = 70  # of half the view, what the loss plot's axis and margins take


class _TimedGraphics(pg.GraphicsLayoutWidget):
    """A GraphicsLayoutWidget that adds up the time its paint events take."""

    paint_seconds = 0.0
    resized = Signal()

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self.resized.emit()

    def paintEvent(self, event) -> None:
        start = time.perf_counter()
        super().paintEvent(event)
        self.paint_seconds += time.perf_counter() - start


class ReadableAxis(pg.AxisItem):
    """Tick labels with as many digits as the tick spacing needs (1.38, not 1.383147954940798);
    very large or small values in compact scientific form."""

    def tickStrings(self, values, scale, spacing):
        if self.logMode:
            return super().tickStrings(values, scale, spacing)
        return tick_labels([v * scale for v in values], spacing * scale)


class StepAxis(pg.AxisItem):
    """A bottom axis of optimizer steps: whole numbers only (never "2.5"), with thousands
    separators, however few steps are in view."""

    def __init__(self, orientation: str = "bottom", **kwargs):
        super().__init__(orientation, **kwargs)
        self.setLabel("step")
        self.enableAutoSIPrefix(False)  # "12,000", not "12 (x1000)"

    def tickSpacing(self, minVal, maxVal, size):
        levels = [(max(1.0, float(round(spacing))), offset)
                  for spacing, offset in super().tickSpacing(minVal, maxVal, size)]
        return list(dict.fromkeys(levels))  # several levels collapse to 1 on short runs

    def tickValues(self, minVal, maxVal, size):
        return [(spacing, [v for v in values if float(v).is_integer()])
                for spacing, values in super().tickValues(minVal, maxVal, size)]

    def tickStrings(self, values, scale, spacing):
        return [f"{round(v * scale):,}" for v in values]


def step_axes() -> dict[str, pg.AxisItem]:
    """axisItems for a plot of something per step: the step axis below, readable ticks left."""
    return {"bottom": StepAxis(), "left": ReadableAxis("left")}


def drawn_range(arrays, log: bool) -> tuple[float, float]:
    """The (low, high) of the values as a plot draws them (log10 on a log scale)."""
    values = np.concatenate([np.asarray(a, dtype=float) for a in arrays])
    if log:
        values = np.log10(values[values > 0])
    values = values[np.isfinite(values)]
    return (float(values.min()), float(values.max())) if values.size else (0.0, 1.0)


def tick_labels(values, spacing: float) -> list[str]:
    """An axis's tick texts in one style, with the digits the tick spacing needs and no float
    noise: 1.383 (not 1.383147954940798); small values as 5e-5 and 1e-4 (pyqtgraph mixed
    "0.0001" with "5e-05" on one learning-rate axis); large ones with thousands separators."""
    largest = max((abs(v) for v in values), default=0.0)
    if 0 < largest < 1e-3:
        return [_scientific(v, spacing) for v in values]
    if largest >= 1e5:
        return [f"{v:,.0f}" if spacing >= 1 else _scientific(v, spacing) for v in values]
    decimals = max(0, min(8, -math.floor(math.log10(spacing)))) if spacing > 0 else 2
    return ["0" if v == 0 else f"{v:.{decimals}f}" for v in values]


def _scientific(value: float, spacing: float) -> str:
    """5e-5, 7.5e-5, 1e-4: as many significant digits as the spacing needs, short exponent."""
    if value == 0:
        return "0"
    digits = (max(1, min(6, math.ceil(math.log10(abs(value) / spacing)) + 1))
              if spacing > 0 else 3)
    mantissa, exponent = f"{value:.{digits - 1}e}".split("e")
    if "." in mantissa:
        mantissa = mantissa.rstrip("0").rstrip(".")
    return f"{mantissa}e{int(exponent)}"


def clear_anchor(anchor: float, y_px: float, other: tuple[float, float], above: bool,
                 height_px: float, margin_px: float, gap_px: float = 1.0) -> float:
    """The anchor (in label heights, as TextItem's) that puts a label `height_px` tall (its
    text `margin_px` inside that) at a point `y_px` down the plot clear of the text `other` =
    (top, bottom) in px on the same side; unchanged where they do not overlap. Pixel-exact:
    the rule "a line further out" still overlapped when the two points were a few pixels
    apart (both minima at a short run's last step in the run monitor's 70 px plot)."""
    other_top, other_bottom = other
    top, bottom = text_extent(anchor, y_px, height_px, margin_px)
    if bottom + gap_px <= other_top or top >= other_bottom + gap_px:
        return anchor
    if above:  # up, until our text's bottom is just above theirs
        return (y_px - margin_px - other_top + gap_px) / height_px + 1
    return (y_px + margin_px - other_bottom - gap_px) / height_px  # down, below theirs


def text_extent(anchor: float, y_px: float, height_px: float,
                margin_px: float) -> tuple[float, float]:
    """(top, bottom) in px of a label's text anchored at a point `y_px` down the plot: the
    label spans [y - anchor * h, y - (anchor - 1) * h], its text `margin_px` inside that."""
    return y_px - anchor * height_px + margin_px, y_px - (anchor - 1) * height_px - margin_px


class TrainCurvesView(QWidget):
    """Four linked plots fed by TrainEvents: loss (raw, smoothed, eval), LR, grad norm, speed."""

    SERIES = ("loss", "eval_loss", "learning_rate", "grad_norm", "tokens_per_s", "samples_per_s")

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.series: dict[str, Series] = {k: Series() for k in self.SERIES}
        self._ema = Ema(0.8)
        self.max_steps = 0
        self._dirty = False
        self._stale: set[int] = set()  # plots (indexes into self._plots) with undrawn data
        self._turn = 0
        self._last_start = self._last_cost = self._paint_seen = 0.0
        self.redraws = 0
        self.draw_seconds = 0.0  # total time spent in timed redraws (for the benchmark)

        self.graphics = _TimedGraphics()
        self.graphics.setBackground("w")
        # The plots are built after the view is first shown, one per event-loop turn (each
        # PlotItem costs 30-100 ms: a single step building all four stalled the GUI); anything
        # that needs them before that builds the rest at once (see _ensure_built). Until then
        # the data waits in self.series, which is all the plots draw from.
        self._items: dict[str, Any] = {}
        # min train loss and best (lowest) eval loss, (step, value) as drawn by the markers
        self.markers: dict[str, tuple[float, float] | None] = {"loss": None, "eval_loss": None}
        self._built = False
        self._build_timer = QTimer(self)  # a child: never fires on a deleted view
        self._build_timer.setSingleShot(True)
        self._build_timer.setInterval(0)
        self._build_timer.timeout.connect(self._on_build_timer)
        self.graphics.scene().sigMouseMoved.connect(self._on_scene_mouseMoved)

        self.log_scale = QCheckBox("Log scale")
        self.log_scale.setToolTip("Logarithmic y axis for loss and grad norm")
        self.log_scale.toggled.connect(self._on_log_scale_toggled)
        self.smoothing = QDoubleSpinBox()
        self.smoothing.setRange(0.0, 0.99)
        self.smoothing.setSingleStep(0.05)
        self.smoothing.setValue(0.8)
        self.smoothing.setPrefix("Smoothing ")
        self.smoothing.setToolTip("Weight of the exponential moving average of the train loss")
        self.smoothing.valueChanged.connect(self._on_smoothing_valueChanged)
        # elided: a long readout neither widens the curves' minimum nor reflows the row
        self.hover = ElidedLabel("Hover over a plot to read values.",
                                 mode=Qt.TextElideMode.ElideRight)
        top = QHBoxLayout()
        top.addWidget(self.log_scale)
        top.addWidget(self.smoothing)
        top.addWidget(self.hover, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(top)
        layout.addWidget(self.graphics, 1)

        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(REDRAW_MS // 4)
        self._timer.timeout.connect(self._on_timer_timeout)

    PLOTS = (("loss_plot", "Loss"), ("lr_plot", "Learning rate"), ("grad_plot", "Grad norm"),
             ("speed_plot", "Throughput"))

    def _plot(self, title: str, row: int, col: int) -> pg.PlotItem:
        # no grid: its lines double the cost of each repaint
        return self.graphics.addPlot(row=row, col=col, title=title, viewBox=LazyMenuViewBox(),
                                     axisItems=step_axes())

    @property
    def built(self) -> bool:
        """Whether the plots exist yet (they are made after the first show, or when needed)."""
        return self._built

    def _build_step(self) -> bool:
        """Build the next missing plot, or finish (curves, markers, lines); True when done."""
        if self._built:
            return True
        for i, (name, title) in enumerate(self.PLOTS):
            if name not in self._items:
                self._items[name] = self._plot(title, row=i // 2, col=i % 2)
                return False
        self._finish_build()
        return True

    def _fit_legend(self) -> None:
        """The loss legend with as many entries a row as half the plots' width holds (3, 2 or
        1): in one row (~300 px) it set the loss plot's minimum and pushed the right-hand plots
        past the edge of a narrow pane (the Runs page at 1024 px). Decided from the whole
        view's width, which the legend does not change, so it cannot flip back and forth."""
        legend = self._items["loss_plot"].legend
        room = self.graphics.width() / 2 - LEGEND_BESIDE_PX
        columns = next((n for n in (3, 2) if self._legend_widths[n] <= room), 1)
        if legend.columnCount != columns:
            legend.setColumnCount(columns)

    def _on_build_timer(self) -> None:
        if not self._build_step():
            self._queue_build()

    def _queue_build(self) -> None:
        if not self._built and not self._build_timer.isActive():
            self._build_timer.start()

    def _ensure_built(self) -> None:
        while not self._build_step():
            pass

    def _finish_build(self) -> None:
        loss_plot, lr_plot = self._items["loss_plot"], self._items["lr_plot"]
        grad_plot, speed_plot = self._items["grad_plot"], self._items["speed_plot"]
        # The legend in a row of its own under the loss plot's step axis, never over the data:
        # anchored inside the view box (addLegend) it covered the eval curve and its best-eval
        # label whenever they ran under the top-right corner.
        legend = pg.LegendItem(offset=None, colCount=3, verSpacing=-6)
        legend.layout.setContentsMargins(0, 0, 0, 0)  # one short row: the plot keeps its room
        loss_plot.layout.addItem(legend, 4, 1)
        loss_plot.legend = legend  # PlotItem.addItem(..., name=) fills the plot's legend
        self._items["curves"] = {
            "loss": _fast_curve(loss_plot, "#9ecae1", 1.0, "train (raw)"),
            "loss_smoothed": _fast_curve(loss_plot, PALETTE[0], 2.0, "train (smoothed)"),
            "eval_loss": _fast_curve(loss_plot, PALETTE[1], 2.0, "eval", symbol="o"),
            "learning_rate": _fast_curve(lr_plot, PALETTE[2]),
            "grad_norm": _fast_curve(grad_plot, PALETTE[3]),
            "tokens_per_s": _fast_curve(speed_plot, PALETTE[4]),
        }
        speed_plot.setLabel("left", "tokens/s")
        self._legend_widths = {}  # its width with 3, 2 and 1 entries a row
        for columns in (1, 2, 3):
            legend.setColumnCount(columns)
            self._legend_widths[columns] = legend.boundingRect().width()
        self.graphics.resized.connect(self._fit_legend)
        self._fit_legend()
        # a marker and a label for each of self.markers, moved as data comes
        markers = {}
        for key, color, text in (("loss", PALETTE[0], "min"), ("eval_loss", PALETTE[1], "best")):
            dot = pg.PlotDataItem([], [], pen=None, symbol="star", symbolSize=14,
                                  symbolBrush=color, symbolPen=pg.mkPen("#333"))
            label = pg.TextItem("", color="#222", fill=pg.mkBrush(255, 255, 255, 200))
            label.setZValue(10)
            loss_plot.addItem(dot)
            loss_plot.addItem(label, ignoreBounds=True)
            label.hide()
            markers[key] = (dot, label, text)
        self._items["_marker_items"] = markers
        # labels are placed in pixels: again when auto-range (applied at paint) moves the view
        loss_plot.vb.sigRangeChanged.connect(self._place_labels)
        # no setXLink: a linked x range would make every plot repaint whenever one redraws
        lines = []
        for plot in (loss_plot, lr_plot, grad_plot, speed_plot):
            line = pg.InfiniteLine(angle=90, pen=pg.mkPen("#999", style=Qt.PenStyle.DashLine))
            line.hide()
            plot.addItem(line, ignoreBounds=True)
            lines.append(line)
        self._items["cursor_lines"] = lines
        self._built = True
        # what was set before the plots existed: the planned steps, log scale, the data
        if self.max_steps:
            self.set_max_steps(self.max_steps)
        if self.log_scale.isChecked():
            self._on_log_scale_toggled(True)
        self.redraw()

    def _item(self, name: str) -> Any:
        if not self._built:
            self._ensure_built()
        return self._items[name]

    loss_plot = property(lambda self: self._item("loss_plot"))
    lr_plot = property(lambda self: self._item("lr_plot"))
    grad_plot = property(lambda self: self._item("grad_plot"))
    speed_plot = property(lambda self: self._item("speed_plot"))
    curves = property(lambda self: self._item("curves"))
    cursor_lines = property(lambda self: self._item("cursor_lines"))
    _marker_items = property(lambda self: self._item("_marker_items"))

    # -- data ------------------------------------------------------------------------------------
    def clear(self) -> None:
        """Forget every point (a new run starts)."""
        for s in self.series.values():
            s.clear()
        self._ema = Ema(self.smoothing.value())
        self.max_steps = 0
        if not self._built:
            return  # nothing drawn yet; new plots auto-range already
        for plot in self._plots:
            plot.enableAutoRange(x=True)
        self._dirty = True
        self.redraw()

    def add_events(self, events: Iterable[Any]) -> None:
        """Append the metrics of a batch of TrainEvents; the next timer tick redraws."""
        for event in events:
            if event.max_steps > self.max_steps:
                self.set_max_steps(event.max_steps)
            if event.kind not in ("log", "eval"):
                continue
            self.add_metrics(event.step, event.metrics)

    def set_max_steps(self, max_steps: int) -> None:
        """Fix every x axis to the planned steps: plots stay aligned while filling up, and the
        axes need no re-layout at each step (cheaper paints)."""
        self.max_steps = int(max_steps)
        if not self._built:
            return  # applied when the plots are built
        for plot in self._plots:
            plot.setXRange(0, self.max_steps, padding=X_PADDING)

    def add_metrics(self, step: float, metrics: dict[str, Any]) -> None:
        """Append one row of metrics at `step` (non-finite values are skipped, not drawn)."""
        for key in self.SERIES:
            value = _finite(metrics.get(key))
            if value is not None:
                self.series[key].append(float(step), value)
                self._dirty = True
                self._stale.update(range(4))
        self._schedule()

    def _schedule(self, delay_s: float = REDRAW_MS / 4000) -> None:
        """Arm the single-shot draw timer (no-op when it is already armed)."""
        if self._dirty and not self._timer.isActive():
            self._timer.start(max(1, round(delay_s * 1000)))

    def load_rows(self, rows: Sequence[dict[str, Any]]) -> None:
        """Show a saved run: rows as in metrics.jsonl (each with a step and metric keys)."""
        self.clear()
        for row in rows:
            metrics = row.get("metrics", row)
            self.add_metrics(row.get("step", 0), metrics)
        self.redraw()

    def _on_timer_timeout(self) -> None:
        now = time.perf_counter()
        painted = self.graphics.paint_seconds - self._paint_seen
        self._paint_seen += painted
        self._last_cost += painted  # the last tick's paint happened after it returned
        self.draw_seconds += painted
        due = self._last_start + max(REDRAW_MS / 4000, DRAW_BUDGET * self._last_cost)
        if not self._dirty or not self.isVisible() or not self._built:
            return  # hidden or not built yet: the data waits; showEvent / the build draws it
        if now < due:
            self._schedule(due - now)
            return
        if not self._stale:
            self._stale = set(range(len(self._plots)))
        index = next(i % len(self._plots) for i in range(self._turn, self._turn + 4)
                     if i % len(self._plots) in self._stale)
        self._turn = index + 1
        self._stale.discard(index)
        self._push(self._plots[index])  # Qt repaints just that plot's region afterwards
        self._dirty = bool(self._stale)
        self._last_start, self._last_cost = now, time.perf_counter() - now
        self.draw_seconds += self._last_cost
        self.redraws += 1
        self._schedule()  # the next plot's turn (the budget check above spaces them)

    def showEvent(self, event) -> None:
        super().showEvent(event)
        if self._built:
            self.redraw()
        else:
            self._queue_build()  # one plot per event-loop turn; the last step draws the data

    def redraw(self) -> None:
        """Push all new data to the curves at once (the timer does it one plot at a time).

        Before the plots exist: a hidden view keeps the data in its buffers (the build after
        the first show draws it); a shown one finishes the build now."""
        if not self._dirty:
            return
        if not self._built:
            if self.isVisible():
                self._ensure_built()  # its last step calls redraw
            return
        for plot in self._plots:
            self._push(plot)
        self._stale.clear()
        self._dirty = False
        self.redraws += 1

    @property
    def _plots(self) -> tuple[pg.PlotItem, ...]:
        return (self.loss_plot, self.lr_plot, self.grad_plot, self.speed_plot)

    def _push(self, plot: pg.PlotItem) -> None:
        """setData on the curves of one plot from the buffers."""
        if plot is self.loss_plot:
            loss = self.series["loss"]
            self.curves["loss"].setData(loss.x, loss.y)
            self.curves["loss_smoothed"].setData(loss.x, self._ema.extend(loss.y))
            self.curves["eval_loss"].setData(self.series["eval_loss"].x,
                                             self.series["eval_loss"].y)
            self._place_markers()
        elif plot is self.lr_plot:
            s = self.series["learning_rate"]
            self.curves["learning_rate"].setData(s.x, s.y)
        elif plot is self.grad_plot:
            s = self.series["grad_norm"]
            self.curves["grad_norm"].setData(s.x, s.y)
        else:
            speed = self.series["tokens_per_s"]
            if not speed.n and self.series["samples_per_s"].n:
                speed = self.series["samples_per_s"]
                self.speed_plot.setLabel("left", "samples/s")
            self.curves["tokens_per_s"].setData(speed.x, speed.y)

    def _place_markers(self) -> None:
        """Put the min-train-loss and best-eval markers at the lowest point of each series."""
        for key, (dot, label, text) in self._marker_items.items():
            s = self.series[key]
            if not s.n:
                self.markers[key] = None
                dot.setData([], [])
                label.hide()
                continue
            i = int(np.argmin(s.y))
            x, y = float(s.x[i]), float(s.y[i])
            self.markers[key] = (x, y)
            dot.setData([x], [y])
            label.setText(f"{text} {y:.4g} @ {x:,.0f}")
        self._place_labels()

    def _place_labels(self) -> None:
        """Each marker's label beside its point, on the inner side, clear of the other label;
        again whenever the view's range changes (auto-range, zoom), so it is in pixels."""
        log = self.log_scale.isChecked()
        vb = self.loss_plot.vb
        origin = vb.sceneBoundingRect().topLeft()
        placed: list[tuple[tuple[float, float], tuple[float, float], bool]] = []
        for key, (_dot, label, _text) in self._marker_items.items():
            if self.markers.get(key) is None:
                continue
            x, y = self.markers[key]
            # the text on the inner side of the point, never cut at the plot's edges: left or
            # right of it by x; train's above and eval's below (two minima at one step do not
            # cover each other) unless that side is the edge of the view (short runs: the min
            # train loss is the top of the range, the best eval the bottom)
            # (the data's range, not the view's: auto-range updates the view only when painted)
            low, high = vb.viewRange()[0]
            inner = 1.0 if x > (low + high) / 2 else 0.0
            y_drawn = math.log10(y) if log and y > 0 else y
            bottom, top = drawn_range(
                [self.series[k].y for k in ("loss", "eval_loss") if self.series[k].n], log)
            height = (y_drawn - bottom) / (top - bottom) if top > bottom else 0.5
            above = height < 0.7 if key == "loss" else height < 0.3
            anchor = 1.2 if above else -0.2
            # both on one side (both minima at the bottom of a long run, or near the end of a
            # short one): the second label moves out until the two texts do not overlap
            size = label.textItem.boundingRect()
            margin = label.textItem.document().documentMargin()
            point = vb.mapViewToScene(QPointF(x, y_drawn)) - origin
            span = (point.x() - inner * size.width(), point.x() + (1 - inner) * size.width())
            for other_text, other_span, other_above in placed:
                if other_above == above and span[0] < other_span[1] and other_span[0] < span[1]:
                    anchor = clear_anchor(anchor, point.y(), other_text, above, size.height(),
                                          margin)
            placed.append((text_extent(anchor, point.y(), size.height(), margin), span, above))
            label.setAnchor((inner, anchor))
            label.setPos(x, y_drawn)
            label.show()

    # -- interaction -----------------------------------------------------------------------------
    def _on_log_scale_toggled(self, on: bool) -> None:
        if not self._built:
            return  # applied when the plots are built
        self.loss_plot.setLogMode(y=on)
        self.grad_plot.setLogMode(y=on)
        self._place_markers()

    def _on_smoothing_valueChanged(self, value: float) -> None:
        self._ema = Ema(value)
        self._dirty = True
        self.redraw()

    def _on_scene_mouseMoved(self, pos) -> None:
        if not self._built:
            return
        for plot in (self.loss_plot, self.lr_plot, self.grad_plot, self.speed_plot):
            if plot.sceneBoundingRect().contains(pos):
                step = plot.vb.mapSceneToView(pos).x()
                break
        else:
            for line in self.cursor_lines:
                line.hide()
            return
        for line in self.cursor_lines:
            line.setPos(step)
            line.show()
        self.hover.set_full_text(self.describe_step(step))

    def describe_step(self, step: float) -> str:
        """The values nearest to `step`, for the hover label."""
        parts = [f"step {step:.0f}"]
        formats = {"loss": "loss {:.4g}", "eval_loss": "eval loss {:.4g}",
                   "learning_rate": "lr {:.3g}", "grad_norm": "grad norm {:.3g}",
                   "tokens_per_s": "{:,.0f} tokens/s", "samples_per_s": "{:,.1f} samples/s"}
        for key, fmt in formats.items():
            value = self.series[key].value_at(step)
            if value is not None:
                parts.append(fmt.format(value))
        loss = self.series["loss"]
        smoothed = self._ema.values
        if loss.n and smoothed.n == loss.n:
            i = int(np.clip(np.searchsorted(loss.x, step), 0, loss.n - 1))
            parts.insert(2, f"smoothed {smoothed.y[i]:.4g}")
        return " · ".join(parts)


class RunProgress(QWidget):
    """Progress bar with step, epoch, elapsed time and ETA, plus a bounded log pane."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.bar = QProgressBar()
        self.bar.setRange(0, 1)
        self.bar.setValue(0)
        self.bar.setFormat("no run yet")  # not "0 / 1 steps": nothing is planned yet
        self.label = QLabel("Not started.")
        self.log = QPlainTextEdit()
        self.log.setReadOnly(True)
        self.log.setMaximumBlockCount(5000)
        self.log.setPlaceholderText("Run log: start, evaluations, checkpoints, warnings...")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        row = QHBoxLayout()
        row.addWidget(self.bar, 1)
        row.addWidget(self.label, 2)
        layout.addLayout(row)
        layout.addWidget(self.log, 1)
        self._rate_points: list[tuple[float, float]] = []  # (monotonic seconds, step)
        self._started = 0.0
        self._paused_at: float | None = None
        self._paused_total = 0.0

    def reset(self) -> None:
        self.bar.setRange(0, 1)
        self.bar.setValue(0)
        self.bar.setFormat("starting")
        self.label.setText("Starting...")
        self._rate_points.clear()
        self._started = time.monotonic()
        self._paused_at, self._paused_total = None, 0.0

    def add_events(self, events: Iterable[Any]) -> None:
        """Update the bar and ETA from a batch of TrainEvents and log the notable ones."""
        lines = []
        last = None
        now = time.monotonic()
        for event in events:
            last = event
            if event.kind == "paused":
                self._paused_at = now
            elif event.kind == "resumed" and self._paused_at is not None:
                self._paused_total += now - self._paused_at
                self._paused_at = None
                self._rate_points.clear()  # the rate before a pause says nothing after it
            line = format_event(event)
            if line:
                lines.append(line)
        if lines:
            self.log.appendPlainText("\n".join(lines))
        if last is None:
            return
        if last.max_steps and last.max_steps > 0:
            self.bar.setRange(0, int(last.max_steps))
            self.bar.setFormat("%v / %m steps")
        self.bar.setValue(int(min(last.step, self.bar.maximum())))
        if self._paused_at is None:
            self._rate_points.append((now, float(last.step)))
            self._rate_points = self._rate_points[-30:]
        self.label.setText(self.describe(last, now))

    def finish(self, status: str) -> None:
        """The run ended (finished/cancelled/failed): say so, with no ETA, even when it ended
        before any step (then no event carried the status)."""
        self._paused_at = None
        text = self.label.text()
        if text in ("Starting...", "Not started."):
            self.bar.setFormat(f"{status} before the first step")
            self.label.setText(status)
        elif not text.endswith(f"\u00b7 {status}"):
            head = text.split(" \u00b7 ETA")[0].removesuffix(" \u00b7 paused")
            self.label.setText(f"{head} \u00b7 {status}")

    def describe(self, event: Any, now: float) -> str:
        elapsed = now - self._started - self._paused_total
        text = f"step {event.step}/{event.max_steps} · epoch {event.epoch:.2f} · " \
               f"elapsed {format_duration(elapsed)}"
        if event.kind in ("finished", "cancelled", "failed"):
            return text + f" · {event.kind}"  # no ETA once nothing more will run
        if self._paused_at is not None:
            return text + " · paused"
        if len(self._rate_points) >= 2 and event.max_steps:
            (t0, s0), (t1, s1) = self._rate_points[0], self._rate_points[-1]
            if s1 > s0 and t1 > t0:
                eta = (event.max_steps - s1) * (t1 - t0) / (s1 - s0)
                text += f" · ETA {format_duration(eta)}"
        return text


def format_duration(seconds: float) -> str:
    """h:mm:ss or m:ss."""
    seconds = max(0, round(seconds))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def format_event(event: Any) -> str:
    """One log line for an event (plain 'log' events are summarised, not all listed)."""
    m = event.metrics or {}
    head = f"[{event.kind} @ step {event.step}]"
    if event.kind == "log":
        if event.step % 50 and not any(_finite(v) is None for v in m.values()):
            return ""
        shown = ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                          for k, v in m.items() if k in ("loss", "learning_rate", "grad_norm"))
        return f"{head} {shown}"
    shown = ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                      for k, v in m.items())
    return " ".join(p for p in (head, event.message, shown) if p)
