#!/usr/bin/env bash
# The GPU measurements of issue 19 (and the loader question) in one run, for the lent GPU machine
# (read docs/gpu.md first). Every output goes to OUT_DIR; a failing step is recorded and the next
# one still runs.
#
#   scripts/gpu_check.sh BINARY OUT_DIR
#
# BINARY is a selfsup built with `cargo build --release --features cuda` and stripped; the repo
# checkout must be the current directory (bench/pytorch/*.py, configs/). What it runs:
#   1. preflight: nvidia-smi, the CUDA headers and NVRTC cubecl compiles with, lscpu;
#   2. ResNet-18 (width 64, 32 px, batch 256), a short shape to see autotune work;
#   3. ResNet-50 with the ImageNet stem at 224 px, batch 128 then 256: `selfsup bench` with
#      --compare-pytorch (PyTorch eager, cuDNN benchmark, TF32), side by side, in one invocation;
#   4. PyTorch's same step under bf16 autocast, a second figure;
#   5. the JPEG pipeline on every core against torchvision + PIL;
#   6. a short pretrain of configs/imagenet/simclr.toml on the benchmark's JPEGs (u8 batches
#      normalised on the device), whose images/s beside 5's views/s says whether the loader
#      keeps the GPU fed;
# and samples nvidia-smi's memory and utilisation every second throughout.
#
# The same steps run on the CPU at toy sizes with SELFSUP_GPU_CHECK_SMOKE=1 (how the script is
# checked on a dev machine). Step limits: SELFSUP_GPU_CHECK_LIMIT seconds each (default 240).
set -uo pipefail

if [ $# -ne 2 ]; then
  echo "usage: $0 BINARY OUT_DIR" >&2
  exit 2
fi
bin=$(realpath "$1")
out=$2
mkdir -p "$out"
out=$(realpath "$out")
limit=${SELFSUP_GPU_CHECK_LIMIT:-240}

if [ "${SELFSUP_GPU_CHECK_SMOKE:-0}" = 1 ]; then
  backend=cpu width=8 image=64 batches="4 8" r18_batch=8 steps=(--warmup-steps 1 --steps 1)
  pretrain_set=(--set model.width=4 --set model.proj_hidden_dim=64 --set train.batch_size=8
                --set train.epochs=2)
else
  backend=cuda width=64 image=224 batches="128 256" r18_batch=256 steps=()
  # Batch 128 as step 3 measured (autotune's cache has its shapes): 2 steps per epoch, 16 in
  # all, the images/s figure taken after the first 3.
  pretrain_set=(--set train.batch_size=128 --set train.epochs=8)
fi

# step NAME COMMAND...: runs COMMAND under the time limit, output in NAME.out / NAME.err.
step() {
  local name=$1
  shift
  echo "== $name: $*" >>"$out/steps.log"
  local started=$SECONDS
  timeout "$limit" "$@" >"$out/$name.out" 2>"$out/$name.err"
  local rc=$?
  echo "== $name: exit $rc after $((SECONDS - started)) s" | tee -a "$out/steps.log"
}

step preflight bash -c "nvidia-smi; ls \${CUDA_PATH:-/usr/local/cuda}/include/cuda_fp16.h; \
  ldconfig -p | grep nvrtc; lscpu | grep 'Model name'; nproc; $bin --version"

sampler=""
if command -v nvidia-smi >/dev/null 2>&1; then
  nvidia-smi --query-gpu=timestamp,memory.used,utilization.gpu --format=csv -l 1 \
    >"$out/nvidia-smi.csv" 2>/dev/null &
  sampler=$!
fi

export RUST_LOG=${RUST_LOG:-warn}
step resnet18 "$bin" bench --backends "$backend" --sections train --methods simclr \
  --widths "$width" --image-size 32 --channels 3 --batch-size "$r18_batch" "${steps[@]}" \
  --compare-pytorch --name resnet18 --out-dir "$out"

for batch in $batches; do
  step "resnet50-batch$batch" "$bin" bench --backends "$backend" --sections train \
    --methods simclr --arch resnet50 --stem imagenet --widths "$width" --image-size "$image" \
    --channels 3 --batch-size "$batch" "${steps[@]}" --compare-pytorch \
    --name "resnet50-batch$batch" --out-dir "$out"
done

last_batch=${batches##* }
device=$([ "$backend" = cuda ] && echo cuda || echo cpu)
step pytorch-bf16 python3 bench/pytorch/train_step.py --methods simclr --arch resnet50 \
  --stem imagenet --widths "$width" --image-size "$image" --channels 3 \
  --batch-size "$last_batch" "${steps[@]}" --device "$device" --autocast bf16 \
  --json "$out/pytorch-bf16.json"

step jpeg "$bin" bench --sections augment-jpeg --compare-torchvision --name jpeg \
  --out-dir "$out"

# The benchmark's 256 JPEGs as an ImageFolder tree, 4 classes by the file number, the same
# files for val/.
tree="$out/tree"
jpegs="${TMPDIR:-/tmp}/selfsup-bench-jpeg"
for file in "$jpegs"/*.jpg; do
  number=$(basename "$file" .jpg)
  class="n0$((10#$number % 4))"
  for split in train val; do
    mkdir -p "$tree/$split/$class"
    ln -sf "$file" "$tree/$split/$class/"
  done
done
step pretrain "$bin" pretrain --config configs/imagenet/simclr.toml --backend "$backend" \
  --data-dir "$tree" --out "$out/pretrain" --set train.warmup_epochs=0 --set eval.knn_k=4 \
  "${pretrain_set[@]}"

if [ -n "$sampler" ]; then
  kill "$sampler" 2>/dev/null
fi
echo "results in $out (steps.log lists every step and its exit status)"
