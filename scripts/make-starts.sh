#!/usr/bin/env bash
# The meta-trained starts the page offers (www/starts/): MAML on the page's preset of each task
# (TrainerConfig::page_preset: the sinusoid's is the paper's; the glyphs' is 16 filters, 5 queries,
# meta-batch 8), seed 0. Each file is one `maml train`; `maml eval` then measures it on the 600
# held-out tasks the README quotes, and on the page's 24, which the page's test checks.
# The noise control needs none: nothing can be learned there.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --bin maml
maml="${CARGO_TARGET_DIR:-target}/release/maml"
runs=runs/starts
mkdir -p www/starts "$runs"

train() { # task iterations flags...
  local task=$1 iterations=$2
  shift 2
  "$maml" train --task "$task" "$@" --iterations "$iterations" --log-every 0 --out "$runs/$task"
  cp "$runs/$task/weights.bin" "www/starts/$task.bin"
}
train sinusoid 10000
train glyphs 2000 --filters 16 --queries 5 --meta-batch 8
# navigation's page preset (10 trajectories before and after the step, 10 goals per meta-batch,
# β 0.003, the authors' estimator): 500 meta-iterations, where its return has levelled off
train navigation 500 --shots 10 --queries 10 --meta-batch 10 --meta-lr 0.003 --score-term false

# the manifest the page and tests/starts.rs read: each file, its size, and its measured meta-test
# (on 600 held-out tasks, and on the page's: 24 tasks, or navigation's 20 goals)
for task in sinusoid glyphs navigation; do
  page=24
  [ "$task" = navigation ] && page=20
  jq -n --arg task "$task" --arg key "tasks$page" --argjson bytes "$(stat -c %s "www/starts/$task.bin")" \
    --argjson all "$("$maml" eval --run "$runs/$task" --tasks 600)" \
    --argjson page "$("$maml" eval --run "$runs/$task" --tasks "$page")" \
    '{($task): ({file: ($task + ".bin"), bytes: $bytes, iterations: $all.iterations, metric: $all.metric,
      tasks600: $all.steps} + {($key): $page.steps})}'
done | jq -s add > www/starts/starts.json
cat www/starts/starts.json
