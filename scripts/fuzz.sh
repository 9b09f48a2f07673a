#!/usr/bin/env bash
# Fuzzes the invokeguard engine with cargo-fuzz (libFuzzer).
#
#   scripts/fuzz.sh [SECONDS_PER_TARGET]     (default 60; CI uses a small number such as 20)
#
# Installs what it needs when missing (a nightly toolchain, cargo-fuzz at a pinned version),
# builds every target once, seeds fuzz/corpus/TARGET/ from tests/fixtures, then runs each
# target for SECONDS_PER_TARGET with one job. Prints run time, executions and exec/s per
# target. Exits non-zero on any crash, leak, timeout or OOM, and prints the artifact path:
# copy that file into tests/fixtures/fuzz/TARGET/ to make it a regression test
# (tests/fuzz_regressions.rs replays that directory on stable Rust).
#
# Environment: FUZZ_TARGETS (space-separated subset), FUZZ_SANITIZER (default none: the
# crate forbids unsafe code, so ASan mostly costs speed; use "address" for a deeper run).
set -euo pipefail

CARGO_FUZZ_VERSION=0.13.2
SECONDS_PER_TARGET="${1:-60}"
SANITIZER="${FUZZ_SANITIZER:-none}"
read -r -a TARGETS <<<"${FUZZ_TARGETS:-record_parser policies_loader policy_planner}"

case "$SECONDS_PER_TARGET" in
  '' | *[!0-9]*) echo "usage: $0 [SECONDS_PER_TARGET]" >&2; exit 2 ;;
esac

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
FUZZ="$ROOT/fuzz"
script_start=$SECONDS

# --- tools ---------------------------------------------------------------------------------
export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"
if ! rustup run nightly rustc --version >/dev/null 2>&1; then
  echo "fuzz: installing the nightly toolchain (cargo-fuzz needs -Z flags)"
  rustup toolchain install nightly --profile minimal
fi
if [ "$(cargo fuzz --version 2>/dev/null || true)" != "cargo-fuzz $CARGO_FUZZ_VERSION" ]; then
  echo "fuzz: installing cargo-fuzz $CARGO_FUZZ_VERSION"
  cargo install cargo-fuzz --locked --version "$CARGO_FUZZ_VERSION"
fi
echo "fuzz: $(rustup run nightly rustc --version), $(cargo fuzz --version)"

# --- build all targets once ----------------------------------------------------------------
# Same flags for build and run, or `cargo fuzz run` rebuilds. --debug-assertions makes
# integer overflow in the library a crash, as it is in `cargo test`.
FUZZ_FLAGS=(--sanitizer "$SANITIZER" --debug-assertions)
build_start=$SECONDS
(cd "$ROOT" && cargo +nightly fuzz build "${FUZZ_FLAGS[@]}")
echo "fuzz: built all targets in $((SECONDS - build_start)) s"

# --- seed corpora from the fixtures ----------------------------------------------------------
cd "$ROOT"
mapfile -t FIXTURES < <(find tests/fixtures -name '*.json' -not -path 'tests/fixtures/fuzz/*' | sort)
mapfile -t RESOURCE_POLICIES < <(find tests/fixtures -name 'getpolicy_*.json' -o -name 'policy_*.json' | sort)

seed() { # TARGET: fills fuzz/corpus/TARGET (kept between runs, gitignored)
  local target="$1" dir="$FUZZ/corpus/$1" f n=0
  mkdir -p "$dir"
  case "$target" in
    record_parser)
      for f in "${FIXTURES[@]}"; do
        cp "$f" "$dir/seed-$(basename "$f")"
        gzip -9nc "$f" >"$dir/seed-$(basename "$f").gz"
      done ;;
    policies_loader)
      for f in policies/*.json "${FIXTURES[@]}"; do cp "$f" "$dir/seed-$(basename "$f")"; done ;;
    policy_planner)
      # The target's input: 2 bytes (big-endian split point), the policies text, the policy.
      for f in "${RESOURCE_POLICIES[@]}"; do
        n=$(wc -c <policies/invokers.json)
        { printf '%b' "\\x$(printf %02x $((n >> 8)))\\x$(printf %02x $((n & 255)))"
          cat policies/invokers.json "$f"; } >"$dir/seed-$(basename "$f")"
      done ;;
  esac
  # Regression inputs too, except the big ones (the 32 MiB gzip bomb, deep nesting): each
  # mutation of those costs a full decompression or parse and drops record_parser from
  # thousands of exec/s to hundreds; tests/fuzz_regressions.rs replays them anyway.
  if [ -d "tests/fixtures/fuzz/$target" ]; then
    for f in tests/fixtures/fuzz/"$target"/*; do
      [ -f "$f" ] && [ "$(wc -c <"$f")" -le 16384 ] && cp "$f" "$dir/regression-$(basename "$f")"
    done
  fi
  return 0
}

# --- run -----------------------------------------------------------------------------------
failed=()
summary=()
for target in "${TARGETS[@]}"; do
  seed "$target"
  mkdir -p "$FUZZ/artifacts/$target"
  log="$FUZZ/artifacts/$target/last-run.log"
  echo "fuzz: running $target for ${SECONDS_PER_TARGET}s (corpus: $(find "$FUZZ/corpus/$target" -type f | wc -l) files)"
  start=$SECONDS
  status=0
  # One in-process run, no -jobs/-workers: with -jobs=1 libFuzzer forks a child that logs to
  # ./fuzz-0.log and the parent's exit code does not reflect a crash.
  cargo +nightly fuzz run "${FUZZ_FLAGS[@]}" "$target" "$FUZZ/corpus/$target" -- \
    -max_total_time="$SECONDS_PER_TARGET" -rss_limit_mb=2048 -timeout=25 \
    -dict="$FUZZ/dict/json.dict" -print_final_stats=1 \
    >"$log" 2>&1 || status=$?
  elapsed=$((SECONDS - start))
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  cov=$(grep -oE 'cov: [0-9]+ ft: [0-9]+ corp: [0-9]+' "$log" | tail -1 || true)
  line="$target: ${elapsed}s, ${execs:-?} executions, ${rate:-?} exec/s${cov:+, $cov}"
  if [ "$status" -ne 0 ]; then
    artifact=$(grep -oE "(Test unit written to|artifact_prefix.*; Test unit written to) [^ ]+" "$log" \
      | awk '{print $NF}' | tail -1 || true)
    tail -n 40 "$log" >&2
    line="$line — FAILED (exit $status), artifact: ${artifact:-none, see $log}"
    failed+=("$target")
  fi
  echo "fuzz: $line"
  summary+=("$line")
done

echo
echo "fuzz summary (${SECONDS_PER_TARGET}s per target, sanitizer $SANITIZER, total wall time $((SECONDS - script_start)) s):"
printf '  %s\n' "${summary[@]}"
if [ "${#failed[@]}" -ne 0 ]; then
  echo "fuzz: FAILED: ${failed[*]} — copy each artifact into tests/fixtures/fuzz/TARGET/ and fix the bug" >&2
  exit 1
fi
echo "fuzz: no crash"
