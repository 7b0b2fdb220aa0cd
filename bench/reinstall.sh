#!/usr/bin/env bash
# kfpatch reinstall against upstream's install loop, on real test API servers
# (../shared/test-cluster), with the full kubeflow/manifests v1.8.1 tree:
#   loop     while ! kubectl kustomize DIR | kubectl apply -f -; do sleep 10; done
#            (kubectl kustomize standing in for kustomize build; at most LOOP_TRIES tries)
#   kfpatch  kfpatch reinstall --target T --yes --no-wait --kustomize 'kubectl kustomize'
# for T = all (DIR = example/) and T = kfp (DIR = the pipeline overlay example/ names), each on
# a fresh API server and then once more on the same one, where everything is already applied.
# Every measurement starts its own API server, so kfpatch and the loop never share one.
#   all: a bare API server (cluster.sh start). With `cluster.sh crds`, the loop never ends:
#        those Istio CRDs (of 26.03) are newer than 1.8.1's, and the API server refuses the
#        older copies for ever (kfpatch keeps the cluster's; see docs/commands/reinstall.md).
#   kfp: cluster.sh start + crds (Istio, cert-manager, Profile): what a Kubeflow cluster has
#        before KFP is (re)installed; without them the KFP overlay cannot be applied at all.
# Runs alternate which of the two goes first; the table shows medians and the ratio. Each run's
# line shows the machine's load average after it (other work slows both sides).
#
# usage: bench/reinstall.sh [RUNS]    (default 3)
# env:   K8S_PORT, ETCD_PORT  the API server's and etcd's ports (default 27443, 23379: not those
#                              of the test suite)
#        BENCH_DIR            work folder (default /tmp/kfpatch-bench-reinstall)
#        KFPATCH              the binary to measure (default: cargo build --release)
#        KFPATCH_SHARED       the shared folder (default ../shared beside the project)
#        LOOP_TRIES           the loop's bound (default 10)
#        BENCH_TARGETS        which targets (default "all kfp")
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
runs="${1:-3}"
export K8S_PORT="${K8S_PORT:-27443}" ETCD_PORT="${ETCD_PORT:-23379}"
bench_dir="${BENCH_DIR:-/tmp/kfpatch-bench-reinstall}"
shared="${KFPATCH_SHARED:-$(cd .. && pwd)/shared}"
loop_tries="${LOOP_TRIES:-10}"
archive="$shared/kubeflow/full-manifests-v1.8.1.tar.gz"
cluster="$shared/test-cluster/cluster.sh"
for need in "$archive" "$cluster"; do
  [ -e "$need" ] || { echo "bench/reinstall.sh: $need is missing (set KFPATCH_SHARED)" >&2; exit 1; }
done
for tool in kubectl etcd openssl tar; do
  command -v "$tool" >/dev/null || { echo "bench/reinstall.sh: $tool is not installed" >&2; exit 1; }
done
if [ -z "${KFPATCH:-}" ]; then
  cargo build --release --quiet
  KFPATCH="$PWD/target/release/kfpatch"
fi
mkdir -p "$bench_dir"
tree="$bench_dir/manifests-v1.8.1"
[ -d "$tree" ] || tar -xzf "$archive" -C "$bench_dir"
overlay="$tree/$(sed -n 's|^- \.\./\(apps/pipeline/upstream/env/.*\)$|\1|p' "$tree/example/kustomization.yaml" | head -n 1)"
[ -d "$overlay" ] || { echo "bench/reinstall.sh: example/ names no pipeline overlay" >&2; exit 1; }
declare -A dir_of=([all]="$tree/example" [kfp]="$overlay")
declare -A crds_of=([all]=0 [kfp]=1)

server="$bench_dir/cluster"
start() { # CRDS: start a fresh API server, print its kubeconfig
  "$cluster" stop "$server" >/dev/null 2>&1 || true
  rm -rf "$server"
  local kc
  kc=$("$cluster" start "$server" 2>/dev/null)
  if [ "$1" = 1 ]; then "$cluster" crds "$server" >/dev/null 2>&1; fi
  echo "$kc"
}
stop() { "$cluster" stop "$server" >/dev/null 2>&1 || true; }
trap stop EXIT
now() { date +%s%N; }
ms() { echo $((($2 - $1) / 1000000)); }

# Each prints two lines: milliseconds on a fresh server, then once more on the same one.
run_kfpatch() { # TARGET
  local kc t0 t1 t2
  kc=$(start "${crds_of[$1]}")
  t0=$(now)
  "$KFPATCH" -C "$tree" reinstall --target "$1" --yes --no-wait --kustomize "kubectl kustomize" \
    --kubeconfig "$kc" >"$bench_dir/kfpatch-$1.out" 2>&1 \
    || { echo "bench/reinstall.sh: kfpatch failed:" >&2; cat "$bench_dir/kfpatch-$1.out" >&2; exit 1; }
  t1=$(now)
  "$KFPATCH" -C "$tree" reinstall --target "$1" --yes --no-wait --kustomize "kubectl kustomize" \
    --kubeconfig "$kc" >"$bench_dir/kfpatch-$1-again.out" 2>&1 \
    || { echo "bench/reinstall.sh: kfpatch (again) failed:" >&2; cat "$bench_dir/kfpatch-$1-again.out" >&2; exit 1; }
  t2=$(now)
  stop
  ms "$t0" "$t1"
  ms "$t1" "$t2"
}
loop() { # DIR KUBECONFIG
  local tries=0
  while ! kubectl kustomize "$1" 2>/dev/null | kubectl --kubeconfig "$2" apply -f - >/dev/null 2>"$bench_dir/loop.err"; do
    tries=$((tries + 1))
    if [ "$tries" -ge "$loop_tries" ]; then
      echo "bench/reinstall.sh: the loop still fails after $tries tries:" >&2
      tail -n 3 "$bench_dir/loop.err" >&2
      exit 1
    fi
    sleep 10
  done
}
run_loop() { # TARGET
  local kc t0 t1 t2
  kc=$(start "${crds_of[$1]}")
  t0=$(now)
  loop "${dir_of[$1]}" "$kc"
  t1=$(now)
  loop "${dir_of[$1]}" "$kc"
  t2=$(now)
  stop
  ms "$t0" "$t1"
  ms "$t1" "$t2"
}

median() { sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : int((a[NR/2]+a[NR/2+1])/2)}'; }
targets="${BENCH_TARGETS:-all kfp}"
declare -A times
for target in $targets; do
  for i in $(seq 1 "$runs"); do
    if ((i % 2)); then order="kfpatch loop"; else order="loop kfpatch"; fi
    for who in $order; do
      mapfile -t got < <("run_$who" "$target")
      [ "${#got[@]}" = 2 ] || exit 1
      times[$who,fresh,$target]+="${got[0]} "
      times[$who,again,$target]+="${got[1]} "
      echo "run $i/$runs, --target $target, $who: fresh ${got[0]} ms, already applied ${got[1]} ms (load average $(cut -d' ' -f1-3 /proc/loadavg))" >&2
    done
  done
done

echo "| cluster | target | kfpatch | loop | ratio | runs |"
echo "|---|---|---|---|---|---|"
missed=0
for state in fresh again; do
  for target in $targets; do
    k=$(tr ' ' '\n' <<<"${times[kfpatch,$state,$target]}" | grep . | median)
    l=$(tr ' ' '\n' <<<"${times[loop,$state,$target]}" | grep . | median)
    ratio=$(awk -v k="$k" -v l="$l" 'BEGIN {printf "%.2f", k / l}')
    awk -v r="$ratio" 'BEGIN {exit !(r > 0.5)}' && missed=1
    name=$([ "$state" = fresh ] && echo fresh || echo "already applied")
    awk -v n="$name" -v t="$target" -v k="$k" -v l="$l" -v r="$ratio" -v runs="$runs" \
      'BEGIN {printf "| %s | %s | %.1f s | %.1f s | %sx | %d |\n", n, t, k / 1000, l / 1000, r, runs}'
  done
done
[ "$missed" = 0 ] || { echo "bench/reinstall.sh: a ratio is above 0.5x" >&2; exit 1; }
