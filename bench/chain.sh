#!/usr/bin/env bash
# kfpatch status on 100 000 levels of kustomization nesting (issue 18: the kustomize model's cost
# is linear in the size of the kustomization graph; target: under 1 s). The tree is built once
# under BENCH_DIR: the small KFP fixture of tests/cases/fork-pinned-multiuser-audit (without its
# example/), and chain/l0 ... chain/l99999, each kustomization listing the next, the last the
# install; l0 merges MULTIUSER=true into the API server's ConfigMap. tests/kustomize_model.rs
# checks what the model says of the same chain; this script only times it.
#
# usage: bench/chain.sh [RUNS]       (default 5)
# env:   BENCH_DIR      where the tree is built and kept between runs (default /tmp/kfpatch-bench)
#        KFPATCH        the binary to measure (default: the static release build, as bench/run.sh)
#        BENCH_VERDICT  0: print the time but exit 0 when the target is missed
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
runs="${1:-5}"
bench_dir="${BENCH_DIR:-/tmp/kfpatch-bench}"
levels=100000
target_ms=1000
if [ -z "${KFPATCH:-}" ]; then
  target=x86_64-unknown-linux-gnu
  RUSTFLAGS='-C target-feature=+crt-static' cargo build --release --quiet --target "$target"
  KFPATCH="$PWD/target/$target/release/kfpatch"
fi

tree="$bench_dir/chain"
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
grep -q '"kustomization": "chain/l99999"' "$bench_dir/chain-status.json" ||
  { echo "bench/chain.sh: status does not list chain/l99999" >&2; exit 1; }

micros() {
  local start=${EPOCHREALTIME/./}
  "$@" >/dev/null 2>&1 || true
  local end=${EPOCHREALTIME/./}
  echo $((end - start))
}
times=()
for ((i = 0; i < runs; i++)); do
  times+=("$(micros "$KFPATCH" -C "$tree" status)")
done
median=$(printf '%s\n' "${times[@]}" | sort -n | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}')
peak=$(/usr/bin/time -f %M "$KFPATCH" -C "$tree" status 2>&1 >/dev/null | tail -1 | awk '{printf "%.1f", $1/1024}')
ok=met
((median <= target_ms * 1000)) || ok=MISSED
echo "machine: $(nproc) CPUs, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1); load average $(cut -d' ' -f1-3 /proc/loadavg)"
printf 'status on %d nested kustomizations: median of %d runs %s ms (target %d ms: %s), peak %s MiB\n' \
  "$levels" "$runs" "$(awk -v u="$median" 'BEGIN {printf "%.0f", u/1000}')" "$target_ms" "$ok" "$peak"
if [ "${BENCH_VERDICT:-1}" = 0 ] || [ "$ok" = met ]; then
  exit 0
fi
exit 1
