#!/usr/bin/env bash
# `make demo`: installs what it needs, then runs examples/demo.rs (moto on loopback, the real
# Lambda binary under a local Runtime API). No AWS account or credentials are used.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh python
echo "building the invokeguard-lambda binary (first time: a few minutes)" >&2
cargo build --quiet --bin invokeguard-lambda
INVOKEGUARD_LAMBDA_BIN=target/debug/invokeguard-lambda cargo run --quiet --example demo
