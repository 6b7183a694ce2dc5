"""File > Download from Hub: repo id, revision, which files, a headers-only preview, progress."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Signal, Slot
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QStackedWidget,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from workbench.core.errors import WorkbenchError
from workbench.core.units import human_bytes, human_count
from workbench.qt.common.dialogs import fit_to_screen, show_error
from workbench.qt.common.tasks import Task, TaskRunner

# (label, core selection name) in the "Files" combo
CHOICES = (("All files", "all"),
           ("Safetensors only (with config and tokenizer)", "safetensors"),
           ("One GGUF file", "gguf"),
           ("Files matching patterns", "include"))
PERMILLE = 1000  # progress bars count in 0.1 % steps: file sizes overflow a QProgressBar's int


def _preview(repo_id: str, revision: str, progress=None, cancel=None):
    """Worker-side: imports huggingface_hub lazily, so the dialog opens at once."""
    from workbench.core.hub.preview import preview_repo

    return preview_repo(repo_id, revision, emit=progress, stop=cancel)


def _download(repo_id: str, revision: str, patterns: list[str] | None, repo: Any,
              on_event: Any, cancel=None):
    """Worker-side: `on_event` is a signal's emit, so events reach the GUI thread queued."""
    from workbench.core.hub.download import download_snapshot

    return download_snapshot(repo_id, revision, patterns, emit=on_event, stop=cancel, repo=repo)


class HubDownloadDialog(QDialog):
    """Choose a repository and its files, preview them from headers, download with progress."""

    # Emitted when the task has ended and the dialog is idle again:
    downloaded = Signal(object)  # DownloadResult
    previewed = Signal(object)  # RepoPreview
    failed = Signal(str)
    _progressed = Signal(object)  # DownloadProgress, emitted from the worker thread

    def __init__(self, runner: TaskRunner, parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("Download from Hugging Face Hub")
        fit_to_screen(self, 640, 520)
        self.runner = runner
        self.task: Task | None = None
        self.preview = None  # the last RepoPreview, reused by the download (saves a request)
        self._announce: tuple[Any, Any] | None = None  # (signal, value) to emit when idle

        self.repo_edit = QLineEdit()
        self.repo_edit.setPlaceholderText("owner/name, e.g. sentence-transformers/all-MiniLM-L6-v2")
        self.revision_edit = QLineEdit("main")
        self.which_combo = QComboBox()
        for label, name in CHOICES:
            self.which_combo.addItem(label, name)
        self.gguf_combo = QComboBox()
        self.gguf_combo.setPlaceholderText("Preview first to list the .gguf files")
        self.pattern_edit = QLineEdit()
        self.pattern_edit.setPlaceholderText("space-separated, e.g. *.safetensors *.json")
        self.detail_stack = QStackedWidget()
        for widget in (QWidget(), QWidget(), self.gguf_combo, self.pattern_edit):
            self.detail_stack.addWidget(widget)
        self.which_combo.currentIndexChanged.connect(self.detail_stack.setCurrentIndex)

        form = QFormLayout()
        form.addRow("Repository", self.repo_edit)
        form.addRow("Revision", self.revision_edit)
        form.addRow("Files", self.which_combo)
        form.addRow("", self.detail_stack)

        self.files_tree = QTreeWidget()
        self.files_tree.setHeaderLabels(["File", "Size"])
        self.files_tree.setColumnWidth(0, 420)
        self.summary = QLabel()
        self.summary.setWordWrap(True)
        self.file_label = QLabel()
        self.file_bar = QProgressBar()
        self.overall_label = QLabel()
        self.overall_bar = QProgressBar()
        for bar in (self.file_bar, self.overall_bar):
            bar.setRange(0, PERMILLE)
            bar.setTextVisible(False)
        self.status = QLabel("")
        self.status.setWordWrap(True)

        self.preview_button = QPushButton("&Preview")
        self.download_button = QPushButton("&Download")
        self.download_button.setDefault(True)
        self.cancel_button = QPushButton("Cancel")
        self.preview_button.clicked.connect(self.start_preview)
        self.download_button.clicked.connect(self.start_download)
        self.cancel_button.clicked.connect(self._on_cancel_button_clicked)
        buttons = QDialogButtonBox()
        for button in (self.preview_button, self.download_button, self.cancel_button):
            buttons.addButton(button, QDialogButtonBox.ButtonRole.ActionRole)

        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.summary)
        layout.addWidget(self.files_tree, 1)
        for label, bar in ((self.file_label, self.file_bar),
                           (self.overall_label, self.overall_bar)):
            row = QHBoxLayout()
            row.addWidget(label, 1)
            row.addWidget(bar, 2)
            layout.addLayout(row)
        layout.addWidget(self.status)
        layout.addWidget(buttons)
        self._progressed.connect(self._on_worker_progressed)
        self.repo_edit.textChanged.connect(self._forget_preview)
        self.revision_edit.textChanged.connect(self._forget_preview)
        self._forget_preview()

    # -- actions ---------------------------------------------------------------------------------
    def _target(self) -> tuple[str, str] | None:
        repo_id, revision = self.repo_edit.text().strip(), self.revision_edit.text().strip()
        if repo_id.count("/") != 1 or not all(repo_id.split("/")):
            self._show_status("Give the repository as owner/name.", error=True)
            return None
        return repo_id, revision or "main"

    def start_preview(self) -> Task | None:
        """List the files and read the safetensors headers, in a worker."""
        if (target := self._target()) is None or self.task is not None:
            return None
        self._show_status(f"Previewing {target[0]}...")
        return self._start(_preview, *target, on_success=self._on_preview_succeeded,
                           on_progress=self._show_status)

    def start_download(self) -> Task | None:
        """Download the chosen files into the HF cache, in a worker."""
        from workbench.core.hub.files import selection_patterns

        if (target := self._target()) is None or self.task is not None:
            return None
        include = self.pattern_edit.text().split()
        try:
            patterns = selection_patterns(self.which_combo.currentData(),
                                          gguf_file=self.gguf_combo.currentText() or None,
                                          include=include)
        except WorkbenchError as e:
            self._show_status(str(e), error=True)
            return None
        repo = self.preview.repo if self.preview is not None else None
        self._show_status(f"Downloading {target[0]}...")
        return self._start(_download, *target, patterns, repo, self._progressed.emit,
                           on_success=self._on_download_succeeded)

    def _start(self, fn, *args, **callbacks) -> Task:
        self.task = self.runner.start(fn, *args, on_error=self._on_task_failed, **callbacks)
        self.task.finished.connect(self._on_task_finished)
        self._set_busy(True)
        return self.task

    @Slot()
    def _on_cancel_button_clicked(self) -> None:
        if self.task is None:
            self.reject()
            return
        self.task.cancel()
        self._show_status("Cancelling...")

    @Slot()
    def _forget_preview(self) -> None:
        """Another repository or revision: the shown preview no longer applies."""
        self.preview = None
        self.files_tree.clear()
        self.gguf_combo.clear()
        self.summary.setText("Preview lists the files and reads only the safetensors headers "
                             "(range requests): parameters, dtypes and sizes, no weights.")
        self.file_label.setText("Current file")
        self.overall_label.setText("Overall")
        self.file_bar.setValue(0)
        self.overall_bar.setValue(0)

    # -- results -----------------------------------------------------------------------------
    def _on_preview_succeeded(self, preview) -> None:
        self.preview = preview
        repo = preview.repo
        self.files_tree.clear()
        self.files_tree.addTopLevelItems(  # at once: a repo may list thousands of files
            [QTreeWidgetItem([f.path, human_bytes(f.size)]) for f in repo.files])
        self.gguf_combo.clear()
        self.gguf_combo.addItems(repo.gguf_files())
        flags = "".join((" · gated" if repo.gated else "", " · private" if repo.private else ""))
        text = (f"{repo.repo_id} @ {repo.revision} (commit {repo.commit[:12]}){flags}: "
                f"{len(repo.files)} files, {human_bytes(repo.total_size)}.")
        if preview.architecture:
            text += f" {preview.architecture} ({preview.model_type or 'unknown type'})."
        if preview.shards:
            dtypes = ", ".join(f"{k} {human_count(v)}" for k, v in preview.dtypes.items())
            text += (f" Safetensors: {human_count(preview.parameters)} parameters in "
                     f"{len(preview.shards)} file(s), {human_bytes(preview.safetensors_size)} "
                     f"({dtypes}).")
            text += f" {_memory_line(preview.memory)}"
        text += (" Logged in: your token is sent." if preview.logged_in else
                 " Not logged in: gated and private repositories need `hf auth login`.")
        self.summary.setText(text)
        self._show_status("Preview done: no weights were downloaded.")
        self._announce = (self.previewed, preview)

    @Slot(object)
    def _on_worker_progressed(self, event) -> None:
        self.file_label.setText(f"{event.file}: {human_bytes(event.file_done)} of "
                                f"{human_bytes(event.file_total)}")
        self.file_bar.setValue(_permille(event.file_done, event.file_total))
        self.overall_label.setText(f"File {min(event.files_done + 1, event.files_total)} of "
                                   f"{event.files_total}: {human_bytes(event.done)} of "
                                   f"{human_bytes(event.total)}")
        self.overall_bar.setValue(_permille(event.done, event.total))

    def _on_download_succeeded(self, result) -> None:
        self._show_status(f"Downloaded to {result.snapshot_path}")
        self._announce = (self.downloaded, result)

    def _on_task_failed(self, message: str, details: str) -> None:
        self._show_status(message, error=True)
        self._announce = (self.failed, message)
        if details:  # an unexpected error: the traceback goes under "Details"
            show_error(self, "Hub download failed", message, details)

    def _on_task_finished(self) -> None:
        cancelled = self.task is not None and self.task.cancel_event.is_set()
        self.task = None
        self._set_busy(False)
        if cancelled:
            self._show_status("Cancelled. Finished files stay in the cache.")
        # Announced once the dialog is idle again, so a listener may start the next task.
        announce, self._announce = self._announce, None
        if announce is not None:
            signal, value = announce
            signal.emit(value)

    # -- state -----------------------------------------------------------------------------------
    def _set_busy(self, busy: bool) -> None:
        for widget in (self.preview_button, self.download_button, self.repo_edit,
                       self.revision_edit, self.which_combo, self.detail_stack):
            widget.setEnabled(not busy)
        self.cancel_button.setText("Cancel" if busy else "Close")

    def _show_status(self, text: str, error: bool = False) -> None:
        self.status.setStyleSheet("color: #b00020;" if error else "")
        self.status.setText(text)

    def closeEvent(self, event) -> None:
        if self.task is not None:
            self.task.cancel()
        super().closeEvent(event)

    def reject(self) -> None:
        if self.task is not None:  # Escape while busy cancels rather than hiding a live download
            self._on_cancel_button_clicked()
            return
        super().reject()


def _permille(done: int, total: int) -> int:
    return PERMILLE if total <= 0 else min(PERMILLE, int(PERMILLE * done / total))


def _memory_line(memory) -> str:
    """What running the previewed weights would need, against this machine's memory."""
    from workbench.core.devices import available_devices

    need = (f"Weights in memory: {human_bytes(memory.bf16)} in bf16, {human_bytes(memory.fp32)} "
            f"in fp32, ~{human_bytes(memory.int4)} at 4 bits.")
    have = [f"{'RAM' if d.name == 'cpu' else d.name} {human_bytes(d.total_memory)}"
            for d in available_devices() if d.total_memory and d.name != "mps"]  # MPS: the RAM
    return need + (f" This machine: {', '.join(have)}." if have else "")
