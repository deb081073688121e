#!/bin/sh
# Puts pkgward in front of the package managers for the rest of a CI job.
#
#   installers/ci/setup.sh [--binary PATH | --source DIR] [--policy PATH|URL]
#                          [--policy-sha256 HEX] [--prefix DIR]
#
# GitHub Actions (used by action.yml): the shim directory is appended to
# $GITHUB_PATH and the variables to $GITHUB_ENV, so later steps see them.
# Anywhere else (GitLab CI, Jenkins…): `export` lines are printed for
# `eval "$(installers/ci/setup.sh …)"`.
#
# Nothing is downloaded but the policy URL you name (and, with --source,
# the crates cargo fetches from the runner's own registry configuration).
set -eu

me=pkgward-ci
die() {
    printf '%s: error: %s\n' "$me" "$*" >&2
    exit 1
}
note() { printf '%s: %s\n' "$me" "$*" >&2; }

binary='' source_dir='' policy='' policy_sha256=''
prefix="${RUNNER_TEMP:-${TMPDIR:-/tmp}}/pkgward"
while [ $# -gt 0 ]; do
    case "$1" in
        --binary) binary="${2:?--binary needs a path}"; shift 2 ;;
        --source) source_dir="${2:?--source needs a directory}"; shift 2 ;;
        --policy) policy="${2:?--policy needs a path or URL}"; shift 2 ;;
        --policy-sha256) policy_sha256="${2:?--policy-sha256 needs a digest}"; shift 2 ;;
        --prefix) prefix="${2:?--prefix needs a directory}"; shift 2 ;;
        -h | --help) sed -n '2,13p' "$0"; exit 0 ;;
        *) die "unknown option: $1 (see --help)" ;;
    esac
done

mkdir -p "$prefix/bin" "$prefix/state"
exe="$prefix/bin/pkgward"
if [ -n "$binary" ]; then
    [ -x "$binary" ] || die "--binary $binary is not an executable file"
    cp "$binary" "$exe.tmp" && mv "$exe.tmp" "$exe"
elif [ -n "$source_dir" ]; then
    [ -f "$source_dir/Cargo.toml" ] || die "--source $source_dir has no Cargo.toml"
    note "building pkgward from $source_dir"
    [ -f "$source_dir/installers/build-release.sh" ] || die "--source $source_dir has no installers/build-release.sh"
    built=$(sh "$source_dir/installers/build-release.sh" --quiet) ||
        die "building pkgward from $source_dir failed"
    cp "$built" "$exe.tmp" && mv "$exe.tmp" "$exe"
elif command -v pkgward >/dev/null 2>&1; then
    cp "$(command -v pkgward)" "$exe.tmp" && mv "$exe.tmp" "$exe"
else
    die "no pkgward: pass --binary PATH or --source DIR"
fi
"$exe" --version >/dev/null 2>&1 || die "$exe does not run"

"$exe" shims install --dir "$prefix/shims" >&2

policy_file=''
case "$policy" in
    '') ;;
    https://* | http://*)
        [ -n "$policy_sha256" ] || die "--policy URL needs --policy-sha256 (an unpinned download is never used)"
        policy_file="$prefix/policy.toml"
        curl -fsSL --proto '=https,http' --max-time 60 -o "$policy_file.tmp" "$policy" || die "cannot download $policy"
        got=$(sha256sum "$policy_file.tmp" | cut -d' ' -f1)
        [ "$got" = "$(printf '%s' "$policy_sha256" | tr 'A-F' 'a-f')" ] \
            || die "$policy has sha256 $got, not the pinned $policy_sha256"
        mv "$policy_file.tmp" "$policy_file"
        ;;
    *)
        [ -f "$policy" ] || die "--policy $policy: no such file"
        policy_file=$(cd "$(dirname "$policy")" && pwd)/$(basename "$policy")
        ;;
esac
if [ -n "$policy_file" ]; then
    "$exe" policy check "$policy_file" >&2 || die "the policy $policy_file is invalid"
fi

start=$(date -u +%s)
emit() { # NAME VALUE
    if [ -n "${GITHUB_ENV:-}" ]; then
        printf '%s=%s\n' "$1" "$2" >>"$GITHUB_ENV"
    else
        printf "export %s='%s'\n" "$1" "$(printf '%s' "$2" | sed "s/'/'\\\\''/g")"
    fi
}
emit PKGWARD_STATE_DIR "$prefix/state"
emit PKGWARD_SHIM_DIR "$prefix/shims"
emit PKGWARD_JOB_START "$start"
[ -n "$policy_file" ] && emit PKGWARD_POLICY "$policy_file"
if [ -n "${GITHUB_PATH:-}" ]; then
    # GitHub prepends each line of GITHUB_PATH to PATH for later steps.
    printf '%s\n%s\n' "$prefix/bin" "$prefix/shims" >>"$GITHUB_PATH"
else
    printf "export PATH='%s':'%s':\"\$PATH\"\n" "$prefix/shims" "$prefix/bin"
fi
note "shims in $prefix/shims are first on PATH from the next step on"
