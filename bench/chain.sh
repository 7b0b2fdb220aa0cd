#!/usr/bin/env bash
# kfpatch status on 100 000 levels of kustomization nesting (issue 18: the kustomize model's cost
# is linear in the size of the kustomization graph; target: under 1 s). The tree is built once
# under BENCH_DIR: the small KFP fixture of tests/cases/fork-pinned-multiuser-audit (without its
# example/), and chain/l0 ... chain/l99999, each kustomization listing the next, the last the
# install; l0 merges MULTIUSER=true into the API server's ConfigMap. tests/kustomize_model.rs
# checks what the model says of the same chain; this script only times it, and beside it the
# file system's floor on the same tree (a find that walks it, and one that reads every
# kustomization), so the ratio is seen on machines whose system calls are slow.
#
# usage: bench/chain.sh [RUNS]       (default 5)
# env:   BENCH_DIR      where the tree is built and kept between runs (default /tmp/kfpatch-bench)
#        KFPATCH        the binary to measure (default: the static release build, as bench/run.sh)
#        LEVELS         the chain's length (default 100000; another length is built in chain-LEVELS,
#                       to see that the cost is linear; the 1 s target is for 100 000)
#        BENCH_VERDICT  0: print the time but exit 0 when the target is missed
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
runs="${1:-5}"
bench_dir="${BENCH_DIR:-/tmp/kfpatch-bench}"
levels="${LEVELS:-100000}"
target_ms=$((levels / 100)) # 1 s for 100 000 levels
if [ -z "${KFPATCH:-}" ]; then
  target=x86_64-unknown-linux-gnu
  RUSTFLAGS='-C target-feature=+crt-static' cargo build --release --quiet --target "$target"
  KFPATCH="$PWD/target/$target/release/kfpatch"
fi

tree="$bench_dir/chain"
((levels == 100000)) || tree="$bench_dir/chain-$levels"
if [ ! -e "$tree/.bench-complete" ]; then
  rm -rf "$tree"
  mkdir -p "$tree"
  cp -r tests/cases/fork-pinned-multiuser-audit/in/. "$tree/"
  rm -rf "$tree/example"
  echo "generating $levels nested kustomizations in $tree/chain (once)" >&2
  seq -f "$tree/chain/l%.0f" 0 $((levels - 1)) | xargs mkdir -p
  for ((i = 0; i < levels; i++)); do
    if ((i + 1 == levels)); then
      base=../../applications/pipeline/upstream/base/installs/multi-user
    else
      base="../l$((i + 1))"
    fi
    printf 'resources:\n- %s\n' "$base" >"$tree/chain/l$i/kustomization.yaml"
  done
  printf 'configMapGenerator:\n- name: pipeline-api-server-config\n  behavior: merge\n  literals:\n  - MULTIUSER=true\n' \
    >>"$tree/chain/l0/kustomization.yaml"
  touch "$tree/.bench-complete"
fi

# The model must see the whole chain: the outermost level traced, with its override.
"$KFPATCH" -C "$tree" status --format json >"$bench_dir/chain-status.json"
grep -q "\"kustomization\": \"chain/l$((levels - 1))\"" "$bench_dir/chain-status.json" ||
  { echo "bench/chain.sh: status does not list chain/l$((levels - 1))" >&2; exit 1; }

micros() {
  local start=${EPOCHREALTIME/./}
  "$@" >/dev/null 2>&1 || true
  local end=${EPOCHREALTIME/./}
  echo $((end - start))
}
# The file system's own cost of the same tree, timed in turn with kfpatch: a walk that lists
# every folder (`find`), and that walk reading every kustomization (`find -exec cat`). kfpatch
# must do at least the second (issue 18: every kustomization that deploys the install is found
# and read), so the ratio to it says how far above the floor the model runs on this machine.
times=() walks=() reads=()
for ((i = 0; i < runs; i++)); do
  times+=("$(micros "$KFPATCH" -C "$tree" status)")
  walks+=("$(micros find "$tree" -name kustomization.yaml)")
  reads+=("$(micros find "$tree" -name kustomization.yaml -exec cat {} +)")
done
median_of() { printf '%s\n' "$@" | sort -n | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}'; }
ms() { awk -v u="$1" 'BEGIN {printf "%.0f", u/1000}'; }
median=$(median_of "${times[@]}")
walk=$(median_of "${walks[@]}")
read_all=$(median_of "${reads[@]}")
peak=$(/usr/bin/time -f %M "$KFPATCH" -C "$tree" status 2>&1 >/dev/null | tail -1 | awk '{printf "%.1f", $1/1024}')
ok=met
((median <= target_ms * 1000)) || ok=MISSED
echo "machine: $(nproc) CPUs, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1); load average $(cut -d' ' -f1-3 /proc/loadavg)"
printf 'status on %d nested kustomizations: median of %d runs %s ms (target %d ms: %s), peak %s MiB\n' \
  "$levels" "$runs" "$(ms "$median")" "$target_ms" "$ok" "$peak"
printf 'the same tree: find %s ms, find -exec cat (every kustomization read) %s ms; status %s the latter\n' \
  "$(ms "$walk")" "$(ms "$read_all")" "$(awk -v a="$median" -v b="$read_all" 'BEGIN {printf "%.2fx", a/b}')"
if [ "${BENCH_VERDICT:-1}" = 0 ] || [ "$ok" = met ]; then
  exit 0
fi
exit 1
