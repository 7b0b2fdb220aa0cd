#!/usr/bin/env bash
# The run step of action.yml: runs kfpatch with the `args` input (KFPATCH_ARGS), split on white
# space (spaces, tabs and newlines, so `args: |` with one option per line works) and nothing else:
# no shell, so no quotes, globs or expansions.
set -euo pipefail

die() { printf '::error title=kfpatch action::%s\n' "$*"; exit 2; }

# read stops at a NUL, which text from a workflow never holds: it reads the whole input and
# returns 1 at its end.
IFS=$' \t\n' read -r -d '' -a args <<<"${KFPATCH_ARGS:-}" || true
[ ${#args[@]} -gt 0 ] || die "the args input is empty: give kfpatch's arguments, e.g. args: -C manifests audit --expect off -o github"
exec kfpatch "${args[@]}"
