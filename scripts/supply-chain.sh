#!/usr/bin/env bash
# Supply-chain checks: cargo-deny (advisories, licenses, bans, sources) on the Rust crates and
# npm audit on the CDK app. Installs cargo-deny at a pinned version when missing.
#
#   scripts/supply-chain.sh
#
# Fails on: a license, ban or source violation; a RustSec advisory; an npm high/critical
# finding not explained in scripts/supply-chain-exceptions.md. A check that cannot reach its
# database (no route to GitHub for the RustSec DB, an npm audit endpoint that refuses the
# request) is skipped with a SKIPPED line saying why, not failed: that is a network limit,
# not a finding. Set SUPPLY_CHAIN_STRICT=1 to fail on skips too.
set -uo pipefail

CARGO_DENY_VERSION=0.20.2
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
EXCEPTIONS="$ROOT/scripts/supply-chain-exceptions.md"
export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"
start=$SECONDS
failed=()
skipped=()
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

if [ "$(cargo deny --version 2>/dev/null || true)" != "cargo-deny $CARGO_DENY_VERSION" ]; then
  echo "supply-chain: installing cargo-deny $CARGO_DENY_VERSION"
  cargo install cargo-deny --locked --version "$CARGO_DENY_VERSION" || exit 1
fi

# --- cargo deny ------------------------------------------------------------------------------
# The root crate and the fuzz crate (its own workspace and lockfile), one policy: deny.toml.
deny() { # NAME MANIFEST CHECKS...
  local name="$1" manifest="$2"
  shift 2
  echo "supply-chain: cargo deny check $* ($name)"
  if cargo deny --locked "${deny_global[@]}" --manifest-path "$manifest" --config "$ROOT/deny.toml" \
    check --hide-inclusion-graph "$@"; then
    echo "supply-chain: OK cargo deny $* ($name)"
  else
    failed+=("cargo deny $* ($name)")
  fi
}

# Advisories need the RustSec database, which cargo-deny clones from GitHub. Probe it once.
advisories=yes
if ! cargo deny --locked --manifest-path "$ROOT/Cargo.toml" fetch db >"$work/fetch.log" 2>&1; then
  db_dir="${CARGO_HOME:-$HOME/.cargo}/advisory-dbs"
  reason="$(grep -m1 -oiE '(could not resolve host|failed to connect|connection refused|timed out|unable to access)[^"]*' "$work/fetch.log" \
    || grep -m1 -iE 'error|failed' "$work/fetch.log" | cut -c1-160)"
  db_git="$(find "$db_dir" -mindepth 2 -maxdepth 2 -name .git 2>/dev/null | head -1)"
  if [ -n "$db_git" ]; then
    advisories=stale
    echo "supply-chain: WARNING: could not update the RustSec advisory DB ($reason);" \
      "checking advisories against the copy in ${db_git%/.git} (last commit" \
      "$(git -C "${db_git%/.git}" log -1 --format=%cs 2>/dev/null || echo unknown))"
  else
    advisories=no
    skipped+=("cargo deny advisories: the RustSec advisory DB could not be fetched from GitHub ($reason) and no local copy exists")
  fi
fi

deny_global=()
case "$advisories" in
  yes) deny_checks=(advisories licenses bans sources) ;;
  stale) deny_checks=(advisories licenses bans sources) deny_global=(--offline) ;;
  no) deny_checks=(licenses bans sources) ;;
esac
deny invokeguard "$ROOT/Cargo.toml" "${deny_checks[@]}"
deny invokeguard-fuzz "$ROOT/fuzz/Cargo.toml" "${deny_checks[@]}"

# --- npm audit (CDK app) ---------------------------------------------------------------------
# Exceptions: every advisory id (GHSA-...) listed in the exceptions file is explained there
# (only table rows that start with the id count).
mapfile -t excepted < <(grep -oE '^\| *GHSA(-[0-9a-z]{4}){3}' "$EXCEPTIONS" 2>/dev/null | grep -oE 'GHSA.*' | sort -u)

npm_audit() { # LABEL ARGS...
  local label="$1" out="$work/audit.json"
  shift
  (cd "$ROOT/cdk" && npm audit --json "$@" >"$out" 2>"$work/audit.err") || true
  # npm audit exits 1 both when it finds something and when the endpoint fails: the JSON says which.
  node - "$out" "$label" "${excepted[@]}" <<'JS'
const fs = require("fs");
const [file, label, ...excepted] = process.argv.slice(2);
let report;
try { report = JSON.parse(fs.readFileSync(file, "utf8")); } catch { report = null; }
if (!report || report.error || !report.metadata) {
  // npm writes its error as JSON too: {"message", "statusCode"} or {"error": {code, summary}}.
  const err = (report && report.error) || {};
  const why = !report ? "no report"
    : report.message || [err.code, err.summary].filter(Boolean).join(": ") || `HTTP ${report.statusCode}`;
  // URLs left out: the log names the endpoint's path, not the registry's host.
  console.log(`SKIP ${why.replace(/https?:\/\/[^/\s]+/g, "").replace(/\s+/g, " ").slice(0, 200)}`);
  process.exit(0);
}
const counts = report.metadata.vulnerabilities;
console.log(`COUNTS ${JSON.stringify(counts)}`);
let unexplained = 0;
for (const [name, v] of Object.entries(report.vulnerabilities || {})) {
  for (const via of v.via) {
    if (typeof via === "string") continue; // transitive: reported under its own package
    const id = (via.url || "").split("/").pop();
    const severe = via.severity === "high" || via.severity === "critical";
    const ok = excepted.includes(id);
    console.log(`FINDING ${via.severity} ${name} ${id} ${ok ? "(excepted)" : severe ? "(UNEXPLAINED)" : "(below high: reported only)"} ${via.title}`);
    if (severe && !ok) unexplained++;
  }
}
console.log(`UNEXPLAINED ${unexplained}`);
JS
}

for mode in "--omit=dev" ""; do
  label="npm audit ${mode:-(all dependencies)}"
  echo "supply-chain: $label (cdk/)"
  result="$(npm_audit "$label" $mode)"
  while IFS= read -r l; do echo "  $l"; done <<<"$result"
  if grep -q '^SKIP' <<<"$result"; then
    skipped+=("$label: the audit endpoint did not answer ($(sed -n 's/^SKIP //p' <<<"$result"))")
  elif ! grep -q '^UNEXPLAINED 0$' <<<"$result"; then
    failed+=("$label: high/critical findings not explained in scripts/supply-chain-exceptions.md")
  else
    echo "supply-chain: OK $label"
  fi
done

# --- summary ---------------------------------------------------------------------------------
echo
echo "supply-chain summary ($((SECONDS - start)) s):"
for s in "${skipped[@]}"; do echo "  SKIPPED $s"; done
for f in "${failed[@]}"; do echo "  FAILED  $f"; done
[ "${#failed[@]}" -eq 0 ] && [ "${#skipped[@]}" -eq 0 ] && echo "  every check ran and passed"
if [ "${#failed[@]}" -ne 0 ]; then exit 1; fi
if [ "${#skipped[@]}" -ne 0 ] && [ "${SUPPLY_CHAIN_STRICT:-0}" = 1 ]; then exit 1; fi
[ "${#skipped[@]}" -eq 0 ] || echo "  the checks that ran passed; the skipped ones need network access to their databases"
exit 0
