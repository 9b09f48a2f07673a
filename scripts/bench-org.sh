#!/usr/bin/env bash
# A hub guard's scheduled sweep of a simulated AWS Organization in moto.
#
# Default: the in-process sweep (20 accounts x 50 functions, every 10th drifted): AWS calls
# against the minimum, per-account request rates, wall time against the per-account budget's
# floor, peak RSS, credential refreshes, a second sweep on the warm process, a read-back check,
# and an extrapolation to 100 x 100.
#   scripts/bench-org.sh --accounts 40 --functions 50 --second-sweep 0
#
# --fan-out: the sweep planned into an SQS FIFO queue and consumed by --consumers copies of the
# Lambda (200 accounts x 20 functions, 20 consumers): drain time, each pair's sweep time, rates,
# peak RSS, a read-back check, and an extrapolation to 1,000 x 100 with its limits.
#   scripts/bench-org.sh --fan-out --consumers 20
set -euo pipefail
cd "$(dirname "$0")/.."
example=bench_org
if [ "${1:-}" = "--fan-out" ]; then
  example=bench_fanout
  shift
fi
scripts/bootstrap.sh python
cargo build --release --quiet --bin invokeguard-lambda
cargo run --quiet --example "$example" -- "$@"
