"""Every screen with the real demo model, at 1024x700, 1440x900 and 2560x1440, as PNGs to look at.

    QT_QPA_PLATFORM=offscreen python tests/bench/screenshots_all.py OUT_DIR [--steps 4]

Drives the start page, Overview, Tensors, Modules, Edit config, Graph, Attention (heatmap, all
heads, tokens), Fine-tune (setup, training, summary, runs), the run monitor window, the Hub
download dialog, the deploy dialogs (export, evaluate, serve, diff) and an error dialog through
the real window, saving `<size>-<screen>.png` via widget.grab(). The fine-tune is a short real run
(`--steps`), made once; its pages are then grabbed at every size. Prints each file and any
screen that could not be reached, and exits non-zero if one was not.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

SIZES = ((1024, 700), (1440, 900), (2560, 1440))
TEXT = ("The quick brown fox jumps over the lazy dog while a small bird sings in the old tree "
        "near the river bank.")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out")
    parser.add_argument("--steps", type=int, default=4, help="fine-tune steps (0: skip)")
    parser.add_argument("--sizes", default="", help="e.g. 1024x700,1440x900 (default: all three)")
    args = parser.parse_args()
    sizes = tuple(tuple(int(v) for v in t.split("x")) for t in args.sizes.split(",") if t) \
        or SIZES

    from PySide6.QtCore import QEventLoop, QSettings
    from PySide6.QtWidgets import QApplication

    from workbench.core.model.loading import demo_checkpoint_path
    from workbench.qt.common.dialogs import error_box
    from workbench.qt.deploy.actions import open_diff, open_evaluate, open_export, open_serve
    from workbench.qt.hub.actions import open_hub_dialog
    from workbench.qt.main_window import MainWindow
    from workbench.qt.train.run_monitor import open_run

    dialogs = (("hub-download", open_hub_dialog), ("deploy-export", open_export),
               ("deploy-evaluate", open_evaluate), ("deploy-serve", open_serve),
               ("deploy-diff", open_diff))

    app = QApplication.instance() or QApplication(sys.argv[:1])
    root = Path(tempfile.mkdtemp(prefix="shots_all_"))
    os.environ["WORKBENCH_RUNS_DIR"] = str(root / "runs")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    missed: list[str] = []

    def wait(condition, seconds: float = 300) -> bool:
        deadline = time.time() + seconds
        while not condition() and time.time() < deadline:
            app.processEvents(QEventLoop.ProcessEventsFlag.AllEvents, 50)
            time.sleep(0.01)
        return condition()

    def settle(seconds: float = 0.4) -> None:
        wait(lambda: False, seconds)

    def shot(size: tuple[int, int], name: str, widget=None) -> None:
        settle()
        path = out / f"{size[0]}x{size[1]}-{name}.png"
        (widget or window).grab().save(str(path))
        print(f"{path}  ({path.stat().st_size // 1024} KB)")

    window = MainWindow(settings=QSettings(str(root / "s.ini"), QSettings.Format.IniFormat))
    window.resize(*sizes[0])  # before the first show: the dock is sized for this window
    window.show()
    window.start_background_checks()
    shot(sizes[0], "start")
    demo = str(demo_checkpoint_path())
    window.open_checkpoint(demo)
    assert wait(lambda: window.tabs.count() == 1), "the demo did not open"
    tab = window.tabs.widget(0)
    attention = tab.show_view("Attention")
    attention.text_edit.setPlainText(TEXT)
    done: list = []
    attention.rendered.connect(lambda: done.append(1))
    attention.run()
    if not wait(lambda: bool(done), 300):
        missed.append("attention (no result)")
    train = tab.show_view("Fine-tune")
    finished: list = []
    train.load_demo()  # the Setup page as a user sees it: with the data preview drawn
    if args.steps:
        train.form.set_value("max_steps", args.steps)
        train.runFinished.connect(finished.append)
        if not train.start():
            missed.append(f"fine-tune (form: {train.form.error_label.text()})")
        else:
            train.pages.setCurrentIndex(1)
            wait(lambda: train.curves.series["loss"].n >= 1, 600)
            window.resize(*sizes[0])
            tab.show_view("Fine-tune")
            shot(sizes[0], "finetune-training")
            if not wait(lambda: bool(finished), 900):
                missed.append("fine-tune (did not finish)")

    for size in sizes:
        window.resize(*size)
        window.stack.setCurrentWidget(window.start_page)
        if size != sizes[0]:
            shot(size, "start")
        window.stack.setCurrentWidget(window.tabs)
        for title in ("Overview", "Tensors", "Modules", "Edit config", "Graph"):
            view = tab.show_view(title)
            if title == "Graph" and view.report is None:
                wait(lambda v=view: v.report is not None, 120)
            shot(size, title.lower().replace(" ", "-"))
        if done:
            tab.show_view("Attention")
            for name, widget in (("heatmap", attention.heatmap), ("grid", attention.grid),
                                 ("tokens", attention.token_view)):
                attention.views.setCurrentWidget(widget)
                if name == "tokens":
                    attention.token_view.canvas.pinned = ("query", 3)
                shot(size, f"attention-{name}")
        tab.show_view("Fine-tune")
        pages = ["setup", "training", "summary", "runs"] if finished else ["setup"]
        for i, name in enumerate(("setup", "training", "summary", "runs")):
            if name in pages:
                train.pages.setCurrentIndex(i)
                shot(size, f"finetune-{name}")
        for name, opener in dialogs:
            dialog = opener(window)
            dialog.resize(min(dialog.width(), size[0]), min(dialog.height(), size[1]))
            shot(size, name, dialog)
            dialog.close()
        if finished and finished[0].run_dir:
            monitor = open_run(window, finished[0].run_dir)
            if monitor is None:
                missed.append("run monitor")
            else:
                monitor.resize(*size)
                wait(lambda m=monitor: m.isVisible(), 10)
                shot(size, "run-monitor", monitor)
                monitor.close()
        box = error_box(window, "Could not open missing-folder",
                        "No such file or folder: /data/missing-folder. Check the path.")
        box.show()
        shot(size, "error-dialog", box)
        box.close()
    window.close()
    for m in missed:
        print(f"MISSED: {m}")
    return 1 if missed else 0


if __name__ == "__main__":
    raise SystemExit(main())
