#!/usr/bin/env bash
# DreamBooth on the tiny model, with and without prior preservation (issue 7's measurement):
#   1. five instance images of the held-out star family, one fixed style (no jitter);
#   2. a full fine-tune without prior preservation, and one with it (class images generated first);
#   3. eval-tiny on the base model and on both results: held-out captions, and how often the
#      instance prompt draws the subject (the scorer's shape and colour of the instance images).
# Usage: scripts/dreambooth-experiment.sh [WORK_DIR]   (~15 min on 2 cores; settings below via env)
# JD=path/to/launcher runs another build (e.g. a copied jar while the tree is edited).
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
work="${1:-dreambooth-experiment}"
model="${MODEL:-$here/models/tiny-shapes}"
steps="${STEPS:-500}"
lr="${LR:-1.5e-4}"
n="${N:-100}"                  # held-out captions per model
instance_n="${INSTANCE_N:-50}" # images from the instance prompt per model
class_images="${CLASS_IMAGES:-100}"
batch="${BATCH:-1}"            # instance images per step (as many class images are added with prior preservation)
prior_weight="${PRIOR_WEIGHT:-3}"   # diffusers: 1.0; 3 holds the captions within 10 points at this lr (README)
seed="${SEED:-0}"              # training seed (the evaluation's images are seeded the same every time)
# more dreambooth options for both runs; EXTRA_ARGS= (empty) trains the UNet alone
read -r -a extra <<< "${EXTRA_ARGS---train-text-encoder}"
# "sks" is a single token no training caption contains; "shape" is the class noun of the partial captions
instance_prompt="${INSTANCE_PROMPT:-a sks shape}"
class_prompt="${CLASS_PROMPT:-a shape}"
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}"
jd="${JD:-$here/jdiffusion}"

"$jd" shapes --family star --num-images 5 --fixed-style --out "$work/instance"
common=(--model "$model" --instance-dir "$work/instance" --instance-prompt "$instance_prompt"
        --resolution 64 --train-batch-size "$batch" --max-train-steps "$steps" --learning-rate "$lr"
        --checkpointing-steps 100000 --seed "$seed" --validation-prompt "$instance_prompt" --validation-steps "$steps"
        --num-validation-images 4 "${extra[@]}")
"$jd" dreambooth "${common[@]}" --output-dir "$work/no-prior"
"$jd" dreambooth "${common[@]}" --output-dir "$work/prior" --with-prior-preservation --class-dir "$work/class" \
    --class-prompt "$class_prompt" --num-class-images "$class_images" --class-inference-steps 25 \
    --prior-loss-weight "$prior_weight"

for m in base no-prior prior; do
  folder="$work/$m"; [ "$m" = base ] && folder="$model"
  [ "$m" = base ] && [ -s "$work/eval-base.txt" ] && continue   # deterministic: scored once per work folder
  echo "=== $m ($folder)"
  "$jd" eval-tiny --model "$folder" --num-images "$n" --guidance-scale 7.5 --instance-prompt "$instance_prompt" \
      --instance-dir "$work/instance" --instance-n "$instance_n" | tee "$work/eval-$m.txt"
done
echo; echo "=== summary"
for m in base no-prior prior; do
  echo "--- $m"; grep -E "^7.5 |subject" "$work/eval-$m.txt" | tail -n 4 || true
done
