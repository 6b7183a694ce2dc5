#!/usr/bin/env bash
# Build the wheel, install it (not editable) into a fresh venv and run the installed program
# from outside the source tree, so a file missing from the package fails here.
set -euo pipefail
src="$(cd "$(dirname "$0")/.." && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
python3 -m venv "$work/venv"
"$work/venv/bin/pip" install -q torch==2.13.0
"$work/venv/bin/pip" wheel -q --no-deps -w "$work/dist" "$src"
"$work/venv/bin/pip" install -q "$(ls "$work"/dist/*.whl)[demo]"
cd "$work"
export QT_QPA_PLATFORM=offscreen HF_HUB_OFFLINE=1
py="$work/venv/bin/python"
demo="$("$py" -c 'from workbench.core.model.loading import demo_checkpoint_path; print(demo_checkpoint_path())')"
"$work/venv/bin/workbench" inspect "$demo" --json > inspect.json
"$py" -c 'import json; d = json.load(open("inspect.json")); assert d["num_parameters"] > 20_000_000, d'
# The demo spec names the demo data inside the installed package (workbench.resources).
"$work/venv/bin/workbench" train --print-demo-spec > spec.json
"$py" - <<'PY'
import json
spec = json.load(open("spec.json"))
assert "site-packages/workbench/resources/demo_data" in spec["train_file"], spec["train_file"]
spec.update(max_steps=2, output_dir="run")
json.dump(spec, open("spec.json", "w"))
PY
"$work/venv/bin/workbench" train spec.json > train.log
test -f run/*/final/config.json -o -f run/final/config.json || { find run; cat train.log; exit 1; }
echo "wheel smoke test passed: inspect and a 2-step demo fine-tune from the installed wheel"
