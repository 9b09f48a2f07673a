#!/usr/bin/env bash
# Every check and test of the project; `make test` and .ci/run call this.
set -euo pipefail
cd "$(dirname "$0")/.."

section() { printf '\n==> %s\n' "$*"; }

section "bootstrap: pinned Python tools (moto server) in .venv"
scripts/bootstrap.sh python

section "cargo fmt --check"
cargo fmt --check

section "cargo clippy --all-targets -D warnings"
cargo clippy --all-targets --locked -- -D warnings

section "cargo test (unit, cases, properties, CLI, moto, Lambda binary under a Runtime API)"
cargo test --locked

section "Athena saved queries: invokeguard athena-sql translated to DuckDB over fixture trail files (sqlglot; not Athena itself)"
cargo build --locked --quiet --bin invokeguard
.venv/bin/python scripts/athena-sql-test.py target/debug/invokeguard

section "CDK app: type-check, assertions, cdk-nag, offline synth with the arm64 build, cfn-lint"
scripts/cdk-test.sh

section "fuzzing: each target briefly (scripts/fuzz.sh; longer runs: scripts/fuzz.sh 600)"
scripts/fuzz.sh "${FUZZ_SECONDS:-20}"

section "supply chain: cargo deny, npm audit"
scripts/supply-chain.sh
