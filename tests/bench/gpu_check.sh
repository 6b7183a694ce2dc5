#!/usr/bin/env bash
# GPU check of the launch paths (NCCL DDP, FSDP, a bf16 step in the window); see gpu_check.py.
# Run from a checkout with the venv activated: bash tests/bench/gpu_check.sh
set -u
cd "$(dirname "$0")/../.."
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
nvidia-smi --query-gpu=index,name,memory.total --format=csv,noheader 2>/dev/null || true
timeout 330 python tests/bench/gpu_check.py
status=$?
[ "$status" -eq 124 ] && echo "FAIL gpu_check: did not finish within 330 s"
exit "$status"
