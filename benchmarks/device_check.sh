#!/usr/bin/env bash
# Issue 15's GPU checks as one prepared run for a lent GPU machine (device tool: `run`), from the
# repository root there, with the image's python3 (torch, transformers, scikit-learn, scipy, PyYAML:
# nothing to install). Each part has its own time limit so that one overrunning still leaves the
# other's figures; everything printed is also written under $OUT.
#   1. W (wav2vec2-base size) at IEMOCAP's size, 4,490 clips of 4.5 s, standard budget, on the GPU:
#      the whole audit (target <= 5 min) and audit / forward pass (target <= 1.5x).
#   2. The demo on the CPU and on the GPU: same verdicts, each L within the other's interval.
#   3. Meanwhile, on 4 other cores of the machine (taskset; the GPU steps use one CPU thread): the demo
#      at the standard budget serially and with `-n 4` (target >= 3x): every machine of the project's
#      own has 2 cores, so a lent one is the only 4-core machine there is.
# Usage: bash benchmarks/device_check.sh [W_CLIPS] [W_SECONDS] [AGREEMENT_SECONDS] [XDIST_SECONDS]
# (DEVICE=cpu and a few clips: a dry run of the script itself on a machine without a GPU.)
set -uo pipefail
cd "$(dirname "$0")/.."
out="${OUT:-/tmp/device-check}"
mkdir -p "$out"
export PYTHONPATH="$PWD" PYTHONUNBUFFERED=1
device="${DEVICE:-cuda}"
python3 -c "import torch; print('torch', torch.__version__, 'cuda', torch.cuda.is_available(), torch.cuda.get_device_name(0) if torch.cuda.is_available() else '')" 2>&1 | tee "$out/env.txt"
read -r cores gpu_cores worker_cores < <(python3 -c "import os; c = sorted(os.sched_getaffinity(0)); \
print(len(c), ','.join(map(str, c[:4])), ','.join(map(str, c[4:8])))")
if [ "$cores" -ge 8 ]; then  # 4 of the allowed cores for the workers, 4 others for the GPU steps
  timeout "${4:-500}" taskset -c "$worker_cores" python3 benchmarks/xdist_scaling.py -n 4 > "$out/xdist4.txt" 2>&1 &
  xdist=$!
  pin="taskset -c $gpu_cores"
else
  echo "only $cores cores: the -n 4 step is skipped" | tee "$out/xdist4.txt"
  xdist="" pin=""
fi
timeout "${2:-330}" $pin python3 benchmarks/realistic.py --device "$device" --clips "${1:-4490}" --no-demo --verbose \
  --json "$out/w_gpu.json" 2>&1 | tee "$out/w_gpu.txt"
echo "realistic.py exit ${PIPESTATUS[0]}"
timeout "${3:-200}" $pin python3 benchmarks/device_agreement.py --device "$device" --budget quick \
  --json "$out/agreement.json" 2>&1 | tee "$out/agreement.txt"
echo "device_agreement.py exit ${PIPESTATUS[0]}"
if [ -n "$xdist" ]; then
  wait "$xdist"
  echo "xdist_scaling.py -n 4 exit $?"
  cat "$out/xdist4.txt"
fi
