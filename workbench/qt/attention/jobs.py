"""Worker-side jobs of the Attention tab: load the model once per tab, compute attention,
colour the heatmap and find the token view's strongest links, so the GUI thread only draws."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

import numpy as np
from PySide6.QtGui import QImage

from workbench.core.attention.aggregate import MapMode, MapSelection, select_map
from workbench.qt.common.heatmap import heatmap_image, heatmap_levels


@dataclass(frozen=True)
class RenderHint:
    """What the view will show first: resolved against the result as the selectors will be
    (a kind or layer the result lacks falls back to the first kind and last captured layer)."""

    kind: str | None = None
    layer: int | None = None
    mode: MapMode = MapMode.HEAD
    head: int = 0
    fixed_levels: tuple[float, float] | None = None  # None: 0 to the largest weight

    def resolve(self, maps: Any) -> MapSelection:
        kind = self.kind if self.kind in maps.kinds else maps.kinds[0]
        layers = maps.layers[kind]
        layer = self.layer if self.layer in layers else layers[-1]
        head = min(max(self.head, 0), maps.num_heads(kind) - 1)
        return MapSelection(kind, layer, MapMode(self.mode), head)


@dataclass(frozen=True)
class RenderedMap:
    """One selection as the heatmap draws it: matrix, title, levels and coloured pixels."""

    maps: Any  # the AttentionMaps it was made from (identity: cache check)
    selection: MapSelection
    fixed_levels: tuple[float, float] | None
    matrix: np.ndarray | None
    title: str
    causal: bool
    levels: tuple[float, float] = (0.0, 1.0)
    image: QImage | None = None  # made in the worker thread


def render_map(maps: Any, selection: MapSelection,
               fixed_levels: tuple[float, float] | None = None) -> RenderedMap:
    """Worker side: core's matrix of a selection, coloured into a QImage."""
    matrix, title, causal = select_map(maps, selection)
    if matrix is None:
        return RenderedMap(maps, selection, fixed_levels, None, title, causal)
    matrix = np.ascontiguousarray(matrix, dtype=np.float32)
    levels = heatmap_levels(matrix, fixed_levels)
    return RenderedMap(maps, selection, fixed_levels, matrix, title, causal, levels,
                       heatmap_image(matrix, levels))


def cached_render(maps: Any, selection: MapSelection,
                  fixed_levels: tuple[float, float] | None) -> RenderedMap | None:
    """The rendering a worker attached to exactly these maps for this selection, else None."""
    rendered = maps.extra.get("rendered")
    if rendered is not None and rendered.maps is maps and rendered.selection == selection \
            and rendered.fixed_levels == fixed_levels:
        return rendered
    return None


def link_table_job(stack: np.ndarray, pos: int):
    """Worker side: the token view's LinkTable of one captured layer of a (L, H, Tq, Tk) stack."""
    from workbench.core.attention.links import link_table

    return link_table(stack[pos])


class ModelCache:
    """The tab's model and tokenizer, loaded in the worker; reused while device/dtype hold."""

    def __init__(self):
        # One computation at a time per model: the capture hooks would see both forwards.
        self.lock = threading.Lock()
        self.key: tuple | None = None
        self.model = None
        self.tokenizer = None
        self.memory_limit: int | None = None  # None: the core's default threshold

    def clear(self) -> None:
        self.key, self.model, self.tokenizer = None, None, None


def compute_job(cache: ModelCache, path: str | None, device: str, dtype: str, text: str,
                pair: str | None, target: str | None, layers, progress=None, cancel=None,
                overviews: bool = True, truncate: bool = False, offer_truncate: bool = False,
                render: RenderHint | None = None):
    """Worker side: load (once per device/dtype), compute attention and its overviews (the
    thumbnail mosaic, entropy and sink heads: drawn, not computed, on the GUI thread).

    With `render`, also the heatmap of that selection (`maps.extra["rendered"]`) and the token
    view's strongest links of its layer (`maps.extra["links"]`), so the first draw of a
    2,048-token result does no colouring or ranking on the GUI thread.

    With `offer_truncate` an input over the model's maximum is returned as its
    InputTooLongError (lengths only, no traceback) so the view can offer to truncate it.
    """
    from workbench.core.attention.compute import InputTooLongError
    from workbench.core.attention.overview import attach_overviews

    try:
        with cache.lock:
            maps = _load_and_compute(cache, path, device, dtype, text, pair, target, layers,
                                     progress, cancel, truncate)
    except InputTooLongError as e:
        if offer_truncate:
            return e
        raise
    if overviews:
        from workbench.qt.attention.grid import mosaic_image

        attach_overviews(maps)
        maps.extra["mosaic_images"] = {kind: mosaic_image(overview.mosaic)
                                       for kind, overview in maps.extra["overviews"].items()
                                       if overview.mosaic is not None}
    if render is not None:
        from workbench.core.attention.links import attach_link_tables

        selection = render.resolve(maps)
        maps.extra["rendered"] = render_map(maps, selection, render.fixed_levels)
        attach_link_tables(maps, {selection.kind: selection.layer})
    return maps


def _load_and_compute(cache, path, device, dtype, text, pair, target, layers, progress, cancel,
                      truncate=False):
    from workbench.core.attention.compute import check_text_checkpoint, compute_attention
    from workbench.core.model.loading import load_model, load_tokenizer

    progress = progress or (lambda _msg: None)
    if path is not None and cache.key != (path, device, dtype):
        from workbench.core.devices import check_device

        check_device(device)
        check_text_checkpoint(path)
        progress("loading the tokenizer")
        tokenizer = load_tokenizer(path)  # fails before time is spent on the model
        progress(f"loading the model on {device} ({dtype}, eager attention)")
        cache.clear()  # free the old model before loading the new one
        model = load_model(path, device=device, dtype=dtype, attn_implementation="eager")
        cache.key, cache.model, cache.tokenizer = (path, device, dtype), model, tokenizer
    return compute_attention(cache.model, cache.tokenizer, text, pair=pair, target=target,
                             layers=layers, progress=progress, cancel=cancel, truncate=truncate,
                             **({} if cache.memory_limit is None
                                else {"memory_limit": cache.memory_limit}))
