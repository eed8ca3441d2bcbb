#!/usr/bin/env bash
# GPU diagnosis for the device tool (after scripts/gpu-check.sh's setup, same carry): per-op launch cost
# and GPU-bound kernels in selfguided and PyTorch, and, where Nsight Systems is installed, kernel and CUDA
# API summaries of one engine-benchmark forward/training run each. Logs go to $OUT.
set -uo pipefail
out=${OUT:-gpu-out}
mkdir -p "$out"
export NODE_ADDON_API_DIR=$PWD/node_modules/node-addon-api
[ -f native/build/selfguided.node ] || node scripts/build-native.mjs > "$out/build.log" 2>&1 || { tail -20 "$out/build.log"; exit 1; }
for i in 1 2; do
  node --import tsx bench/cuda-overhead.ts | tee -a "$out/overhead.jsonl"
  python3 bench/cuda_overhead.py | tee -a "$out/overhead.jsonl"
done
nsys=$(command -v nsys || ls /usr/local/cuda*/bin/nsys /opt/nvidia/nsight-systems/*/bin/nsys 2>/dev/null | head -1)
if [ -n "$nsys" ]; then
  "$nsys" profile -o /tmp/ours --force-overwrite true --stats=true node --import tsx bench/engine-worker.ts --device cuda --batch 256 --steps 10 --warmup 3 > "$out/nsys-ours.txt" 2>&1
  "$nsys" profile -o /tmp/torch --force-overwrite true --stats=true python3 ${ANCHOR:-.gpu/pytorch_unet.py} --device cuda --batch 256 --steps 10 --warmup 3 --json > "$out/nsys-torch.txt" 2>&1
  grep -A25 "cuda_api_sum" "$out/nsys-ours.txt" | head -30
  grep -A25 "cuda_api_sum" "$out/nsys-torch.txt" | head -30
else
  echo "no nsys on this machine"
fi
