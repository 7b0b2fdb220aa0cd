#!/usr/bin/env bash
# Release archives of kfpatch and the krew plugin manifest that points at them.
#
#   dist/release.sh [TARGET]        build TARGET (default: this machine's, as the release
#                                   workflow builds on each runner) and pack its archive
#   dist/release.sh manifest        write kfpatch.yaml (krew) for every archive in the output folder
#
# The output folder is target/dist (KFPATCH_DIST_DIR overrides). One archive per platform,
# kfpatch-vVERSION-OS-ARCH.tar.gz (OS linux|darwin, ARCH amd64|arm64, as krew and Go name them), holds
# one folder of the same name with the binary, LICENSE, README.md, completions/ (bash, zsh, fish,
# PowerShell, elvish), kubectl_complete-kfpatch (kubectl's plugin completion) and man/man1/. Each
# archive gets a .sha256 file in `sha256sum` format. Linux binaries are fully static: the gnu target
# with crt-static (no libc, libgcc_s or libz at run time), which the release workflow builds; a musl
# TARGET also works when given, with its standard library and a musl C compiler (libz-sys compiles
# zlib from C): without them the script says what to install and exits 2.
#
# The archives are published at REPOSITORY/releases/download/vVERSION/ (REPOSITORY and VERSION
# from Cargo.toml); KFPATCH_RELEASE_URL overrides that folder for a test server.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

die() { printf 'dist/release.sh: %s\n' "$*" >&2; exit 1; }
# What the machine lacks for the TARGET asked for: nothing was built.
cannot_build() { printf 'dist/release.sh: %s\n' "$*" >&2; exit 2; }

# `key = "value"` of [package] (awk: BSD sed on macOS runners reads scripts differently).
package_field() {
  awk -F ' = ' -v key="$1" '/^\[/ && $0 != "[package]" { exit } $1 == key { gsub(/"/, "", $2); print $2; exit }' Cargo.toml
}
version=$(package_field version)
repository=$(package_field repository)
if [ -z "$version" ] || [ -z "$repository" ]; then
  die "Cargo.toml has no package version or repository"
fi
tag="v$version"
out=${KFPATCH_DIST_DIR:-target/dist}
release_url=${KFPATCH_RELEASE_URL:-$repository/releases/download/$tag}

sha256() {
  if command -v sha256sum >/dev/null; then sha256sum "$@"; else shasum -a 256 "$@"; fi
}

# krew's and Go's names for a target triple's system and processor.
platform_of() {
  local os arch
  case "$1" in
    *-linux-*) os=linux ;;
    *-apple-darwin) os=darwin ;;
    *) die "no release platform for target $1 (Linux and macOS only)" ;;
  esac
  case "$1" in
    x86_64-*) arch=amd64 ;;
    aarch64-*) arch=arm64 ;;
    *) die "no release platform for target $1 (x86_64 and aarch64 only)" ;;
  esac
  echo "$os-$arch"
}

host_target() { "${RUSTC:-rustc}" -vV | sed -n 's/^host: //p'; }

# A musl target needs its standard library, and a C compiler for libz-sys's zlib: the cc crate runs
# ARCH-linux-musl-gcc (or musl-gcc for x86_64) unless CC_TARGET (with underscores) names one.
need_musl_toolchain() {
  local target=$1 arch=${1%%-*} cc_var instead
  cc_var="CC_${target//-/_}"
  instead="or build the release workflow's target: dist/release.sh $(host_target)"
  if [ ! -d "$("${RUSTC:-rustc}" --print sysroot)/lib/rustlib/$target/lib" ]; then
    cannot_build "the $target target is not installed: rustup target add $target; $instead"
  fi
  [ -z "${!cc_var:-}" ] || return 0
  command -v "$arch-linux-musl-gcc" >/dev/null && return 0
  if [ "$arch" = x86_64 ]; then
    command -v musl-gcc >/dev/null && return 0
    cannot_build "$target needs a musl C compiler (libz-sys compiles zlib): put x86_64-linux-musl-gcc or musl-gcc on PATH (Debian, Ubuntu: apt-get install musl-tools) or set $cc_var; $instead"
  fi
  cannot_build "$target needs a musl C compiler (libz-sys compiles zlib): put $arch-linux-musl-gcc (a musl cross toolchain) on PATH or set $cc_var; $instead"
}

# Runs the staged binary with ARGS, its stdout into FILE; a failure names the command.
generate() {
  local file=$1 err
  shift
  err=$(mktemp)
  if ! "$stage/kfpatch" "$@" >"$file" 2>"$err"; then
    die "\`kfpatch $*\` failed (the release needs the completion and man subcommands): $(cat "$err")"
  fi
  rm -f "$err"
  [ -s "$file" ] || die "\`kfpatch $*\` printed nothing"
}

build() {
  local target=$1 platform name stage bin
  platform=$(platform_of "$target")
  name="kfpatch-$tag-$platform"
  case "$target" in
    *-linux-musl) need_musl_toolchain "$target" ;;
  esac
  case "$target" in
    # crt-static applies to the target only when --target is given, so build scripts and proc
    # macros stay dynamic (they cannot be static on gnu).
    *-linux-gnu) export RUSTFLAGS="${RUSTFLAGS:-} -C target-feature=+crt-static" ;;
  esac
  echo "building $target ($platform)" >&2
  cargo build --release --locked --target "$target"
  bin="target/$target/release/kfpatch"

  if [ "${target#*-linux-}" != "$target" ]; then
    # ldd exits 1 on a static binary; its words are the check.
    local linkage
    linkage=$(ldd "$bin" 2>&1 || true)
    case "$linkage" in
      *"statically linked"*|*"not a dynamic executable"*) ;;
      *) die "$bin is not static: ldd says: $linkage" ;;
    esac
  fi

  stage="$out/stage/$name"
  rm -rf "$stage"
  mkdir -p "$stage/completions" "$stage/man/man1"
  cp "$bin" "$stage/kfpatch"
  cp LICENSE README.md "$stage/"

  # The completions and man pages come from the binary itself, so they always match its flags.
  generate "$stage/completions/kfpatch.bash" completion bash
  generate "$stage/completions/_kfpatch" completion zsh
  generate "$stage/completions/kfpatch.fish" completion fish
  generate "$stage/completions/_kfpatch.ps1" completion powershell
  generate "$stage/completions/kfpatch.elv" completion elvish
  generate "$stage/kubectl_complete-kfpatch" completion kubectl-plugin
  chmod 755 "$stage/kubectl_complete-kfpatch"
  # The pages' date is the commit's, as the archive's times are.
  local err epoch
  epoch=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || echo 0)}
  err=$(mktemp)
  SOURCE_DATE_EPOCH=$epoch "$stage/kfpatch" man --output-dir "$stage/man/man1" >/dev/null 2>"$err" \
    || die "\`kfpatch man --output-dir DIR\` failed (the release needs the man subcommand): $(cat "$err")"
  rm -f "$err"
  [ -s "$stage/man/man1/kfpatch.1" ] || die "\`kfpatch man\` wrote no kfpatch.1"

  # Same bytes for the same inputs: sorted names, no owners, the commit's time.
  if tar --version 2>/dev/null | grep -q 'GNU tar'; then
    tar -C "$out/stage" --sort=name --owner=0 --group=0 --numeric-owner --mtime="@$epoch" \
      -cf - "$name" | gzip -n -9 >"$out/$name.tar.gz"
  else
    tar -C "$out/stage" -cf - "$name" | gzip -n -9 >"$out/$name.tar.gz"
  fi
  rm -rf "$stage"
  (cd "$out" && sha256 "$name.tar.gz" >"$name.tar.gz.sha256")
  echo "$out/$name.tar.gz" >&2
}

# One krew platform entry per archive; krew links kubectl-kfpatch to `bin`.
manifest() {
  local archives=() archive name platform os arch sum
  shopt -s nullglob
  archives=("$out"/kfpatch-"$tag"-*.tar.gz)
  [ ${#archives[@]} -gt 0 ] || die "no kfpatch-$tag-*.tar.gz in $out: build them first"
  {
    cat <<EOF
apiVersion: krew.googlecontainertools.github.com/v1alpha2
kind: Plugin
metadata:
  name: kfpatch
spec:
  version: $tag
  homepage: $repository
  shortDescription: Switch Kubeflow Pipelines multi-user mode
  description: |
    Switches Kubeflow Pipelines multi-user mode in a kubeflow/manifests or kubeflow/pipelines
    checkout, together with every setting that must change with it, editing only the bytes that
    must change and showing the diff. Audits a checkout for settings that break runs, renders what
    the cluster would get, and reinstalls it.
  caveats: |
    Turning multi-user mode off removes isolation between profiles: every user sees every run.
    Shell completion for \`kubectl kfpatch\` needs kubectl_complete-kfpatch on PATH (kubectl 1.26
    or later); it is in the release archive at $repository/releases.
  platforms:
EOF
    for archive in "${archives[@]}"; do
      name=$(basename "$archive" .tar.gz)
      platform=${name#kfpatch-"$tag"-}
      os=${platform%-*}
      arch=${platform#*-}
      [ -s "$archive.sha256" ] || die "$archive.sha256 is missing"
      sum=$(cut -d ' ' -f 1 "$archive.sha256")
      cat <<EOF
  - selector:
      matchLabels:
        os: $os
        arch: $arch
    uri: $release_url/$name.tar.gz
    sha256: $sum
    files:
    - from: $name/kfpatch
      to: .
    - from: $name/LICENSE
      to: .
    bin: kfpatch
EOF
    done
  } >"$out/kfpatch.yaml"
  echo "$out/kfpatch.yaml" >&2
}

mkdir -p "$out"
case "${1:-}" in
  manifest) [ $# -eq 1 ] || die "usage: dist/release.sh manifest"; manifest ;;
  -*) die "usage: dist/release.sh [TARGET] | dist/release.sh manifest" ;;
  *) [ $# -le 1 ] || die "usage: dist/release.sh [TARGET] | dist/release.sh manifest"
     build "${1:-$(host_target)}" ;;
esac
