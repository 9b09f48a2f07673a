#!/usr/bin/env bash
# Supply-chain checks: cargo-deny (advisories, licenses, bans, sources) on the Rust crates and
# npm audit on the CDK app. Installs cargo-deny at a pinned version when missing.
#
#   scripts/supply-chain.sh
#
# Fails on: a license, ban or source violation; a RustSec advisory; no RustSec advisory
# database at all; an npm high/critical finding not explained in
# scripts/supply-chain-exceptions.md.
#
# RustSec advisory database: the network copy (cargo-deny clones github.com/RustSec/advisory-db)
# when it can be fetched, else the offline snapshot at $RUSTSEC_ADVISORY_DB_SNAPSHOT (default:
# ../shared/rustsec-advisory-db next to the repository, or next to its main worktree or local
# origin; never a fixed folder of one machine), plain files that the script turns into
# a throwaway git repository for cargo-deny. The output names the database used and, for the
# snapshot, its commit and date: advisories published after that date are not checked. Neither
# available is a failure, never a skip.
#
# npm audit: an audit endpoint that refuses the request is a network limit, not a finding; that
# check is skipped with a SKIPPED line saying why, and the last line counts passed, skipped (named)
# and failed checks apart. Set SUPPLY_CHAIN_STRICT=1 to fail on skips too.
set -uo pipefail

CARGO_DENY_VERSION=0.20.2
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
EXCEPTIONS="$ROOT/scripts/supply-chain-exceptions.md"
export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"
start=$SECONDS
failed=()
skipped=()
skipped_names=()
passed=()
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
  if cargo deny --locked "${deny_global[@]}" --manifest-path "$manifest" --config "${deny_config:-$ROOT/deny.toml}" \
    check --hide-inclusion-graph "$@"; then
    echo "supply-chain: OK cargo deny $* ($name)"
    passed+=("cargo deny $* ($name)")
  else
    failed+=("cargo deny $* ($name)")
  fi
}

# Advisories need the RustSec database, which cargo-deny clones from GitHub. Probe it once; where
# GitHub is unreachable use the offline snapshot, found relative to the repository only:
# ../shared/rustsec-advisory-db beside this checkout, beside the main checkout when this one is a
# git worktree, or beside the origin a local clone was made from.
snapshot_tried=()
if [ -n "${RUSTSEC_ADVISORY_DB_SNAPSHOT:-}" ]; then
  snapshot_tried=("$RUSTSEC_ADVISORY_DB_SNAPSHOT")
else
  snapshot_tried=("$ROOT/../shared/rustsec-advisory-db")
  common="$(git -C "$ROOT" rev-parse --path-format=absolute --git-common-dir 2>/dev/null || true)"
  [ -z "$common" ] || snapshot_tried+=("$(dirname "$common")/../shared/rustsec-advisory-db")
  origin="$(git -C "$ROOT" remote get-url origin 2>/dev/null || true)"
  case "$origin" in
    /* | file://*) origin="${origin#file://}"; snapshot_tried+=("${origin%/}/../shared/rustsec-advisory-db") ;;
  esac
fi
# Each folder once, by its canonical path (the checkout and the main worktree may share it).
mapfile -t snapshot_tried < <(for c in "${snapshot_tried[@]}"; do realpath -m "$c"; done | awk '!seen[$0]++')
SNAPSHOT=""
for candidate in "${snapshot_tried[@]}"; do
  if [ -d "$candidate/crates" ]; then SNAPSHOT="$candidate"; break; fi
done
if [ -n "${RUSTSEC_ADVISORY_DB_SNAPSHOT:-}" ] && [ -z "$SNAPSHOT" ]; then
  # Asked for by name: a wrong path is a mistake to report whether or not the network answers.
  echo "supply-chain: ERROR: RUSTSEC_ADVISORY_DB_SNAPSHOT=$RUSTSEC_ADVISORY_DB_SNAPSHOT holds no advisory database (no crates/ folder in it)"
  failed+=("cargo deny advisories: RUSTSEC_ADVISORY_DB_SNAPSHOT=$RUSTSEC_ADVISORY_DB_SNAPSHOT holds no advisory database")
fi
db_dir="${CARGO_HOME:-$HOME/.cargo}/advisory-dbs"
advisory_db=""   # what the advisories were checked against, for the output and the summary
if cargo deny --locked --manifest-path "$ROOT/Cargo.toml" fetch db >"$work/fetch.log" 2>&1; then
  advisories=network
  # advisory-db-3157b0e258782691: cargo-deny's directory for the default URL.
  net_db="$db_dir/advisory-db-3157b0e258782691"
  advisory_db="network copy of github.com/RustSec/advisory-db, fetched now (commit $(git -C "$net_db" log -1 --format='%h, %cs' 2>/dev/null || echo unknown))"
else
  reason="$(grep -m1 -oiE '(could not resolve host|failed to connect|connection refused|timed out|unable to access)[^"]*' "$work/fetch.log" \
    || grep -m1 -iE 'error|failed' "$work/fetch.log" | cut -c1-160)"
  if [ -n "$SNAPSHOT" ]; then
    SNAPSHOT="$(cd "$SNAPSHOT" && pwd)"
    advisories=snapshot
    # The snapshot's identity: its own git history if it has one, else the note beside it
    # (<snapshot>.md: "... at commit <sha> (<date>) ...").
    if [ -e "$SNAPSHOT/.git" ] && snap_id="$(git -C "$SNAPSHOT" log -1 --format='%H %cs' 2>/dev/null)"; then
      snap_commit="${snap_id%% *}" snap_date="${snap_id##* }"
    else
      snap_id="$(tr '\n' ' ' <"$SNAPSHOT.md" 2>/dev/null | grep -m1 -oE 'commit [0-9a-f]{7,40} \([0-9]{4}-[0-9]{2}-[0-9]{2}\)')"
      snap_commit="$(cut -d' ' -f2 <<<"$snap_id")" snap_date="$(grep -oE '[0-9]{4}-[0-9]{2}-[0-9]{2}' <<<"$snap_id")"
    fi
    snap_commit="${snap_commit:-unknown}" snap_date="${snap_date:-unknown}"
    advisory_db="offline snapshot $SNAPSHOT (RustSec advisory-db commit ${snap_commit:0:7}, dated $snap_date; advisories published later are not checked)"
    echo "supply-chain: could not fetch the RustSec advisory DB ($reason); using the $advisory_db"
    if [ "$snap_date" = unknown ]; then
      echo "supply-chain: WARNING: the snapshot's commit and date are unknown (no git history in it, no $SNAPSHOT.md naming them)"
    elif age=$(( ($(date -u +%s) - $(date -u -d "$snap_date" +%s)) / 86400 )) && [ "$age" -gt 90 ]; then
      echo "supply-chain: WARNING: the snapshot is $age days old (cargo-deny's own limit for a database it may not update is 90 days)"
    fi
    # cargo-deny reads a database only as a git checkout under its db-path: copy the snapshot into
    # a fresh repository in the temporary directory (never over the network clone in $db_dir)
    # and point a copy of deny.toml at it. The commit carries the snapshot's date.
    snap_root="$work/advisory-dbs"
    snap_repo="$snap_root/advisory-db-3157b0e258782691"
    snap_time=""
    [ "$snap_date" = unknown ] || snap_time="${snap_date}T00:00:00Z"
    if { mkdir -p "$snap_repo" && cp -R "$SNAPSHOT/." "$snap_repo/" && rm -rf "$snap_repo/.git" \
      && git -C "$snap_repo" init -q -b main && git -C "$snap_repo" add -A \
      && env ${snap_time:+GIT_AUTHOR_DATE="$snap_time" GIT_COMMITTER_DATE="$snap_time"} git -C "$snap_repo" \
        -c user.name=supply-chain -c user.email=supply-chain@localhost -c commit.gpgsign=false \
        -c core.hooksPath=/dev/null commit -q -m "RustSec advisory-db snapshot $snap_commit ($snap_date)"; } >"$work/snapshot.log" 2>&1 \
      && grep -v '^ *db-path *=' "$ROOT/deny.toml" \
        | sed "s|^\[advisories\]\$|[advisories]\ndb-path = \"$snap_root\"|" >"$work/deny-snapshot.toml" \
      && grep -q "^db-path = \"$snap_root\"\$" "$work/deny-snapshot.toml"; then
      # With the snapshot cargo-deny runs --offline (no database fetch), which keeps cargo
      # offline too: download the locked crates first (the crate registry is reachable where GitHub is not).
      for manifest in "$ROOT/Cargo.toml" "$ROOT/fuzz/Cargo.toml"; do
        cargo fetch --locked --manifest-path "$manifest" >"$work/cargo-fetch.log" 2>&1 || cat "$work/cargo-fetch.log"
      done
    else
      cat "$work/snapshot.log"
      advisories=none
      echo "supply-chain: ERROR: could not set up the snapshot $SNAPSHOT as a git repository for cargo-deny"
      failed+=("cargo deny advisories: could not set up the snapshot $SNAPSHOT for cargo-deny (see above)")
    fi
  elif [ -n "${RUSTSEC_ADVISORY_DB_SNAPSHOT:-}" ]; then
    advisories=none # already reported: the snapshot asked for holds no database
  else
    advisories=none
    tried="$(printf '%s, ' "${snapshot_tried[@]}")"
    tried="${tried%, }"
    echo "supply-chain: ERROR: no RustSec advisory database: the network copy could not be fetched ($reason)" \
      "and no snapshot was found (looked in: $tried; set RUSTSEC_ADVISORY_DB_SNAPSHOT to an advisory-db checkout or copy)"
    failed+=("cargo deny advisories: no RustSec advisory database (network copy unreachable: $reason; no snapshot in $tried)")
  fi
fi

deny_global=()
deny invokeguard "$ROOT/Cargo.toml" licenses bans sources
deny invokeguard-fuzz "$ROOT/fuzz/Cargo.toml" licenses bans sources
case "$advisories" in
  network)
    deny invokeguard "$ROOT/Cargo.toml" advisories
    deny invokeguard-fuzz "$ROOT/fuzz/Cargo.toml" advisories
    ;;
  snapshot)
    deny_global=(--offline) deny_config="$work/deny-snapshot.toml"
    deny invokeguard "$ROOT/Cargo.toml" advisories
    deny invokeguard-fuzz "$ROOT/fuzz/Cargo.toml" advisories
    ;;
esac
[ -z "$advisory_db" ] || echo "supply-chain: RustSec advisories checked against the $advisory_db"

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
    skipped_names+=("$label")
  elif ! grep -q '^UNEXPLAINED 0$' <<<"$result"; then
    failed+=("$label: high/critical findings not explained in scripts/supply-chain-exceptions.md")
  else
    echo "supply-chain: OK $label"
    passed+=("$label")
  fi
done

# --- summary ---------------------------------------------------------------------------------
echo
echo "supply-chain summary ($((SECONDS - start)) s):"
[ -z "$advisory_db" ] || echo "  RustSec advisory DB: $advisory_db"
for s in "${skipped[@]}"; do echo "  SKIPPED $s"; done
for f in "${failed[@]}"; do echo "  FAILED  $f"; done
# The last line counts each kind apart: a skipped check is never folded into "passed".
line="supply-chain: ${#passed[@]} passed, ${#skipped[@]} skipped"
if [ "${#skipped_names[@]}" -ne 0 ]; then
  names="$(printf '%s; ' "${skipped_names[@]}")"
  line="$line (${names%; }: need network access to their databases)"
fi
line="$line, ${#failed[@]} failed"
if [ "${#failed[@]}" -ne 0 ]; then
  echo "$line"
  exit 1
fi
if [ "${#skipped[@]}" -ne 0 ] && [ "${SUPPLY_CHAIN_STRICT:-0}" = 1 ]; then
  echo "$line (SUPPLY_CHAIN_STRICT=1: a skip fails)"
  exit 1
fi
echo "$line"
exit 0
