"""Tools > Serve Model: `transformers serve` on 127.0.0.1, its URL and log, and a try-it box."""

from __future__ import annotations

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QHBoxLayout, QLabel, QLineEdit, QPlainTextEdit, QPushButton

from workbench.qt.deploy import jobs
from workbench.qt.deploy.task_dialog import PathField, TaskDialog, check, spin


class ServeDialog(TaskDialog):
    """Start the server (in a worker: loading takes seconds), show its log, talk to it by HTTP.

    The server stops with the dialog.
    """

    def __init__(self, path: str = "", port: int = 8000, parent=None) -> None:
        super().__init__("Serve Model", "Start server", parent)
        self.server = None
        self.path_field = PathField(path)
        self.port_box = spin(port, 1, 65535)
        self.form.addRow("Causal LM (or run)", self.path_field)
        self.form.addRow("Port on 127.0.0.1", self.port_box)
        self.url_label = QLabel("Not running.")
        self.stop_button = QPushButton("Stop server")
        self.stop_button.setEnabled(False)
        self.stop_button.clicked.connect(self._on_stop_button_clicked)
        self.log = QPlainTextEdit()
        self.log.setReadOnly(True)
        self.prompt = QLineEdit()
        self.prompt.setPlaceholderText("Type a prompt, then Send")
        self.chat_box = check("chat (needs a chat template)")
        self.send_button = QPushButton("Send")
        self.send_button.setEnabled(False)
        self.send_button.clicked.connect(self._on_send_button_clicked)
        self.answer = QPlainTextEdit()
        self.answer.setReadOnly(True)
        row = QHBoxLayout()
        row.addWidget(self.url_label, 1)
        row.addWidget(self.stop_button)
        ask = QHBoxLayout()
        ask.addWidget(self.prompt, 1)
        ask.addWidget(self.chat_box)
        ask.addWidget(self.send_button)
        self.results.addLayout(row)
        self.results.addWidget(self.log, 2)
        self.results.addLayout(ask)
        self.results.addWidget(self.answer, 1)
        self.timer = QTimer(self)
        self.timer.setInterval(500)  # the log is polled at 2 Hz, never per line
        self.timer.timeout.connect(self._on_timer_timeout)
        self.reply_task = None

    def job(self):
        if not self.path_field.text():
            raise ValueError("Choose a causal LM folder.")
        if self.server is not None and self.server.running():
            raise ValueError("The server is already running; stop it first.")
        return jobs.start_server, {"path": self.path_field.text(),
                                   "port": self.port_box.value()}

    def show_result(self, server) -> None:
        self.server = server
        self.url_label.setText(f"Serving at {server.url} (model: {server.model_id})")
        self.stop_button.setEnabled(True)
        self.send_button.setEnabled(True)
        self.timer.start()
        self._on_timer_timeout()
        if server.warnings:
            self.status.setText(" ".join(server.warnings))

    def _on_timer_timeout(self) -> None:
        if self.server is None:
            return
        text = self.server.log_tail(200)
        if text != self.log.toPlainText():
            self.log.setPlainText(text)
        if not self.server.running():
            self.url_label.setText("The server stopped.")
            self.send_button.setEnabled(False)
            self.stop_button.setEnabled(False)
            self.timer.stop()

    def _on_send_button_clicked(self) -> None:
        if self.server is None or not self.prompt.text().strip():
            return
        self.send_button.setEnabled(False)
        self.answer.setPlainText("...")
        self.reply_task = self.runner.start(
            jobs.ask_server, self.server.url, self.server.model_id, self.prompt.text(),
            self.chat_box.isChecked(), on_success=self._on_reply_succeeded,
            on_error=self._on_reply_failed)
        self.reply_task.finished.connect(lambda: self.send_button.setEnabled(
            self.server is not None and self.server.running()))

    def _on_reply_succeeded(self, text: str) -> None:
        self.answer.setPlainText(text)

    def _on_reply_failed(self, message: str, details: str) -> None:
        self.answer.setPlainText(f"Error: {message}")

    def _on_stop_button_clicked(self) -> None:
        if self.server is not None:
            self.stop_button.setEnabled(False)
            self.runner.start(self.server.stop)  # waits for the child: not on the GUI thread

    def stop_server(self) -> None:
        """Stop the child process now (used when the dialog closes)."""
        self.timer.stop()
        if self.server is not None:
            self.server.stop()

    def done(self, code: int) -> None:
        self.stop_server()
        super().done(code)

    def closeEvent(self, event) -> None:
        self.stop_server()
        super().closeEvent(event)
