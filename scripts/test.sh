#!/usr/bin/env bash
# Every check and test of the project; `make test` and .ci/run call this.
set -euo pipefail
cd "$(dirname "$0")/.."

section() { printf '\n==> %s\n' "$*"; }

section "cargo fmt --check"
cargo fmt --check

section "cargo clippy --all-targets -D warnings"
cargo clippy --all-targets --locked -- -D warnings

section "cargo test (unit, table-driven cases, properties, CLI)"
cargo test --locked
