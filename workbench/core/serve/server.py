"""`transformers serve` as a child process on 127.0.0.1: start, wait until healthy, log, stop.

The server is transformers' own (FastAPI + uvicorn, the `transformers[serving]` extra): we only
check the model and the port first, start it with the model preloaded, and talk HTTP to it.
"""

from __future__ import annotations

import collections
import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from workbench.core import jsonio
from workbench.core.devices import check_device
from workbench.core.errors import MissingDependencyError, WorkbenchError
from workbench.core.progress import Progress, Reporter

HOST = "127.0.0.1"  # loopback only: the server has no authentication
SERVING_PACKAGES = ("fastapi", "uvicorn", "openai", "pydantic")
# `transformers` CLI entry point, run with this interpreter (no reliance on PATH).
_ENTRY = ("import sys; from transformers.cli.transformers import main; "
          "sys.argv[0] = 'transformers'; sys.exit(main())")


def port_in_use(port: int, host: str = HOST) -> bool:
    """True if something already listens on (host, port) or the port cannot be bound."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        if os.name == "posix":
            # As uvicorn binds: connections of a stopped server in TIME_WAIT do not block the
            # port, a listening socket still does. (On Windows this option would steal it.)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return True
    return False


def free_port(host: str = HOST) -> int:
    """A port on `host` that is free right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def check_servable(path: str | Path) -> tuple[Path, list[str]]:
    """(model folder, warnings) for a causal LM with a tokenizer; refuse anything else."""
    from workbench.core.evaluate.runner import UnknownTaskError, resolve_target

    missing = [p for p in SERVING_PACKAGES if _missing(p)]
    if missing:
        raise MissingDependencyError(
            f"`transformers serve` needs {', '.join(missing)}: pip install "
            f"'transformers[serving]'.")
    try:
        target = resolve_target(path)
    except UnknownTaskError:
        raise WorkbenchError(
            f"{Path(path).name}'s config names no task head (a bare encoder or base model); "
            f"`transformers serve` serves causal (text-generating) LMs, whose architecture "
            f"ends in ForCausalLM.") from None
    if target.task != "causal-lm":
        raise WorkbenchError(
            f"{target.model_dir.name} is a {target.task} model; `transformers serve` serves "
            f"causal (text-generating) LMs. Export encoders with `workbench export --format "
            f"onnx` instead.")
    folder = target.model_dir
    if (folder / "adapter_config.json").is_file():
        raise WorkbenchError("This is a LoRA adapter; merge it first (`workbench export "
                             "--merge-lora`) and serve the merged folder.")
    config_path = folder / "tokenizer_config.json"
    if not config_path.is_file():
        raise WorkbenchError(f"{folder} has no tokenizer (tokenizer_config.json); copy its base "
                             f"model's tokenizer files there first.")
    warnings = []
    if not serves_chat(folder):
        warnings.append("The tokenizer has no chat template: /v1/chat/completions will fail; "
                        "use /v1/completions with a prompt.")
    return folder, warnings


def serves_chat(folder: str | Path) -> bool:
    """True if the folder's tokenizer has a chat template (/v1/chat/completions can answer)."""
    folder = Path(folder)
    config_path = folder / "tokenizer_config.json"
    tok_config = jsonio.load_object(config_path, what="tokenizer config") \
        if config_path.is_file() else {}
    return bool(tok_config.get("chat_template")) or (folder / "chat_template.jinja").is_file()


def _missing(package: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(package) is None


class ModelServer:
    """One `transformers serve` child process serving one model on 127.0.0.1:port."""

    def __init__(self, path: str | Path, port: int | None = None, device: str = "cpu",
                 dtype: str = "auto") -> None:
        self.folder, self.warnings = check_servable(path)
        self.port = port if port is not None else free_port()
        if not 0 < self.port < 65536:
            raise WorkbenchError(f"Port {self.port} is not a TCP port (1-65535).")
        if port_in_use(self.port):
            raise WorkbenchError(f"Port {self.port} on {HOST} is already in use; stop what "
                                 f"runs there or choose another --port.")
        if device != "auto":  # transformers serve's own choice of device
            check_device(device)
        self.device, self.dtype = device, dtype
        self.process: subprocess.Popen | None = None
        self._log: collections.deque[str] = collections.deque(maxlen=2000)
        self._reader: threading.Thread | None = None

    @property
    def url(self) -> str:
        """The OpenAI-compatible base URL (append /chat/completions, /completions...)."""
        return f"http://{HOST}:{self.port}/v1"

    @property
    def model_id(self) -> str:
        """The model name requests must give (the server preloads this folder)."""
        return str(self.folder)

    def command(self) -> list[str]:
        """The child's command line."""
        return [sys.executable, "-c", _ENTRY, "serve", str(self.folder), "--host", HOST,
                "--port", str(self.port), "--device", self.device, "--dtype", self.dtype,
                "--no-trust-remote-code", "--log-level", "info"]

    def start(self, timeout: float = 300.0, progress: Progress | None = None,
              cancel: threading.Event | None = None) -> str:
        """Start the server and wait until /health answers; returns the base URL."""
        env = dict(os.environ, HF_HUB_OFFLINE="1", PYTHONUNBUFFERED="1")
        self.process = subprocess.Popen(
            self.command(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, env=env, text=True, errors="replace")
        self._reader = threading.Thread(target=self._read_log, daemon=True)
        self._reader.start()
        report = Reporter(progress, cancel, "Starting the server")
        deadline = time.monotonic() + timeout
        try:
            while time.monotonic() < deadline:
                report.step(f"Waiting for the server on port {self.port}")
                if self.process.poll() is not None:
                    raise WorkbenchError(f"The server stopped while starting (exit code "
                                         f"{self.process.returncode}):\n{self.log_tail(15)}")
                if self._healthy():
                    return self.url
                time.sleep(0.25)
            raise WorkbenchError(f"The server did not answer within {timeout:.0f} s; its log:\n"
                                 f"{self.log_tail(15)}")
        except BaseException:
            self.stop()
            raise

    def _read_log(self) -> None:
        stream = self.process.stdout if self.process is not None else None
        for line in stream or ():
            self._log.append(line.rstrip("\n"))

    def _healthy(self) -> bool:
        try:
            with urllib.request.urlopen(f"http://{HOST}:{self.port}/health", timeout=2) as r:
                return r.status == 200
        except (urllib.error.URLError, OSError):
            return False

    def log_tail(self, lines: int = 50) -> str:
        """The last lines the server printed."""
        return "\n".join(list(self._log)[-lines:])

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self, timeout: float = 15.0) -> None:
        """Ask the server to shut down (SIGTERM), then kill it if it does not within `timeout`."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(5)
        if self._reader is not None:
            self._reader.join(2)

    def __enter__(self) -> ModelServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def post_json(url: str, body: dict[str, Any], timeout: float = 120.0) -> dict[str, Any]:
    """POST JSON and decode the answer; HTTP errors become a WorkbenchError with the body."""
    request = urllib.request.Request(url, data=json.dumps(body).encode("utf-8"),
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return json.loads(response.read().decode("utf-8"))
    except urllib.error.HTTPError as e:
        detail = e.read().decode("utf-8", "replace")[:300]
        raise WorkbenchError(f"The server answered {e.code} to {url}: {detail}") from None
    except (urllib.error.URLError, OSError) as e:
        raise WorkbenchError(f"Could not reach the server at {url} ({e}).") from None


def complete(base_url: str, model: str, prompt: str, max_tokens: int = 30) -> str:
    """Text continuation through /v1/completions (works without a chat template)."""
    data = post_json(f"{base_url}/completions", {"model": model, "prompt": prompt,
                                                 "max_tokens": max_tokens})
    return str(data["choices"][0]["text"])


def chat(base_url: str, model: str, message: str, max_tokens: int = 30) -> str:
    """One user message through /v1/chat/completions (needs the tokenizer's chat template)."""
    data = post_json(f"{base_url}/chat/completions", {
        "model": model, "max_tokens": max_tokens,
        "messages": [{"role": "user", "content": message}]})
    return str(data["choices"][0]["message"]["content"])
