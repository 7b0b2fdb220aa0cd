#!/usr/bin/env bash
# The install step of action.yml: downloads the release archive for this runner, checks its sha256
# and puts kfpatch on the job's PATH.
#
# From GitHub: RUNNER_OS (Linux, macOS), RUNNER_ARCH (X64, ARM64), RUNNER_TEMP, GITHUB_PATH.
# From the action: KFPATCH_VERSION (default: the version in this repository's Cargo.toml) and
# KFPATCH_SHA256 (default: the release's .sha256 file). KFPATCH_RELEASE_URL replaces the release
# folder REPOSITORY/releases/download/vVERSION (for a test server).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

die() { printf '::error title=kfpatch action::%s\n' "$*"; exit 1; }

package_field() {
  awk -F ' = ' -v key="$1" '/^\[/ && $0 != "[package]" { exit } $1 == key { gsub(/"/, "", $2); print $2; exit }' "$root/Cargo.toml"
}
version=${KFPATCH_VERSION:-$(package_field version)}
version=${version#v}
repository=$(package_field repository)
release_url=${KFPATCH_RELEASE_URL:-$repository/releases/download/v$version}

case "${RUNNER_OS:-}" in
  Linux) os=linux ;;
  macOS) os=darwin ;;
  *) die "kfpatch is released for Linux and macOS runners, not ${RUNNER_OS:-an unknown OS}" ;;
esac
case "${RUNNER_ARCH:-}" in
  X64) arch=amd64 ;;
  ARM64) arch=arm64 ;;
  *) die "kfpatch is released for X64 and ARM64 runners, not ${RUNNER_ARCH:-an unknown processor}" ;;
esac
name="kfpatch-v$version-$os-$arch"
dir="${RUNNER_TEMP:?RUNNER_TEMP is not set}/kfpatch-action"
rm -rf "$dir"
mkdir -p "$dir"

fetch() {
  curl --fail --silent --show-error --location --retry 3 --output "$2" "$1" \
    || die "could not download $1"
}
fetch "$release_url/$name.tar.gz" "$dir/$name.tar.gz"
if [ -n "${KFPATCH_SHA256:-}" ]; then
  expected=$KFPATCH_SHA256
else
  fetch "$release_url/$name.tar.gz.sha256" "$dir/$name.tar.gz.sha256"
  expected=$(cut -d ' ' -f 1 "$dir/$name.tar.gz.sha256")
fi
if command -v sha256sum >/dev/null; then
  actual=$(sha256sum "$dir/$name.tar.gz" | cut -d ' ' -f 1)
else
  actual=$(shasum -a 256 "$dir/$name.tar.gz" | cut -d ' ' -f 1)
fi
[ "$actual" = "$expected" ] \
  || die "$name.tar.gz has sha256 $actual, expected $expected: not installing it"

tar -xzf "$dir/$name.tar.gz" -C "$dir"
[ -x "$dir/$name/kfpatch" ] || die "$name.tar.gz holds no $name/kfpatch"
echo "$dir/$name" >>"${GITHUB_PATH:?GITHUB_PATH is not set}"
echo "kfpatch v$version ($os-$arch, sha256 $actual) installed"
