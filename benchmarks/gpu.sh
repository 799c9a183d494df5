#!/usr/bin/env bash
# One prepared run for a machine with an NVIDIA GPU; everything it measures goes under $OUT.
#
#   OUT=gpu-results bash benchmarks/gpu.sh   # a relative OUT is under the repository root
#
# 1. `glt bench` with the paper model at batch 128: the authors' formulation (fp32, clips padded
#    to 300 frames) against the default path (real frames only, bf16), NTU-like and 300-frame clips;
# 2. the same on NTU-like clips with the default path under torch.compile;
# 3. benchmarks/packed_step.py: the temporal attention mechanisms of the default path on CUDA
#    (flex is left out: it has no attention dropout, which the paper model uses).
# Each part has its own time limit (seconds: BENCH_TIMEOUT, COMPILE_TIMEOUT, MECHANISMS_TIMEOUT), so
# that the whole stays under about 9 minutes; a part that fails or runs out of time leaves its log.
# Copy the rows of $OUT/RESULTS.md into benchmarks/RESULTS.md.
set -u
OUT=${OUT:?set OUT to the folder to write into}
cd "$(dirname "$0")/.."
mkdir -p "$OUT"
PYTHON=${PYTHON:-python}
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"

part() {  # part NAME SECONDS COMMAND...: run with a time limit, log under $OUT, show the tail
    local name=$1 seconds=$2
    shift 2
    echo "== $name ($seconds s at most): $*"
    timeout "$seconds" "$@" >"$OUT/$name.log" 2>&1
    echo "exit status $?" >>"$OUT/$name.log"
    tail -n 25 "$OUT/$name.log"
}

{ nvidia-smi; "$PYTHON" -c "import torch; print(torch.__version__, torch.version.cuda)"; } \
    >"$OUT/environment.txt" 2>&1
part bench "${BENCH_TIMEOUT:-240}" "$PYTHON" -m glt bench --device cuda --preset paper \
    --batch-size 128 --steps 8 --warmup 2 --out "$OUT/bench.json" --results "$OUT/RESULTS.md"
part bench-compile "${COMPILE_TIMEOUT:-180}" "$PYTHON" -m glt bench --device cuda --preset paper \
    --batch-size 128 --steps 8 --warmup 3 --workloads natural --compile \
    --out "$OUT/bench-compile.json" --results "$OUT/RESULTS.md"
part mechanisms "${MECHANISMS_TIMEOUT:-120}" "$PYTHON" benchmarks/packed_step.py --device cuda \
    --bf16 --no-authors --threads 8 --batch-size 128 --dim 48 --depth 4 --heads 8 --reps 5 \
    --mechanisms padded_qkv,nested,per_clip
