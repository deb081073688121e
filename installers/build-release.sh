#!/bin/sh
# Builds pkgward's release binary the way it ships, and prints its path.
#
#   installers/build-release.sh            # from anywhere; builds the tree it lives in
#   CARGO_TARGET_DIR=/tmp/t installers/build-release.sh
#
# On Linux the binary is linked statically. A shim is a process started in
# front of every package-manager call, and most of what it costs is starting
# a process: a static binary skips the dynamic loader (opening and mapping
# libc and libgcc_s, relocating against them), which docs/PERFORMANCE.md
# measures at roughly a third of the shim's overhead.
#
# - With the musl target installed (`rustup target add
#   x86_64-unknown-linux-musl`, same for aarch64) and a musl C compiler
#   (Debian's musl-tools), it is a musl binary: musl's start-up does no CPU
#   feature probing (on virtual machines glibc's dozens of trapping CPUID
#   instructions per process start are a large part of what remains).
#   User names come from the environment, then /etc/passwd (musl has no
#   NSS modules: a directory-service user without a passwd line is
#   recorded by uid).
# - Otherwise, with glibc, a static-pie glibc binary (`-C
#   target-feature=+crt-static`). Names (users, hosts) are still looked up
#   through glibc's built-in `files` and `dns` sources; NSS modules beyond
#   those (sssd, LDAP) are loaded at run time from the glibc the binary was
#   built against, so build on the machine (or image) that runs it, as the
#   installer and the Dockerfile do.
#
# Elsewhere (macOS, Windows) it is a plain `cargo build --release`.
# `PKGWARD_LIBC=glibc` forces the glibc build, `PKGWARD_DYNAMIC=1` turns
# the static link off. Extra cargo arguments are passed through.
# `--floor` builds the overhead benchmark's do-nothing wrapper
# (benches/floor/wrapper.rs) the same way instead, and prints its path. Progress
# goes to stderr; stdout is only the path.
set -eu

floor=0
if [ "${1:-}" = --floor ]; then
    floor=1
    shift
fi

repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"

host=$(rustc -vV | sed -n 's/^host: //p')
[ -n "$host" ] || { echo "build-release.sh: cannot tell rustc's host target" >&2; exit 2; }

target_dir=${CARGO_TARGET_DIR:-}
if [ -z "$target_dir" ]; then
    target_dir=$(cargo metadata --format-version 1 --no-deps 2>/dev/null |
        sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p') || target_dir=''
    [ -n "$target_dir" ] || target_dir=$repo/target
fi

musl=
case "$host:${PKGWARD_DYNAMIC:-}:${PKGWARD_LIBC:-}" in
x86_64-*-linux-gnu::musl | aarch64-*-linux-gnu::musl | x86_64-*-linux-gnu:: | aarch64-*-linux-gnu::)
    arch=${host%%-*}
    musl_target=$arch-unknown-linux-musl
    if rustup target list --installed 2>/dev/null | grep -qx "$musl_target" &&
        { command -v "$arch-linux-musl-gcc" || command -v musl-gcc; } >/dev/null 2>&1; then
        musl=$musl_target
    elif [ "${PKGWARD_LIBC:-}" = musl ]; then
        echo "build-release.sh: PKGWARD_LIBC=musl, but the $musl_target target or a musl C compiler is missing" >&2
        exit 2
    fi
    ;;
esac
# The target triple (empty: the host's default build) and the flags that
# make the link static.
triple= static=
if [ -n "$musl" ]; then
    triple=$musl
else
    case "$host:${PKGWARD_DYNAMIC:-}" in
    *-linux-gnu:)
        # An explicit --target keeps the flag off build scripts and proc macros
        # (they are loaded by the compiler and cannot be static).
        triple=$host static="-C target-feature=+crt-static"
        ;;
    esac
fi

if [ "$floor" = 1 ]; then
    # The benchmark floor (benches/floor/wrapper.rs), linked like pkgward.
    out=$target_dir/floor/${triple:-host}
    mkdir -p "$out"
    rustc --edition 2021 -C opt-level=3 -C panic=abort -C strip=symbols \
        ${triple:+--target "$triple"} ${static:+$static} \
        "$repo/benches/floor/wrapper.rs" -o "$out/floor" >&2
    bin=$out/floor
elif [ -n "$triple" ]; then
    RUSTFLAGS="${RUSTFLAGS:-} ${static}" \
        cargo build --release --locked --bin pkgward --target "$triple" "$@" >&2
    bin=$target_dir/$triple/release/pkgward
else
    cargo build --release --locked --bin pkgward "$@" >&2
    bin=$target_dir/release/pkgward
fi
[ -x "$bin" ] || { echo "build-release.sh: the build succeeded but $bin is missing" >&2; exit 2; }
printf '%s\n' "$bin"
