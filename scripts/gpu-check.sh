#!/usr/bin/env bash
# The page's WebGPU kernels on this machine's GPU: builds `maml` with burn's wgpu backend natively
# (`--features wgpu-native`: Vulkan, Metal or DX12, with fusion as in the page's build), runs the
# sinusoid, the page's glyph preset and the paper's conv4 configuration on wgpu and on flex (the
# CPU), and prints one table: meta-iterations per second on each, and the kernels wgpu launches
# per meta-iteration (counted by cubecl's own execution log). Exits non-zero when there is no GPU
# or the two backends' first meta-losses (same seed: same tasks, same initial weights) differ by
# more than 1e-4 relative.
# usage: bash scripts/gpu-check.sh
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --features wgpu-native --bin maml
target_dir=${CARGO_TARGET_DIR:-target}
[[ "$target_dir" == /* ]] || target_dir="$(pwd)/$target_dir"
maml="$target_dir/release/maml"

# name | flags | timed iterations
configs=(
  "sinusoid (MLP 1-40-40-1, meta-batch 25)|--task sinusoid|100"
  "glyph preset (conv4-16, meta-batch 8, 5 queries)|--task glyphs --filters 16 --meta-batch 8 --queries 5|20"
  "paper conv4 (64 filters, meta-batch 32, 15 queries)|--task glyphs|5"
)

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# Kernel launches per meta-iteration on wgpu: cubecl logs each launch ("Executing ...") at its
# "minimal" profiling level, read from a cubecl.toml in the working directory. Runs of 1 and 3
# timed iterations (each after the same 2 warm-ups) differ by 2 meta-iterations.
launches() {
  local flags=$1 n1 n3
  mkdir -p "$work/count" && cd "$work/count"
  for n in 1 3; do
    printf '[profiling.logger]\nlevel = "minimal"\nfile = "%s"\nappend = false\n' "$work/count/launches-$n.log" > cubecl.toml
    # shellcheck disable=SC2086
    "$maml" bench $flags --backend wgpu --iterations "$n" > /dev/null
  done
  cd - > /dev/null
  n1=$(grep -c Executing "$work/count/launches-1.log" || true)
  n3=$(grep -c Executing "$work/count/launches-3.log" || true)
  echo $(( (n3 - n1) / 2 ))
}

status=0
printf '| configuration | wgpu it/s | flex it/s | wgpu / flex | kernel launches per it (wgpu) | first meta-losses wgpu / flex | agree |\n'
printf '| --- | ---: | ---: | ---: | ---: | --- | --- |\n'
for c in "${configs[@]}"; do
  IFS='|' read -r name flags iterations <<< "$c"
  # shellcheck disable=SC2086
  if ! gpu=$("$maml" bench $flags --backend wgpu --iterations "$iterations" 2> "$work/err"); then
    echo "the GPU path is missing: $(tail -n 1 "$work/err")" >&2
    exit 1
  fi
  # shellcheck disable=SC2086
  cpu=$("$maml" bench $flags --backend flex --iterations "$iterations")
  count=$(launches "$flags")
  row=$(GPU="$gpu" CPU="$cpu" NAME="$name" COUNT="$count" python3 - <<'EOF'
import json, os
g, c = json.loads(os.environ["GPU"]), json.loads(os.environ["CPU"])
agree = all(abs(a - b) <= 1e-4 * abs(b) for a, b in zip(g["warm_up_losses"], c["warm_up_losses"]))
losses = lambda r: ", ".join(f"{v:.6g}" for v in r["warm_up_losses"])
print(f'| {os.environ["NAME"]} | {g["it_per_s"]:.2f} | {c["it_per_s"]:.2f} | {g["it_per_s"] / c["it_per_s"]:.2f} | '
      f'{os.environ["COUNT"]} | {losses(g)} / {losses(c)} | {"yes" if agree else "NO"} |')
EOF
)
  echo "$row"
  [[ "$row" == *"| NO |" ]] && status=1
done
if (( status )); then echo "wgpu and flex disagree beyond 1e-4 relative" >&2; fi
exit $status
