"""Tools > Serve Model: `transformers serve` on 127.0.0.1, its URL and log, and a chat with it
over HTTP (core.chat.client)."""

from __future__ import annotations

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPlainTextEdit, QPushButton

from workbench.qt.common.chat_panel import ChatPanel
from workbench.qt.deploy import jobs
from workbench.qt.deploy.task_dialog import PathField, TaskDialog, spin


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
        self.chat = ChatPanel(  # talks to the server over HTTP once it is up
            self.runner, empty_text="Start the server to chat with the model here.")
        self.chat.setEnabled(False)
        row = QHBoxLayout()
        row.addWidget(self.url_label, 1)
        row.addWidget(self.stop_button)
        self.results.addLayout(row)
        self.results.addWidget(self.log, 1)
        self.results.addWidget(self.chat, 3)
        self.timer = QTimer(self)
        self.timer.setInterval(500)  # the log is polled at 2 Hz, never per line
        self.timer.timeout.connect(self._on_timer_timeout)

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
        from workbench.core.chat.client import ServerChat
        from workbench.core.serve.server import serves_chat

        self.chat.set_backends([ServerChat(server.url, server.model_id,
                                           title=f"{server.folder.name} at {server.url}",
                                           chat=serves_chat(server.folder),
                                           model_dir=server.folder)])
        self.chat.setEnabled(True)
        self.timer.start()
        self._on_timer_timeout()
        self.status.setText(" ".join(server.warnings) or "The server is up: chat with it below.")

    def _on_timer_timeout(self) -> None:
        if self.server is None:
            return
        text = self.server.log_tail(200)
        if text != self.log.toPlainText():
            self.log.setPlainText(text)
            bar = self.log.verticalScrollBar()
            bar.setValue(bar.maximum())  # the newest lines
        if not self.server.running():
            self.url_label.setText("The server stopped.")
            self.chat.stop()
            self.chat.setEnabled(False)
            self.stop_button.setEnabled(False)
            self.timer.stop()

    def _on_stop_button_clicked(self) -> None:
        if self.server is not None:
            self.stop_button.setEnabled(False)
            self.runner.start(self.server.stop)  # waits for the child: not on the GUI thread

    def stop_server(self) -> None:
        """Stop the child process now (used when the dialog closes)."""
        self.timer.stop()
        self.chat.stop()
        if self.server is not None:
            self.server.stop()

    def done(self, code: int) -> None:
        self.stop_server()
        super().done(code)

    def closeEvent(self, event) -> None:
        self.stop_server()
        super().closeEvent(event)
