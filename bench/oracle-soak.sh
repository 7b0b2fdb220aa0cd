#!/usr/bin/env bash
# The kustomize oracle as a soak: tests/kustomize_oracle.rs on many more random fork trees than
# CI's 500 (docs/fuzzing.md), release build, its output kept in a log. It goes on after a failing
# tree and lists each (seed, disagreements, how to replay it shrunk) in the log.
#
# usage: bench/oracle-soak.sh [TREES]     (default 20000)
# env:   KFPATCH_ORACLE_SEED  the seed (default: random, printed first)
#        KFPATCH_SHARED       the shared folder with kubeflow/ (default ../shared beside the project)
#        SOAK_LOG             where the output goes (default target/oracle-soak-<seed>.log)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
trees="${1:-20000}"
shared="${KFPATCH_SHARED:-$(cd .. && pwd)/shared}"
[ -d "$shared/kubeflow" ] || { echo "oracle-soak: $shared/kubeflow is missing: the soak needs the release trees" >&2; exit 1; }
command -v kubectl >/dev/null || { echo "oracle-soak: kubectl is not installed: the oracle is kubectl kustomize" >&2; exit 1; }
seed="${KFPATCH_ORACLE_SEED:-$(od -An -N8 -tu8 /dev/urandom | tr -d ' ')}"
log="${SOAK_LOG:-target/oracle-soak-$seed.log}"
mkdir -p "$(dirname "$log")"
echo "oracle-soak: $trees trees, seed $seed, log $log"
start=$(date +%s)
status=0
KFPATCH_SHARED="$shared" KFPATCH_ORACLE_SEED="$seed" KFPATCH_ORACLE_TREES="$trees" KFPATCH_ORACLE_KEEP_GOING=1 \
  cargo test --release --locked --test kustomize_oracle -- --ignored --nocapture >"$log" 2>&1 || status=$?
echo "oracle-soak: exit $status after $(( $(date +%s) - start )) s; summary:"
grep -E '^kustomize oracle: [0-9]+ trees|^test result' "$log" || true
echo "oracle-soak: $(grep -c '^FAILING tree' "$log" || true) failing trees"
[ "$status" = 0 ] || echo "oracle-soak: failing trees and how to replay each are in $log" >&2
exit "$status"
