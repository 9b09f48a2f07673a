#!/usr/bin/env bash
# A hub guard's scheduled sweep of a simulated AWS Organization in moto (default 20 accounts x 50
# functions, every 10th drifted): AWS calls against the minimum, per-account request rates, wall
# time against the per-account budget's floor, peak RSS, credential refreshes, a second sweep on
# the warm process, a read-back check, and an extrapolation to 100 x 100.
# Options pass through, e.g. scripts/bench-org.sh --accounts 40 --functions 50 --second-sweep 0
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh python
cargo build --release --quiet --bin invokeguard-lambda
cargo run --quiet --example bench_org -- "$@"
