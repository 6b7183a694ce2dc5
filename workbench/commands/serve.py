"""`workbench serve PATH --port N`: transformers' OpenAI-compatible server on 127.0.0.1."""

from __future__ import annotations

import argparse
import json
import sys
import time


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("path", help="causal LM folder (or a run whose final model is one)")
    parser.add_argument("--port", type=int, default=8000, help="port on 127.0.0.1")
    parser.add_argument("--device", default="cpu", help="cpu, cuda:N, mps or auto")
    parser.add_argument("--dtype", default="auto", help="auto (as stored), float32, bfloat16...")
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds to wait for start")


def run(args: argparse.Namespace) -> dict:
    from workbench.core.serve.server import ModelServer

    server = ModelServer(args.path, port=args.port, device=args.device, dtype=args.dtype)
    for warning in server.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    try:
        url = server.start(timeout=args.timeout,
                           progress=lambda m: print(m, file=sys.stderr, flush=True))
        info = {"url": url, "model": server.model_id, "pid": server.process.pid}
        print(json.dumps(info) if args.json else
              f"serving {server.model_id} at {url} (OpenAI-compatible; Ctrl-C stops it)",
              flush=True)
        while server.running():
            time.sleep(0.5)
        return {"stopped": True, "exit_code": server.process.returncode,
                "log": server.log_tail(20)}
    except KeyboardInterrupt:
        return {"stopped": True, "reason": "interrupted"}
    finally:
        server.stop()


def render(data: dict) -> str:
    return "server stopped" + (f" (exit code {data['exit_code']})\n{data['log']}"
                               if "exit_code" in data else "")
