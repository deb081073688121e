#!/usr/bin/env bash
# Runs the egress-proxy benchmark (benches/proxy.rs) and writes its results
# into docs/PERFORMANCE.md between <!-- proxy:begin --> / <!-- proxy:end -->.
#
#   benches/proxy.sh             # measure, rewrite the doc
#   benches/proxy.sh --check     # … and exit 1 when the paced ratio is below 0.95
#   NO_DOC=1 benches/proxy.sh    # print only
#   BENCH_MB=100 BENCH_ROUNDS=9 BENCH_LINK_MBPS=100 benches/proxy.sh
#
# Needs curl. The first run builds the bench profile (several minutes).
set -euo pipefail
cd "$(dirname "$0")/.."
command -v curl >/dev/null || { echo "proxy.sh: curl is needed" >&2; exit 2; }
export PKGWARD_REPO="$PWD"
doc=(--write-doc)
[ -n "${NO_DOC:-}" ] && doc=()
exec cargo bench --bench proxy -- "${doc[@]}" "$@"
