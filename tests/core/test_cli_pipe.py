"""The CLI behaves as a shell tool: a reader that closes the pipe early ends it quietly."""

from __future__ import annotations

import subprocess
import sys


def test_json_piped_to_a_reader_that_stops_early_has_no_traceback(tiny_models):
    # Small outputs fit a pipe buffer and would hide the bug, so the reader closes the pipe
    # before reading anything: the CLI's first write or flush then meets a broken pipe.
    script = ("import sys, subprocess; p = subprocess.Popen([sys.executable, '-m', 'workbench', "
              "'graph', sys.argv[1], '--json'], stdout=subprocess.PIPE, stderr=subprocess.PIPE); "
              "p.stdout.close(); err = p.stderr.read().decode(); p.wait(); "
              "print(p.returncode); print(err)")
    proc = subprocess.run([sys.executable, "-c", script, str(tiny_models["gpt2"])],
                          capture_output=True, text=True, timeout=300)
    code, _, err = proc.stdout.partition("\n")
    assert code.strip() == "141", proc.stdout
    assert "Traceback" not in err and "BrokenPipeError" not in err, err
