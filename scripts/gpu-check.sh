#!/usr/bin/env bash
# The GPU checks, in one script for the device tool. Here: `bash ../shared/gpu/pack.sh` first, then run
#   bash .gpu/on-device.sh bash scripts/gpu-check.sh
# with carry [".gpu", "node_modules/tsx", "node_modules/esbuild", "node_modules/@esbuild",
# "node_modules/node-addon-api"]. It builds the addon against that machine's CUDA libtorch, runs the CUDA
# tests (the same file CI runs and skips), the engine benchmark on cuda beside PyTorch, and, when the
# Fashion-MNIST test split was copied to .gpu/fashion-mnist (cp /usr/share/datasets/fashion-mnist/t10k-*
# .gpu/fashion-mnist/, 4.4 MB; then carry node_modules/zod too), the diffusion trainer and sampler with
# --device cuda: images/s of the `full` budget's preset. Logs go to $OUT (or ./gpu-out).
set -uo pipefail
out=${OUT:-gpu-out}
mkdir -p "$out"
export NODE_ADDON_API_DIR=$PWD/node_modules/node-addon-api
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$out/gpu.txt"
start=$(date +%s)
node scripts/build-native.mjs > "$out/build.log" 2>&1; rc=$?
echo "build rc=$rc in $(( $(date +%s) - start )) s"; tail -20 "$out/build.log"
[ $rc -eq 0 ] || exit $rc
node --import tsx -e "import('./src/torch/index.ts').then((t) => console.log('cuda available:', t.cuda.isAvailable(), 'devices:', t.cuda.deviceCount()))"
SG_FASHION_MNIST_DIR=$PWD/.gpu/fashion-mnist node --import tsx --test test/torch/cuda.test.ts 2>&1 | tee "$out/cuda-test.log" | grep -E '^# (tests|pass|fail|skipped)|not ok|error:'
anchor=${ANCHOR:-.gpu/pytorch_unet.py}
for batch in 64 256; do
  node --import tsx bench/engine.ts --device cuda --batch $batch --rounds 3 --steps 20 --warmup 5 --threads 16 --python python3 --anchor "$anchor" 2>&1 | tee "$out/bench-engine-cuda-b$batch.log" | tail -4
done

if [ -f .gpu/fashion-mnist/t10k-images-idx3-ubyte.gz ]; then
  for batch in 128 256; do
    node --import tsx bench/diffusion.ts --device cuda --preset small --batch $batch --steps 20 --warmup 5 --sample-steps 25 --threads 16 --data-dir .gpu/fashion-mnist --split test 2>&1 | tee "$out/bench-diffusion-cuda-b$batch.log" | tail -3
  done
fi
