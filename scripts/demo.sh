#!/usr/bin/env bash
# `make demo`: installs what it needs, then runs examples/demo.rs (moto on loopback, the real
# Lambda binary under a local Runtime API). No AWS account or credentials are used.
set -euo pipefail
cd "$(dirname "$0")/.."
echo "demo: 1/3 the Python tools (moto server) in .venv, once" >&2
scripts/bootstrap.sh python
# Cargo's own progress stays on (no --quiet): the first build compiles the AWS SDK crates and
# takes minutes, and a silent screen for that long reads as a hang.
echo "demo: 2/3 building the invokeguard-lambda binary and the demo driver (debug profile)." >&2
echo "demo:     the first time compiles about 270 crates (the AWS SDK among them): 5 to 20 minutes on 2 cores;" >&2
echo "demo:     later runs take seconds. Cargo shows its progress below." >&2
cargo build --bin invokeguard-lambda --example demo
echo "demo: 3/3 running the demo" >&2
INVOKEGUARD_LAMBDA_BIN=target/debug/invokeguard-lambda target/debug/examples/demo
