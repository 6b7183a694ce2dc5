"""Event-loop stalls per screen while it does its heaviest thing (prints figures, no asserts).

    QT_QPA_PLATFORM=offscreen python tests/bench/bench_stalls.py [--stacks] [--only WORD]

`--stacks` samples the GUI thread's Python stack whenever a tick is late by more than 40 ms
and prints the most frequent workbench frames per screen (where the time goes). Garbage
collections over 10 ms (in any thread: each holds the GIL throughout) are always printed.
`--profile` runs cProfile on the GUI thread during each screen and prints its top functions by
cumulative time (profiling slows Python code ~2x: read the shares, not the times).
`--only attention` runs the screens whose name contains the word (start page always runs);
`--only config,fine-tune,graph Mini` takes several, comma-separated.

A 16 ms QTimer records the interval between its ticks; a tick late by more than the period
means the GUI thread was busy. For each screen the probe runs while the screen does its
heaviest work, and p99 and max of (interval - 16 ms) are printed, then a table:
the start page (window built and shown), the overview (open MiniLM), first opening of the
config editor, the Fine-tune form, the Attention tab and the New Model dialog,
attention at 512 tokens (MiniLM) and at 2,048 tokens (a tiny Llama with MiniLM's tokenizer):
opening its tab, pasting the text, then the run and its first render,
rollout, the all-heads grid, the token view, and the graph layout (expand all) of MiniLM and of
the 70B-shaped checkpoint from tests/bench/fake_70b.py.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import io
import os
import pstats
import sys
import tempfile
import threading
import time
import traceback
from collections import Counter
from pathlib import Path

import numpy as np

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

PERIOD_MS = 16


class StallProbe:
    """Ticks every 16 ms; `stop()` gives how late each tick came (ms).

    With `stacks`, a watchdog thread samples the GUI thread's stack, and the stacks of workers
    running workbench code, every 10 ms while a tick is overdue by more than 40 ms (the GIL
    permitting), so long stalls name their code.
    """

    def __init__(self, stacks: bool = False):
        from PySide6.QtCore import QTimer

        self.timer = QTimer()
        self.timer.setInterval(PERIOD_MS)
        self.timer.timeout.connect(self._tick)
        self.times: list[float] = []
        self.samples: Counter = Counter()
        self._main = threading.main_thread().ident
        self._running = threading.Event()
        self.collections: list[tuple[int, float]] = []  # (generation, ms) of each gc over 10 ms
        self._gc_started = 0.0
        gc.callbacks.append(self._on_gc)
        if stacks:
            threading.Thread(target=self._watch, daemon=True).start()

    def _on_gc(self, phase: str, info: dict) -> None:
        if phase == "start":
            self._gc_started = time.perf_counter()
        elif self._running.is_set():
            ms = (time.perf_counter() - self._gc_started) * 1000
            if ms > 10:
                self.collections.append((info["generation"], ms))

    def _tick(self) -> None:
        self.times.append(time.perf_counter())

    def _watch(self) -> None:
        while True:
            time.sleep(0.01)
            if not self._running.is_set() or not self.times:
                continue
            if (time.perf_counter() - self.times[-1]) * 1000 - PERIOD_MS > 40:
                me = threading.get_ident()
                for ident, frame in sys._current_frames().items():
                    # the GUI thread's stack, and where each worker is: a worker that held
                    # the GIL in compiled code is sampled just after, at the call that held it
                    if ident == self._main:
                        self.samples[_where(frame)] += 1
                    elif ident != me and _ours(frame):
                        self.samples["[worker] " + _where(frame)] += 1

    def start(self) -> None:
        self.times = [time.perf_counter()]
        self.samples = Counter()
        self.collections = []
        self._running.set()
        self.timer.start()

    def stop(self) -> np.ndarray:
        self.timer.stop()
        self._running.clear()
        gaps = np.diff(np.asarray(self.times)) * 1000 - PERIOD_MS
        return np.clip(gaps, 0, None)


def _ours(frame) -> bool:
    """Whether a stack runs workbench code (not an idle thread of Qt or a library)."""
    return any("workbench" in f.filename and "bench_stalls" not in f.filename
               for f in traceback.extract_stack(frame))


def _where(frame) -> str:
    """The innermost frame plus the innermost two workbench frames of a stack."""
    frames = traceback.extract_stack(frame)
    ours = [f for f in frames if "workbench" in f.filename and "bench_stalls" not in f.filename]
    pick = [*ours[-2:], frames[-1]] if ours else frames[-3:]
    return " < ".join(f"{Path(f.filename).name}:{f.lineno} {f.name}" for f in reversed(pick))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--stacks", action="store_true", help="sample stacks of long stalls")
    parser.add_argument("--profile", action="store_true",
                        help="cProfile the GUI thread per screen and print its top functions")
    parser.add_argument("--only", default="",
                        help="run only screens whose name has this (comma-separated words)")
    args = parser.parse_args()
    words = [w.strip() for w in args.only.split(",") if w.strip()]
    if sys.dont_write_bytecode:
        # measured here: Edit config's first open 45-70 ms max with it, 35-41 ms without
        print("note: PYTHONDONTWRITEBYTECODE is set, so every import compiles its source while "
              "holding the GIL (an installed program loads .pyc files): first-open figures are "
              "pessimistic; run with `env -u PYTHONDONTWRITEBYTECODE` to measure as users run it",
              flush=True)

    def wanted(name: str) -> bool:
        return not words or any(w in name for w in words)

    from PySide6.QtCore import QEventLoop, QSettings, QTimer
    from PySide6.QtWidgets import QApplication

    from tests.bench.bench_attention import text_of_tokens
    from tests.bench.fake_70b import make_fake_llama70b
    from tests.fixtures.attention import tiny_with_tokenizer
    from workbench.core.model.loading import demo_checkpoint_path, load_tokenizer
    from workbench.qt.app import tune_interpreter_for_gui

    tune_interpreter_for_gui()  # as the app runs
    app = QApplication.instance() or QApplication(sys.argv[:1])
    probe = StallProbe(stacks=args.stacks)
    rows: list[tuple[str, np.ndarray]] = []
    root = Path(tempfile.mkdtemp(prefix="stalls_"))

    def wait(condition, seconds: float = 240) -> None:
        deadline = time.time() + seconds
        while not condition():
            if time.time() > deadline:
                raise TimeoutError
            app.processEvents(QEventLoop.ProcessEventsFlag.AllEvents, 20)
            time.sleep(0.002)

    def measure(name: str, action, done, settle: float = 0.3) -> None:
        profile = cProfile.Profile() if args.profile and wanted(name) else None
        probe.start()
        if profile:
            profile.enable()
        action()
        wait(done)
        end = time.time() + settle  # what follows the result (repaints) counts too
        wait(lambda: time.time() > end)
        if profile:
            profile.disable()
        gaps = probe.stop()
        if not wanted(name) and not name.startswith("start page"):
            return  # run (later screens need it), not reported
        rows.append((name, gaps))
        print(f"{name:42s} p99 {np.percentile(rows[-1][1], 99):6.1f} ms   "
              f"max {rows[-1][1].max():6.1f} ms   ({rows[-1][1].size} ticks)", flush=True)
        for generation, ms in probe.collections:  # any thread's: each holds the GIL throughout
            print(f"    {ms:5.0f} ms  garbage collection of generation {generation}", flush=True)
        for where, n in probe.samples.most_common(6):
            print(f"    {n * 10:5d} ms  {where}", flush=True)
        if profile:
            out = io.StringIO()
            stats = pstats.Stats(profile, stream=out)
            stats.sort_stats("cumulative").print_stats(r"workbench|PySide6|pyqtgraph", 25)
            print(out.getvalue().split("function calls", 1)[-1], flush=True)

    window = [None]

    import workbench.qt.main_window as main_window  # a cold start is bench_launch's figure

    def report(_parent, title, message, details=""):  # a modal box would hang the script
        raise SystemExit(f"{title}: {message}\n{details}")

    main_window.show_error = report

    def start_window():
        w = main_window.MainWindow(settings=QSettings(str(root / "s.ini"),
                                                      QSettings.Format.IniFormat))
        w.resize(1440, 900)
        w.show()
        window[0] = w

    measure("start page: window built and shown", start_window,
            lambda: window[0] is not None and window[0].isVisible())
    window = window[0]
    from workbench.qt.common.tasks import running_threads

    # as app.py does: the device probe (imports torch) and other start-up work off-thread
    measure("start page: background start-up work", window.start_background_checks,
            lambda: not running_threads())

    def open_tab(path: str):
        before = window.tabs.count()
        if window.open_checkpoint(path) is None:  # already open: now in front
            return window.current_tab()
        wait(lambda: window.tabs.count() > before)
        return window.tabs.widget(window.tabs.count() - 1)

    minilm = str(demo_checkpoint_path())
    tab = [None]
    measure("overview: open MiniLM", lambda: tab.__setitem__(0, open_tab(minilm)),
            lambda: tab[0] is not None)
    for title in ("Edit config", "Fine-tune", "Attention"):
        measure(f"{title.lower()}: first open", lambda t=title: tab[0].show_view(t),
                lambda: True)
    tab[0].setCurrentIndex(0)
    dialog = [None]

    def new_model():  # as File > New Model... does it
        from workbench.qt.config.actions import open_new_model_dialog

        dialog[0] = open_new_model_dialog(window)

    measure("new model dialog: open", new_model,
            lambda: dialog[0] is not None and dialog[0].isVisible())
    if dialog[0] is not None:
        dialog[0].close()
        dialog[0].deleteLater()
    tokenizer = load_tokenizer(minilm)
    files = [Path(minilm) / n for n in ("tokenizer.json", "tokenizer_config.json",
                                        "vocab.txt", "special_tokens_map.json")
             if (Path(minilm) / n).is_file()]
    llama = tiny_with_tokenizer("llama", root / "llama2k", files,
                                max_position_embeddings=4096)

    for path, tokens in ((minilm, 512), (str(llama), 2048)):
        label = f"attention {tokens} tokens"
        if not wanted(label):
            continue
        # Each step is measured apart, and each is let settle (repaints, deferred layout):
        # run + render once counted the paint of a tab opened just before (~100-190 ms).
        opened: list = []
        measure(f"{label}: open its tab", lambda p=path, o=opened: o.append(open_tab(p)),
                lambda o=opened: bool(o), settle=1.0)
        tab = opened[0]
        measure(f"{label}: show Attention", lambda t=tab, o=opened: o.append(
            t.show_view("Attention")), lambda o=opened: len(o) > 1, settle=1.0)
        view = opened[1]
        sys.modules["workbench.qt.attention.view"].show_error = report
        measure(f"{label}: text pasted", lambda v=view, n=tokens: v.text_edit.setPlainText(
            text_of_tokens(tokenizer, n)), lambda: True, settle=1.0)
        count = [0]
        view.rendered.connect(lambda c=count: c.__setitem__(0, c[0] + 1))
        view.failed.connect(lambda message: sys.exit(f"attention failed: {message}"))
        measure(f"{label}: run + render", view.run, lambda c=count: c[0] >= 1)
        shown = [0]
        view.matrixShown.connect(lambda s=shown: s.__setitem__(0, s[0] + 1))
        measure(f"{label}: rollout", lambda v=view: v.select(mode=3), lambda s=shown: s[0] >= 1)
        measure(f"{label}: all-heads grid", lambda v=view: v.views.setCurrentWidget(v.grid),
                lambda: True)
        measure(f"{label}: token view", lambda v=view: v.views.setCurrentWidget(v.token_view),
                lambda: True)

        def scroll(v=view):  # the token view scrolled through, a page per 20 ms
            bar = v.token_view.scroll.verticalScrollBar()
            step = [0]

            def next_page():
                bar.setValue(bar.value() + bar.pageStep())
                step[0] += 1
                if step[0] < 15:
                    QTimer.singleShot(20, next_page)

            next_page()
            return step

        steps = [None]
        measure(f"{label}: token view scroll", lambda s=steps: s.__setitem__(0, scroll()),
                lambda s=steps: s[0] is not None and s[0][0] >= 15)
        view.select(mode=0)
        tab.setCurrentIndex(0)
    fake = make_fake_llama70b(root / "llama70b")
    for name, path in (("MiniLM", minilm), ("70B-shaped", str(fake))):
        if not wanted(f"graph {name}"):
            continue
        tab = open_tab(path)
        graph = [None]

        def show(t=tab, g=graph):
            g[0] = t.show_view("Graph")

        measure(f"graph {name}: open + trace", show,
                lambda g=graph: g[0] is not None and g[0].report is not None)
        measure(f"graph {name}: expand all", lambda g=graph: g[0].expand_all(), lambda: True)
    window.close()
    print(f"\n{'screen':42s} {'p99 ms':>8s} {'max ms':>8s}")
    for name, gaps in rows:
        print(f"{name:42s} {np.percentile(gaps, 99):8.1f} {gaps.max():8.1f}")
    worst = max(rows, key=lambda r: r[1].max())
    print(f"worst: {worst[0]} (max {worst[1].max():.1f} ms); load average "
          f"{os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
