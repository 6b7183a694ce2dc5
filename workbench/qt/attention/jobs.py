"""Worker-side jobs of the Attention tab: load the model once per tab, compute attention."""

from __future__ import annotations

import threading


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
                overviews: bool = True, truncate: bool = False, offer_truncate: bool = False):
    """Worker side: load (once per device/dtype), compute attention and its overviews (the
    thumbnail mosaic, entropy and sink heads: drawn, not computed, on the GUI thread).

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
    return attach_overviews(maps) if overviews else maps


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
