#!/usr/bin/env bash
# Installs everything the project needs beyond the Rust toolchain, pinned, idempotently:
# the Python venv (moto server, cargo-lambda with zig, cfn-lint, LocalStack's rule engine) and the arm64 rustup target.
# Usage: scripts/bootstrap.sh [python|rust-targets|all]   (default all)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
what=${1:-all}

python_tools() {
  local venv="$root/.venv" stamp="$root/.venv/.requirements.sha"
  # Both lists make the stamp: a venv made before either changed is brought up to date.
  local want; want=$(cat "$root/scripts/requirements.txt" "$root/scripts/requirements-nodeps.txt" | sha256sum | cut -d' ' -f1)
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then return 0; fi
  echo "bootstrap: installing Python tools into .venv" >&2
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$root/scripts/requirements.txt"
  # Used for one file each; their own dependencies (LocalStack's server) are never imported.
  "$venv/bin/pip" install --quiet --disable-pip-version-check --no-deps -r "$root/scripts/requirements-nodeps.txt"
  echo "$want" > "$stamp"
}

rust_targets() {
  rustup target list --installed 2>/dev/null | grep -qx aarch64-unknown-linux-gnu \
    || rustup target add aarch64-unknown-linux-gnu
}

case "$what" in
  python) python_tools ;;
  rust-targets) rust_targets ;;
  all) python_tools; rust_targets ;;
  *) echo "bootstrap: unknown part '$what' (python|rust-targets|all)" >&2; exit 2 ;;
esac
