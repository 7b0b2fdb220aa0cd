#!/usr/bin/env bash
# kfpatch against the shell tools it replaces, in one run, on two trees:
#   (a) a git clone (with history: the KFP part of kubeflow/manifests v1.5.1 -> v1.7.0 -> v1.8.1,
#       from ../shared/kubeflow) and
#   (b) a generated monorepo of 200 000 files with kubeflow/manifests v1.8.1 three levels down.
# Pairs, timed alternately (A B, then B A, ...), median of RUNS runs each:
#   kfpatch status                  vs  find TREE -path '*/installs/multi-user/api-service/params.env'
#   kfpatch multiuser off --dry-run vs  find ... | xargs sed -i ... && git diff
# and the release binary's size and `--help` start-up time. Public tools only: bash, coreutils,
# find, xargs, sed, git.
#
# usage: bench/run.sh [RUNS]         (default 31)
# env:   BENCH_DIR   where the trees are built and kept between runs (default /tmp/kfpatch-bench)
#        KFPATCH     the binary to measure (default: cargo build --release, target/release/kfpatch)
#        KFPATCH_SHARED  the shared folder with kubeflow/ (default ../shared beside the project)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
runs="${1:-31}"
bench_dir="${BENCH_DIR:-/tmp/kfpatch-bench}"
shared="${KFPATCH_SHARED:-$(cd .. && pwd)/shared}"
trees="$shared/kubeflow"
for release in manifests-v1.5.1 manifests-v1.7.0 manifests-v1.8.1; do
  [ -d "$trees/$release" ] || { echo "bench/run.sh: $trees/$release is missing (set KFPATCH_SHARED)" >&2; exit 1; }
done
if [ -z "${KFPATCH:-}" ]; then
  cargo build --release --quiet
  KFPATCH="$PWD/target/release/kfpatch"
fi
mkdir -p "$bench_dir"
git_quiet() { git -c user.name=bench -c user.email=bench@kfpatch.invalid -c init.defaultBranch=main "$@"; }

# (a) The KFP part of three kubeflow/manifests releases as history, cloned as a user would.
manifests="$bench_dir/manifests"
if [ ! -e "$manifests/.git/.bench-complete" ]; then
  rm -rf "$bench_dir/origin" "$manifests"
  git_quiet init -q "$bench_dir/origin"
  for release in manifests-v1.5.1 manifests-v1.7.0 manifests-v1.8.1; do
    find "$bench_dir/origin" -mindepth 1 -maxdepth 1 ! -name .git -exec rm -rf {} +
    cp -r "$trees/$release/." "$bench_dir/origin/"
    git_quiet -C "$bench_dir/origin" add -A
    git_quiet -C "$bench_dir/origin" commit -qm "kubeflow/manifests ${release#manifests-} (KFP part)"
    git_quiet -C "$bench_dir/origin" tag "${release#manifests-}"
  done
  git_quiet clone -q --no-local "$bench_dir/origin" "$manifests"
  touch "$manifests/.git/.bench-complete"
fi

# (b) 10 areas x 20 projects x 25 modules x 40 files = 200 000 files, manifests at depth 3.
monorepo="$bench_dir/monorepo"
if [ ! -e "$monorepo/.git/.bench-complete" ]; then
  rm -rf "$monorepo"
  echo "generating the 200 000-file monorepo in $monorepo (once; about a minute)" >&2
  names=$(printf 'file%02d.go ' $(seq 1 40))
  for a in $(seq -w 1 10); do for p in $(seq -w 1 20); do for m in $(seq -w 1 25); do
    dir="$monorepo/area$a/project$p/module$m"
    mkdir -p "$dir"
    (cd "$dir" && printf 'package module%s\n' "$m" | tee $names >/dev/null)
  done; done; done
  mkdir -p "$monorepo/platform/deploy/kubeflow"
  cp -r "$trees/manifests-v1.8.1/." "$monorepo/platform/deploy/kubeflow/"
  git_quiet -C "$monorepo" init -q
  git_quiet -C "$monorepo" add -A
  git_quiet -C "$monorepo" commit -qm "monorepo"
  git_quiet -C "$monorepo" gc -q
  touch "$monorepo/.git/.bench-complete"
fi

# Microseconds of one run of "$@" (output discarded).
micros() {
  local start=${EPOCHREALTIME/./}
  "$@" >/dev/null 2>&1 || true
  local end=${EPOCHREALTIME/./}
  echo $((end - start))
}

median() { sort -n | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}'; }
ms() { awk -v u="$1" 'BEGIN {printf "%.2f", u/1000}'; }

find_params() { find "$1" -path '*/installs/multi-user/api-service/params.env'; }
sed_switch() {
  find "$1" -path '*/installs/multi-user/api-service/params.env' -print0 |
    xargs -0 sed -i -e 's/^MULTIUSER=true$/MULTIUSER=false/' \
      -e 's/^DEFAULTPIPELINERUNNERSERVICEACCOUNT=default-editor$/DEFAULTPIPELINERUNNERSERVICEACCOUNT=pipeline-runner/'
  git -C "$1" --no-pager diff
}
restore() { git -C "$1" checkout -q -- .; }

# Times A and B alternately; prints "median_a median_b".
pair() {
  local tree=$1 a=$2 b=$3 reset=${4:-} i ta=() tb=()
  for i in 1 2 3; do $a "$tree" >/dev/null 2>&1 || true; $b "$tree" >/dev/null 2>&1 || true; [ -z "$reset" ] || $reset "$tree"; done
  for ((i = 0; i < runs; i++)); do
    if ((i % 2 == 0)); then
      ta+=("$(micros $a "$tree")"); [ -z "$reset" ] || $reset "$tree"
      tb+=("$(micros $b "$tree")"); [ -z "$reset" ] || $reset "$tree"
    else
      tb+=("$(micros $b "$tree")"); [ -z "$reset" ] || $reset "$tree"
      ta+=("$(micros $a "$tree")"); [ -z "$reset" ] || $reset "$tree"
    fi
  done
  echo "$(printf '%s\n' "${ta[@]}" | median) $(printf '%s\n' "${tb[@]}" | median)"
}

kfpatch_status() { "$KFPATCH" -C "$1" status; }
kfpatch_dry_run() { "$KFPATCH" -C "$1" multiuser off --dry-run; }
kfpatch_help() { "$KFPATCH" --help; }
do_nothing() { /bin/true; }

for tree in "$manifests" "$monorepo"; do
  "$KFPATCH" -C "$tree" status >/dev/null || { echo "bench/run.sh: kfpatch status fails in $tree" >&2; exit 1; }
  [ -z "$(git -C "$tree" status --porcelain)" ] || { echo "bench/run.sh: $tree is not clean" >&2; exit 1; }
done

echo "machine: $(nproc) CPUs, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1), $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo) RAM, $(uname -sr), $(stat -f -c %T "$bench_dir") file system"
echo "kfpatch: $KFPATCH ($(stat -c %s "$KFPATCH") bytes)"
echo "runs: $runs per command, alternating, median"
echo
printf '%-10s %-34s %10s %10s %7s %7s\n' tree comparison kfpatch peer ratio target
verdict=0
report() {
  local tree=$1 what=$2 target=$3 kf=$4 peer=$5 ratio
  ratio=$(awk -v a="$kf" -v b="$peer" 'BEGIN {printf "%.2f", a/b}')
  local ok
  ok=$(awk -v r="$ratio" -v t="$target" 'BEGIN {print (r <= t) ? "met" : "MISSED"}')
  [ "$ok" = met ] || verdict=1
  printf '%-10s %-34s %8s ms %7s ms %6sx %6sx %s\n' "$tree" "$what" "$(ms "$kf")" "$(ms "$peer")" "$ratio" "$target" "$ok"
}
for tree in "$manifests" "$monorepo"; do
  label=$(basename "$tree")
  read -r kf peer < <(pair "$tree" kfpatch_status find_params)
  report "$label" "status vs find" 0.5 "$kf" "$peer"
  read -r kf peer < <(pair "$tree" kfpatch_dry_run sed_switch restore)
  report "$label" "off --dry-run vs find+sed+git diff" 1.0 "$kf" "$peer"
done
read -r help nothing < <(pair "$manifests" kfpatch_help do_nothing)
echo
echo "kfpatch --help: $(ms "$help") ms median; /bin/true (the cost of starting any process here): $(ms "$nothing") ms"
exit "$verdict"
