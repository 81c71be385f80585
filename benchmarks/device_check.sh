#!/usr/bin/env bash
# Issue 15's GPU checks as one prepared run for a lent GPU machine (device tool: `run`), from the
# repository root there, with the image's python3 (torch, transformers, scikit-learn, scipy, PyYAML:
# nothing to install). Each part has its own time limit so that one overrunning still leaves the
# other's figures; everything printed is also written under $OUT.
#   1. W (wav2vec2-base size) at IEMOCAP's size, 4,490 clips of 4.5 s, standard budget, on the GPU:
#      the whole audit (target <= 5 min) and audit / forward pass (target <= 1.5x).
#   2. The demo on the CPU and on the GPU: same verdicts, each L within the other's interval.
# Usage: bash benchmarks/device_check.sh [W_CLIPS] [W_SECONDS] [AGREEMENT_SECONDS]
# (DEVICE=cpu and a few clips: a dry run of the script itself on a machine without a GPU.)
set -uo pipefail
cd "$(dirname "$0")/.."
out="${OUT:-/tmp/device-check}"
mkdir -p "$out"
export PYTHONPATH="$PWD" PYTHONUNBUFFERED=1
device="${DEVICE:-cuda}"
python3 -c "import torch; print('torch', torch.__version__, 'cuda', torch.cuda.is_available(), torch.cuda.get_device_name(0) if torch.cuda.is_available() else '')" 2>&1 | tee "$out/env.txt"
timeout "${2:-330}" python3 benchmarks/realistic.py --device "$device" --clips "${1:-4490}" --no-demo --verbose \
  --json "$out/w_gpu.json" 2>&1 | tee "$out/w_gpu.txt"
echo "realistic.py exit ${PIPESTATUS[0]}"
timeout "${3:-200}" python3 benchmarks/device_agreement.py --device "$device" --budget quick \
  --json "$out/agreement.json" 2>&1 | tee "$out/agreement.txt"
echo "device_agreement.py exit ${PIPESTATUS[0]}"
