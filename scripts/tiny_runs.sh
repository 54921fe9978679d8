#!/usr/bin/env bash
# Tiny pretraining runs of every Fashion-MNIST config, for showing that a restructuring changes
# no number: `scripts/tiny_runs.sh BINARY OUT_DIR` writes OUT_DIR/<config>/{steps.jsonl,knn.txt};
# run it with the binary before and after the change, then `diff -r BEFORE AFTER` must be empty.
# Each run: 512 training and 500 test images, width 4, batch 64, 2 epochs (16 steps), kNN at
# the end. About 2 minutes for all configs on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."

binary=${1:?usage: scripts/tiny_runs.sh BINARY OUT_DIR}
out=${2:?usage: scripts/tiny_runs.sh BINARY OUT_DIR}
mkdir -p "$out"

# What a method's defaults would make too large for 512 images.
method_settings() {
  case "$1" in
    exemplar) echo --set exemplar.classes=256 ;;
    instdisc) echo --set instdisc.negatives=256 ;;
    moco) echo --set moco.queue_size=128 ;;
    swav) echo --set swav.queue_length=128 --set swav.queue_start_epoch=1 ;;
  esac
}

for config in configs/fashion_mnist/*.toml; do
  name=$(basename "$config" .toml)
  run=$(mktemp -d)
  RUST_LOG=warn "$binary" pretrain --config "$config" --out "$run" \
    --set data.train_limit=512 --set data.test_limit=500 --set model.width=4 \
    --set train.batch_size=64 --set train.epochs=2 --set eval.knn_k=20 \
    --set train.warmup_epochs=0 --set train.augment_warmup_epochs=0 \
    $(method_settings "$name") >/dev/null
  mkdir -p "$out/$name"
  cp "$run/steps.jsonl" "$out/$name/steps.jsonl"
  # The kNN figures of every evaluation; timings (images/s, seconds) differ between runs.
  python3 - "$run/metrics.jsonl" >"$out/$name/knn.txt" <<'EOF'
import json, sys
for line in open(sys.argv[1]):
    row = json.loads(line)
    print(row["epoch"], row.get("knn_top1"), row.get("knn_top5"), row["loss"])
EOF
  rm -rf "$run"
  echo "$name: $(wc -l <"$out/$name/steps.jsonl") steps, kNN $(tail -1 "$out/$name/knn.txt")"
done
