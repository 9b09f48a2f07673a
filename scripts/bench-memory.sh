#!/usr/bin/env bash
# Peak RSS on hostile trail files (refused-Invoke flood, a 160 MB record, a 125 MB uncompressed
# object, a gzip bomb of tiny records): the Lambda under a local Runtime API against moto's S3,
# and `invokeguard check`. PROFILE=debug measures the debug build (faster to build, slower to run);
# BENCH_ONLY=refused,big-record,plain-125mb,bomb picks files.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh python
profile="${PROFILE:-release}"
if [ "$profile" = release ]; then
  cargo build --release --quiet --bins
else
  cargo build --quiet --bins
fi
PROFILE="$profile" cargo run --quiet --example bench_memory
