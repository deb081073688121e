#!/usr/bin/env bash
# Builds the release binary and runs the shim-overhead benchmark
# (benches/overhead.rs) and the registry-detection benchmark
# (benches/detection.rs), writing their results into docs/PERFORMANCE.md
# between the <!-- overhead:… --> and <!-- detection:… --> markers.
#
#   benches/run.sh               # build, measure, rewrite the doc
#   benches/run.sh --check       # … and exit 1 when a goal is missed
#   BENCH_RUNS=300 BENCH_NPM_RUNS=10 benches/run.sh   # fewer runs (faster, noisier)
#   NO_DOC=1 benches/run.sh      # print the table only
#
# The measuring takes about a minute on a 2-core machine (the first run also
# builds the bench profile: several minutes). Run it on a quiet
# machine: every other busy process inflates the numbers (the bench warns).
set -euo pipefail
cd "$(dirname "$0")/.."

# The binary as it ships (statically linked on Linux/glibc).
bin="$(sh installers/build-release.sh)"
[ -x "$bin" ] || { echo "run.sh: no $bin after the build" >&2; exit 2; }

# Measure exactly the release-profile binary, on a copy: `cargo bench` builds
# the bin target again under the bench profile (dev-dependencies unify
# features differently, so it is a separate build) and puts that build at the
# same path.
tmp="$(mktemp -d "${TMPDIR:-/tmp}/pkgward-bench-bin.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT
cp "$bin" "$tmp/pkgward"
export PKGWARD_BIN="$tmp/pkgward"
# The floor row: a do-nothing wrapper linked the same way.
BENCH_FLOOR_BIN="$(sh installers/build-release.sh --floor)"
export BENCH_FLOOR_BIN
export PKGWARD_REPO="$PWD"
export PKGWARD_BIN_LABEL="${bin#"$PWD"/}"

doc=(--write-doc)
[ -n "${NO_DOC:-}" ] && doc=()
status=0
cargo bench --bench overhead -- "${doc[@]}" "$@" || status=$?
# Registry detection (in process): docs/PERFORMANCE.md, <!-- detection:… -->.
cargo bench --bench detection -- "${doc[@]}" "$@" || status=$?
# Put the release build back at target/release/pkgward (a relink, no rebuild).
cargo build --release --bin pkgward --quiet
exit "$status"
