#!/usr/bin/env bash
# Runs the test suite (what CI runs). Extra arguments go to pytest.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$root/scripts/setup.sh"
cd "$root"
# Lint, format and types first: they take seconds and name the line.
ruff check --quiet .
ruff format --check --quiet .
mypy
# Two pytest-xdist workers, one torch thread each: the tests' torch work is small, and two
# processes each spinning two OpenMP threads on two cores slow each other down several-fold.
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}"
exec pytest -n "${PRIVACY_TEST_WORKERS:-2}" "$@"
