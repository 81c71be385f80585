#!/usr/bin/env bash
# Creates .venv (once) with the pinned CPU torch and privacy-checks installed in editable mode.
# Sourced by scripts/audit-demo.sh and scripts/test.sh, so each of them works on a fresh machine.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$root/.venv"
python="${PYTHON:-python3}"
stamp="$venv/.privacy-checks-installed"
if [ ! -f "$stamp" ] || [ "$root/pyproject.toml" -nt "$stamp" ]; then
  [ -x "$venv/bin/python" ] || "$python" -m venv "$venv"
  "$venv/bin/python" -m pip install --quiet --upgrade pip
  # torch first and pinned: 2.13.0 is the local CPU wheel; an unpinned torch pulls GBs of CUDA packages.
  "$venv/bin/python" -m pip install --quiet "torch==2.13.0"
  "$venv/bin/python" -m pip install --quiet -e "$root[test]"
  touch "$stamp"
fi
export PATH="$venv/bin:$PATH"
