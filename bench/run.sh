#!/usr/bin/env bash
# kfpatch against the tools it replaces, on three trees built once under BENCH_DIR:
#   tagged     a git checkout of the full kubeflow/manifests 26.03 tree (the whole-repository
#              tarball in ../shared/kubeflow), with 60 earlier commits and tags (as a real clone
#              has many), HEAD at the tag 26.03;
#   fork       a clone of it with one commit on top (HEAD not tagged: the usual fork);
#   monorepo   200 000 generated files with kubeflow/manifests v1.8.1 three levels down.
# Pairs, timed alternately (A B, then B A, ...), median of RUNS runs each, and the ratio A/B:
#   kfpatch status                  vs  find TREE -path '*/installs/multi-user/api-service/params.env'
#   kfpatch audit                   vs  the same find
#   kfpatch multiuser off --dry-run vs  find ... | xargs sed -i ... && git diff
#   kfpatch render --target DIR     vs  kubectl kustomize DIR  (DIR: the install, which renders offline)
# and, without a target, a shell reading what status and audit must read at least: find walking
# the tree as they do and cat reading every kustomization file in it, vs the same find -path;
# and each command's peak memory (GNU time). Public tools only: bash, coreutils, find, xargs, sed,
# git, tar, kubectl, /usr/bin/time.
#
# The binary measured is the release build linked statically, as the release archives ship it
# (`-C target-feature=+crt-static` on the gnu target: no dynamic loader at start-up).
#
# usage: bench/run.sh [RUNS]         (default 31)
# env:   BENCH_DIR       where the trees are built and kept between runs (default /tmp/kfpatch-bench)
#        KFPATCH         the binary to measure (default: the static release build described above)
#        KFPATCH_SHARED  the shared folder with kubeflow/ (default ../shared beside the project)
#        BENCH_VERDICT   0: print the ratios but exit 0 when a target is missed (CI's smoke run)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
runs="${1:-31}"
bench_dir="${BENCH_DIR:-/tmp/kfpatch-bench}"
shared="${KFPATCH_SHARED:-$(cd .. && pwd)/shared}"
trees="$shared/kubeflow"
for need in "$trees/full-manifests-26.03.tar.gz" "$trees/manifests-v1.8.1"; do
  [ -e "$need" ] || { echo "bench/run.sh: $need is missing (set KFPATCH_SHARED)" >&2; exit 1; }
done
for tool in git find xargs sed tar kubectl /usr/bin/time; do
  command -v "$tool" >/dev/null || { echo "bench/run.sh: $tool is not installed" >&2; exit 1; }
done
if [ -z "${KFPATCH:-}" ]; then
  target=x86_64-unknown-linux-gnu
  RUSTFLAGS='-C target-feature=+crt-static' cargo build --release --quiet --target "$target"
  KFPATCH="$PWD/target/$target/release/kfpatch"
fi
mkdir -p "$bench_dir"
git_quiet() { git -c user.name=bench -c user.email=bench@kfpatch.invalid -c init.defaultBranch=main "$@"; }

# The full 26.03 tree with history and tags, cloned (so its tags are in packed-refs, as in a
# clone of GitHub), once at the tag and once as a fork one commit past it.
tagged="$bench_dir/tagged"
fork="$bench_dir/fork"
if [ ! -e "$fork/.git/.bench-complete" ]; then
  rm -rf "$bench_dir/origin" "$tagged" "$fork"
  mkdir -p "$bench_dir/origin"
  tar -xzf "$trees/full-manifests-26.03.tar.gz" -C "$bench_dir/origin" --strip-components=1
  git_quiet -C "$bench_dir/origin" init -q
  for i in $(seq 1 60); do
    echo "$i" >"$bench_dir/origin/.bench-history"
    git_quiet -C "$bench_dir/origin" add -A
    git_quiet -C "$bench_dir/origin" commit -qm "history $i"
    if ((i % 2 == 0)); then
      git_quiet -C "$bench_dir/origin" tag -a "v1.$i.0" -m "release v1.$i.0"
    else
      git_quiet -C "$bench_dir/origin" tag "v0.$i.0"
    fi
  done
  git_quiet -C "$bench_dir/origin" rm -q .bench-history
  git_quiet -C "$bench_dir/origin" commit -qm "kubeflow/manifests 26.03"
  git_quiet -C "$bench_dir/origin" tag -a 26.03 -m "release 26.03"
  git_quiet clone -q --no-local "$bench_dir/origin" "$tagged"
  git_quiet clone -q --no-local "$bench_dir/origin" "$fork"
  echo "our change" >"$fork/FORK.md"
  git_quiet -C "$fork" add FORK.md
  git_quiet -C "$fork" commit -qm "fork: our change"
  touch "$fork/.git/.bench-complete"
fi

# 10 areas x 20 projects x 25 modules x 40 files = 200 000 files, manifests at depth 3.
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
# What any status that traces the install from every kustomization of the checkout must read at
# least (issue 18), done by a shell: walk the tree as status does (not into .git, node_modules,
# target or dot folders) and read every kustomization file. No target: it shows where reading
# those files alone lies against find. (kfpatch reads less of a monorepo's tree than find: a
# folder without subfolders is checked for kustomization files by name, not listed.)
read_kustomizations() {
  find "$1" \( -name '.?*' -o -name node_modules -o -name target \) -prune -o \
    \( -name kustomization.yaml -o -name kustomization.yml -o -name Kustomization \) -type f -exec cat {} +
}
sed_switch() {
  find "$1" -path '*/installs/multi-user/api-service/params.env' -print0 |
    xargs -0 sed -i -e 's/^MULTIUSER=true$/MULTIUSER=false/' \
      -e 's/^DEFAULTPIPELINERUNNERSERVICEACCOUNT=default-editor$/DEFAULTPIPELINERUNNERSERVICEACCOUNT=pipeline-runner/'
  git -C "$1" --no-pager diff
}
restore() { git -C "$1" checkout -q -- .; }
install_dir() { "$KFPATCH" -C "$1" status --format json | sed -n 's/^    "path": "\(.*\)",$/\1/p' | head -1; }

kfpatch_status() { "$KFPATCH" -C "$1" status; }
kfpatch_audit() { "$KFPATCH" -C "$1" audit; }
kfpatch_dry_run() { "$KFPATCH" -C "$1" multiuser off --dry-run; }
kfpatch_render() { "$KFPATCH" -C "$1" render --target "$(cat "$bench_dir/install-of-$(basename "$1")")"; }
kubectl_kustomize() { kubectl kustomize "$1/$(cat "$bench_dir/install-of-$(basename "$1")")"; }

# Times A and B alternately; prints "median_a median_b".
pair() {
  local tree=$1 a=$2 b=$3 reset=${4:-} n=${5:-$runs} i ta=() tb=()
  for i in 1 2 3; do $a "$tree" >/dev/null 2>&1 || true; $b "$tree" >/dev/null 2>&1 || true; [ -z "$reset" ] || $reset "$tree"; done
  for ((i = 0; i < n; i++)); do
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

# Peak resident memory of one run, in MiB.
peak_mib() { /usr/bin/time -f %M "$@" 2>&1 >/dev/null | tail -1 | awk '{printf "%.1f", $1/1024}'; }

for tree in "$tagged" "$fork" "$monorepo"; do
  "$KFPATCH" -C "$tree" status >/dev/null || { echo "bench/run.sh: kfpatch status fails in $tree" >&2; exit 1; }
  [ -z "$(git -C "$tree" status --porcelain)" ] || { echo "bench/run.sh: $tree is not clean" >&2; exit 1; }
  install_dir "$tree" >"$bench_dir/install-of-$(basename "$tree")"
done

echo "machine: $(nproc) CPUs, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1), $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo) RAM, $(uname -sr), $(stat -f -c %T "$bench_dir") file system"
echo "kfpatch: $KFPATCH ($(stat -c %s "$KFPATCH") bytes; $(file -b "$KFPATCH" 2>/dev/null | grep -o 'statically linked\|dynamically linked' || echo 'linking unknown'))"
echo "tag at HEAD: tagged $(git -C "$tagged" describe --tags --exact-match 2>/dev/null || echo none), fork $(git -C "$fork" describe --tags --exact-match 2>/dev/null || echo none)"
echo
printf '%-9s %-38s %5s %10s %10s %7s %7s %9s\n' tree comparison runs kfpatch peer ratio target "peak MiB"
verdict=0
report() {
  local tree=$1 what=$2 target=$3 n=$4 kf=$5 peer=$6 peak=$7 ratio ok
  ratio=$(awk -v a="$kf" -v b="$peer" 'BEGIN {printf "%.2f", a/b}')
  ok=$(awk -v r="$ratio" -v t="$target" 'BEGIN {print (r <= t) ? "met" : "MISSED"}')
  [ "$ok" = met ] || verdict=1
  printf '%-9s %-38s %5s %7s ms %7s ms %6sx %6sx %9s %s\n' "$tree" "$what" "$n" "$(ms "$kf")" "$(ms "$peer")" "$ratio" "$target" "$peak" "$ok"
}
for tree in "$tagged" "$fork" "$monorepo"; do
  label=$(basename "$tree")
  status_target=0.4
  [ "$tree" != "$monorepo" ] || status_target=0.1
  read -r kf peer < <(pair "$tree" kfpatch_status find_params)
  report "$label" "status vs find" "$status_target" "$runs" "$kf" "$peer" "$(peak_mib "$KFPATCH" -C "$tree" status)"
  read -r shell peer < <(pair "$tree" read_kustomizations find_params)
  printf '%-9s %-38s %5s %7s ms %7s ms %6sx %7s %9s %s\n' "$label" "find + cat every kustomization vs find" "$runs" \
    "$(ms "$shell")" "$(ms "$peer")" "$(awk -v a="$shell" -v b="$peer" 'BEGIN {printf "%.2f", a/b}')" "" "" "(no target)"
  read -r kf peer < <(pair "$tree" kfpatch_audit find_params)
  report "$label" "audit vs find" 1.0 "$runs" "$kf" "$peer" "$(peak_mib "$KFPATCH" -C "$tree" audit)"
  read -r kf peer < <(pair "$tree" kfpatch_dry_run sed_switch restore)
  report "$label" "off --dry-run vs find+sed+git diff" 1.0 "$runs" "$kf" "$peer" "$(peak_mib "$KFPATCH" -C "$tree" multiuser off --dry-run)"
done
# A render takes about a second: fewer runs keep the whole benchmark within minutes.
render_runs=$(((runs + 2) / 3))
read -r kf peer < <(pair "$tagged" kfpatch_render kubectl_kustomize "" "$render_runs")
report tagged "render vs kubectl kustomize (install)" 1.1 "$render_runs" "$kf" "$peer" "$(peak_mib "$KFPATCH" -C "$tagged" render --target "$(cat "$bench_dir/install-of-tagged")")"
echo
echo "ratio: kfpatch's median wall time over the peer's, each the median of the runs shown; target: the ratio to stay under"
echo "find + cat: find walking the tree as status does and cat reading every kustomization file in it, what status must read at least"
if [ "${BENCH_VERDICT:-1}" = 0 ]; then
  exit 0
fi
exit "$verdict"
