"""The `workbench` command: the GUI by default, or a subcommand with JSON output for scripts.

    workbench [PATH] [--demo]            open the GUI (on PATH, or on the demo model)
    workbench inspect PATH [--json]      describe a checkpoint from its headers
    workbench cache [--json]             list the local Hugging Face cache
    workbench download REPO [--include PATTERN ...] [--preview]   fetch from the Hub
    workbench new|config|graph|attention|train ...   see `workbench COMMAND --help`

Every subcommand lives in `workbench.commands.<name>` with `add_arguments(parser)` and
`run(args) -> dict | None`; `render(data) -> str` optionally formats the result for humans.

--json output is strict JSON (RFC 8259): a non-finite float is written the way transformers
writes it in config.json, {"__float__": "NaN"} / {"__float__": "Infinity"} /
{"__float__": "-Infinity"}. A failure is {"error": "..."} with exit status 1; a traceback is
printed (to stderr) only with --debug.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import traceback

from workbench import __version__
from workbench.core import jsonio

# name -> one-line help; the module is workbench.commands.<name>
COMMANDS: dict[str, str] = {
    "inspect": "describe a checkpoint from its headers (no weights loaded)",
    "cache": "list models in the local Hugging Face cache",
    "new": "build a new model of a family with random weights (config edits via --set)",
    "config": "validate, estimate, save or rebuild an edited config (--set key=value)",
    "attention": "attention weights of a model on a text, with rollout and a PNG",
    "train": "fine-tune a model from a training spec JSON (--json-events for scripts)",
    "graph": "the folded layer graph and block dataflow (--json, --svg OUT)",
    "download": "download a Hub repository into the HF cache (--include, --preview: headers only)",
    "evaluate": "test-set metrics of a checkpoint, LoRA adapter or run (--compare to tabulate)",
    "export": "export a verified HF folder or ONNX model (--format, --dtype, --onnx-exporter)",
    "serve": "serve a causal LM on 127.0.0.1 with `transformers serve` (OpenAI-compatible)",
    "diff": "weight-level diff of two checkpoints (or a LoRA adapter): which layers moved",
}


def _prepare_environment() -> None:
    """Set library defaults before torch loads; a user's own settings always win.

    No progress bars or download attempts: output must stay parseable and the tool offline.
    Idle OpenMP threads sleep instead of spinning: on a busy CPU, spinning threads wait for a
    descheduled team-mate (measured on 2 cores at load ~3.5: 0.2-0.5 training steps/s by
    default, 1.8-2.2 with PASSIVE), and the GUI thread competes with them too.
    """
    if "torch" not in sys.modules:
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    if not (os.environ.get("HF_HUB_OFFLINE") or os.environ.get("TRANSFORMERS_OFFLINE")):
        from workbench.core.hub.connection import OFFLINE_DEFAULT_MARKER

        # Offline is the workbench's default, not the user's: an explicit download may lift it.
        os.environ[OFFLINE_DEFAULT_MARKER] = "1"
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def _gui_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="workbench", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("path", nargs="?", help="checkpoint folder or file to open")
    parser.add_argument("--demo", action="store_true",
                        help="open the bundled demo model (all-MiniLM-L6-v2)")
    parser.add_argument("--version", action="version", version=f"workbench {__version__}")
    return parser


JSON_HELP = ("print strict JSON on stdout (NaN/Infinity written as {\"__float__\": \"NaN\"} "
             "/ {\"__float__\": \"Infinity\"}, as transformers' config.json does)")


def _command_parser(name: str, module) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=f"workbench {name}", description=COMMANDS[name])
    module.add_arguments(parser)
    if not any(a.dest == "json" for a in parser._actions):
        parser.add_argument("--json", action="store_true", help=JSON_HELP)
    parser.add_argument("--debug", action="store_true", help="show tracebacks of internal errors")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `workbench` script and `python -m workbench`."""
    argv = list(sys.argv[1:] if argv is None else argv)
    _prepare_environment()
    if argv and argv[0] in COMMANDS:
        try:
            code = _run_command(argv[0], argv[1:])
            sys.stdout.flush()  # a closed pipe shows up here, not at exit where it would print
        except BrokenPipeError:
            # The reader went away (`workbench inspect --json | head`): as a shell tool, stop
            # quietly. Point stdout at devnull so the flush at interpreter exit cannot fail again.
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            return 141  # 128 + SIGPIPE, what a shell reports for a command killed by the pipe
        return code
    args = _gui_parser().parse_args(argv)
    from workbench.qt.app import run_gui

    return run_gui(path=args.path, demo=args.demo)


def _run_command(name: str, argv: list[str]) -> int:
    from workbench.core.errors import WorkbenchError

    _tolerant_output()
    module = importlib.import_module(f"workbench.commands.{name}")
    args = _command_parser(name, module).parse_args(argv)
    want_json = bool(getattr(args, "json", False))
    try:
        data = module.run(args)
    except WorkbenchError as e:
        return _fail(str(e), want_json)
    except KeyboardInterrupt:
        return _fail("interrupted", want_json)
    except Exception as e:
        if args.debug:
            traceback.print_exc()
        from workbench.core.errors import path_error_message

        if (message := path_error_message(e)) is not None:
            return _fail(message, want_json)
        from workbench.core.logs import log_unexpected

        log = log_unexpected(f"workbench {name}: unexpected {type(e).__name__}: {e}",
                             traceback.format_exc())
        where = f"traceback in {log}; " if log else ""
        # One line of the exception only: a multi-line text (a nested traceback) stays in --debug.
        first = next((ln.strip() for ln in str(e).splitlines() if ln.strip()), "")[:300]
        return _fail(f"unexpected {type(e).__name__}: {first} ({where}run again with --debug "
                     f"for details)", want_json)
    if data is not None:
        if want_json:
            print(jsonio.dumps(data, indent=2))
        else:
            render = getattr(module, "render", None)
            print(render(data) if render else jsonio.dumps(data, indent=2))
    return 0


def _tolerant_output() -> None:
    """Text from files (tensor names with lone surrogates...) is escaped, never a crash."""
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            reconfigure(errors="backslashreplace")


def _fail(message: str, want_json: bool) -> int:
    if want_json:
        print(jsonio.dumps({"error": message}))
    else:
        print(f"error: {message}", file=sys.stderr)
    return 1
