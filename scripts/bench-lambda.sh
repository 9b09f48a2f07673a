#!/usr/bin/env bash
# Init time, peak RSS and handler round trip of the release invokeguard-lambda next to an empty
# lambda_runtime function built the same way, and AWS calls per remediation (against moto).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh python
cargo build --release --quiet --bin invokeguard-lambda --example empty_lambda
cargo run --quiet --example bench_lambda
