#!/usr/bin/env bash
# How fast train-tiny's UNet stage runs with its micro-batches on one worker or on two, side by
# side in one run: each configuration resumes the same finished VAE stage and latent cache (copied
# from a train-tiny work folder) and trains STEPS UNet steps from scratch. Prints it/s per
# configuration and the ratio; the losses printed must agree (the workers do not change the result).
# Usage: scripts/train-tiny-workers-bench.sh WORK_DIR   (e.g. tiny-shapes.work; ~4 min on 2 cores)
# JD=path/to/launcher runs another build.
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
src="${1:?usage: $0 WORK_DIR (a train-tiny work folder with vae-checkpoint.safetensors and latents.safetensors)}"
steps="${STEPS:-80}"
jd="${JD:-$here/jdiffusion}"
for f in vae-checkpoint.safetensors latents.safetensors; do
  [ -f "$src/$f" ] || { echo "$src/$f is missing: run train-tiny first (its VAE stage and cache)" >&2; exit 2; }
done
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
cores="$(nproc)"

# name, threads per worker, workers
configs=("one worker, one thread:1:1" "one worker, $cores threads:$cores:1" "$cores workers, one thread each:1:$cores")
declare -A rate
for c in "${configs[@]}"; do
  IFS=: read -r name threads workers <<< "$c"
  work="$tmp/$threads-$workers.work"
  mkdir -p "$work"
  cp "$src/vae-checkpoint.safetensors" "$src/latents.safetensors" "$work/"
  start=$(date +%s.%N)
  last=$(OMP_NUM_THREADS="$threads" "$jd" train-tiny --out "$tmp/$threads-$workers" --work "$work" --resume \
           --steps "$steps" --workers "$workers" 2>&1 | tr '\r' '\n' | grep -E "^UNet \[.*$steps/$steps" | tail -1)
  end=$(date +%s.%N)
  its=$(sed -E 's/.* ([0-9.]+) it\/s.*/\1/' <<< "$last")
  loss=$(sed -E 's/.*loss ([0-9.]+).*/\1/' <<< "$last")
  rate[$name]="$its"
  printf '%-34s %6s it/s  last loss %s  (%.0f s with start-up)\n' "$name" "$its" "$loss" "$(echo "$end - $start" | bc)"
done
printf 'two workers against one single-threaded worker: %.2fx\n' \
  "$(echo "${rate["$cores workers, one thread each"]} / ${rate["one worker, one thread"]}" | bc -l)"
