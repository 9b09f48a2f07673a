#!/usr/bin/env bash
# Tests the CDK package and app end to end, without credentials: tools, locked npm install, type-check, unit tests,
# the consumer test (the packed package in an app of its own), then the real synth (Rust validator, the arm64
# cargo-lambda release build the app packages, cdk-nag) and cfn-lint.
# Usage: scripts/cdk-test.sh        (non-interactive; exits non-zero on the first failure)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cdk="$root/cdk"
started=$SECONDS

section() { printf '\n==== cdk-test: %s ====\n' "$*"; section_started=$SECONDS; }
done_in() { printf -- '---- %s: ok (%ss)\n' "$1" "$((SECONDS - section_started))"; }
trap 'rc=$?; [ $rc -eq 0 ] || printf "\n==== cdk-test: FAILED (exit %s) after %ss ====\n" "$rc" "$((SECONDS - started))" >&2' EXIT

# Never prompt, never reach anything but the package registries, never look for credentials.
export CI=true CDK_DISABLE_VERSION_CHECK=1 CDK_DISABLE_CLI_TELEMETRY=true AWS_EC2_METADATA_DISABLED=true
export npm_config_update_notifier=false npm_config_fund=false npm_config_audit=false
unset INVOKEGUARD_VALIDATOR INVOKEGUARD_ATHENA_SQL  # the real synth must run the Rust CLI, not a stand-in
target=${CARGO_TARGET_DIR:-$root/target}
case $target in /*) ;; *) target=$root/$target ;; esac

section "tools (scripts/bootstrap.sh)"
"$root/scripts/bootstrap.sh"
export PATH="$root/.venv/bin:$PATH"
cargo lambda --version
done_in tools

section "npm ci (cdk/)"
lock_sha=$(sha256sum "$cdk/package-lock.json" | cut -d' ' -f1)
stamp="$cdk/node_modules/.invokeguard-lock.sha"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$lock_sha" ]; then
  echo "node_modules matches package-lock.json; skipping npm ci"
else
  (cd "$cdk" && npm ci --no-fund --no-audit)
  echo "$lock_sha" > "$stamp"
fi
done_in "npm ci"

section "type-check (tsc --noEmit)"
(cd "$cdk" && ./node_modules/.bin/tsc --noEmit)
done_in type-check

section "Rust policies validator (cargo build --bin invokeguard)"
cargo build --quiet --manifest-path "$root/Cargo.toml" --bin invokeguard
done_in validator

section "unit tests (node:test + aws-cdk-lib/assertions, bundling skipped)"
# The event-pattern test runs scripts/event-patterns-test.py (LocalStack's rule engine from .venv, the CLI just built).
(cd "$cdk" && INVOKEGUARD_TEST_RUST_VALIDATOR=1 INVOKEGUARD_TEST_EVENT_PATTERNS=1 node --import tsx --test --test-reporter=spec test/*.test.ts)
done_in "unit tests"

section "consumer test (npm pack, installed into a fresh app outside cdk/, synthesized there)"
"$root/scripts/cdk-consumer-test.sh" "$target/debug/invokeguard"
done_in "consumer test"

section "arm64 release build of the guard (cargo lambda build)"
(cd "$root" && cargo lambda build --release --arm64 --bin invokeguard-lambda)
done_in "lambda build"

section "cdk synth (real app: Rust validator, the arm64 release bootstrap, cdk-nag)"
rm -rf "$cdk/cdk.out"
(cd "$cdk" && ./node_modules/.bin/cdk synth --no-notices --no-version-reporting -q -o cdk.out)
template="$cdk/cdk.out/Invokeguard.template.json"
test -s "$template" || { echo "cdk-test: synth wrote no $template" >&2; exit 1; }
asset=$(ls -d "$cdk"/cdk.out/asset.*/ | head -n 1)
for f in bootstrap invokers.json; do
  test -s "$asset/$f" || { echo "cdk-test: the guard's asset lacks $f" >&2; exit 1; }
done
cmp "$asset/invokers.json" "$root/policies/invokers.json"
# ELF e_machine (offset 18, little-endian) is 0xb7 for aarch64.
[ "$(od -An -tx1 -j18 -N2 "$asset/bootstrap" | tr -d ' \n')" = b700 ] \
  || { echo "cdk-test: the guard's bootstrap is not an arm64 ELF binary" >&2; exit 1; }
done_in synth

section "event patterns (synthesized Invoke rules against real records, LocalStack's rule engine)"
python3 "$root/scripts/event-patterns-test.py" --invokeguard "$target/debug/invokeguard" "$template"
done_in "event patterns"

section "cfn-lint (synthesized template)"
cfn-lint "$template"
done_in cfn-lint

printf '\n==== cdk-test: all passed in %ss ====\n' "$((SECONDS - started))"
