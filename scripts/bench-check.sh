#!/usr/bin/env bash
# Hunting through history: `invokeguard check` (release build) over a directory tree of gzip
# trail files, next to DuckDB `read_json` over the same files, in the same run. Both count the
# Lambda Invoke records per function and caller; the counts must agree. Not run in CI.
#
#   scripts/bench-check.sh [UNCOMPRESSED_BYTES]     (default 1.1e9; the corpus is kept for reuse)
#
# The corpus (examples/gen_trail_corpus.rs) and outputs go to target/bench-check/.
# DuckDB is the pinned one of the project's venv (.venv, scripts/requirements.txt).
set -euo pipefail
cd "$(dirname "$0")/.."

size="${1:-1.1e9}"
work="target/bench-check"
corpus="$work/corpus-$size"
py=".venv/bin/python"

if ! "$py" -c 'import duckdb' 2>/dev/null; then
    scripts/bootstrap.sh python
fi

cargo build --release --quiet --bin invokeguard --example gen_trail_corpus
bin="target/release/invokeguard"

if [ ! -f "$corpus/policies.json" ] || [ ! -d "$corpus/AWSLogs" ]; then
    rm -rf "$corpus"
    echo "generating $corpus ..."
    target/release/examples/gen_trail_corpus "$corpus" "$size"
fi

files=$(find "$corpus/AWSLogs" -path '*/CloudTrail/*' -name '*.json.gz' | wc -l)
gz_bytes=$(find "$corpus/AWSLogs" -path '*/CloudTrail/*' -name '*.json.gz' -printf '%s\n' | awk '{s+=$1} END {print s}')
# Uncompressed size: gzip's trailer holds it (mod 2^32; every file is far below 4 GiB).
json_bytes=$(find "$corpus/AWSLogs" -path '*/CloudTrail/*' -name '*.json.gz' -print0 \
    | xargs -0 gzip -l | awk 'NR>1 && $1 ~ /^[0-9]+$/ && $4 != "(totals)" {s+=$2} END {print s}')
echo "corpus: $files trail files, $((gz_bytes / 1000000)) MB gzip, $((json_bytes / 1000000)) MB JSON; $(nproc) CPUs"

# Same page-cache state for both: read everything once.
cat $(find "$corpus/AWSLogs" -name '*.json.gz') >/dev/null

now() { date +%s.%N; }

echo "--- invokeguard check --json --policies $corpus/policies.json $corpus  > $work/verdicts.jsonl"
t0=$(now)
set +e
"$bin" check --json --policies "$corpus/policies.json" "$corpus" >"$work/verdicts.jsonl" 2>"$work/check.stderr"
code=$?
set -e
t1=$(now)
[ "$code" -le 1 ] || { cat "$work/check.stderr"; echo "check failed with exit code $code"; exit 1; }
ig_secs=$(echo "$t1 - $t0" | bc -l)

WORK="$work" CORPUS="$corpus" IG_SECS="$ig_secs" JSON_BYTES="$json_bytes" "$py" - <<'EOF'
import os, sys, time
import duckdb

work, corpus = os.environ["WORK"], os.environ["CORPUS"]
ig_secs, json_bytes = float(os.environ["IG_SECS"]), int(os.environ["JSON_BYTES"])
con = duckdb.connect()
con.execute("SET threads TO %d" % os.cpu_count())

# DuckDB: the Invoke records per function and caller, straight from the gzip trail files.
# DuckDB's fastest form measured here: its own schema detection over whole files
# ('unstructured'); giving the columns explicitly or format 'auto' was 2-5x slower (DuckDB 2.0.1).
per_caller = f"""
WITH files AS (
  SELECT Records FROM read_json('{corpus}/AWSLogs/*/CloudTrail/*/*/*/*/*.json.gz',
      format = 'unstructured', maximum_object_size = 268435456)
), r AS (SELECT unnest(Records) AS r FROM files)
SELECT split_part(r.resources[1].ARN, ':', 7) AS function,
       CASE WHEN r.userIdentity."type" = 'AWSService' THEN r.userIdentity.invokedBy
            ELSE coalesce(r.userIdentity.sessionContext.sessionIssuer.arn, r.userIdentity.arn,
                          r.userIdentity.accountId) END AS caller,
       count(*) AS n,
       sum(count(*)) OVER () AS invokes
FROM r
WHERE r.eventSource = 'lambda.amazonaws.com' AND r.eventName = 'Invoke'
GROUP BY ALL
ORDER BY ALL
"""
t0 = time.perf_counter()
duck = con.execute(per_caller).fetchall()
duck_secs = time.perf_counter() - t0

# Not timed: what invokeguard said, counted the same way from its verdict lines. Every Invoke
# record's verdict has a reason other than not-lambda / not-invoke (the corpus has no
# InvokeFunctionUrl); the caller is the verdict's principal.
verdicts = f"{work}/verdicts.jsonl"
ig = con.execute(f"""
SELECT function, coalesce(caller.principal, caller.account) AS caller, count(*) AS n,
       sum(count(*)) OVER () AS invokes
FROM read_json('{verdicts}', format = 'newline_delimited',
    columns = {{'function': 'VARCHAR', 'reason': 'VARCHAR', 'verdict': 'VARCHAR',
               'caller': 'STRUCT(principal VARCHAR, account VARCHAR)'}})
WHERE reason NOT IN ('not-lambda', 'not-invoke')
GROUP BY ALL ORDER BY ALL
""").fetchall()
totals = con.execute(f"""
SELECT count(*), count(*) FILTER (WHERE verdict = 'violation')
FROM read_json('{verdicts}', format = 'newline_delimited', columns = {{'verdict': 'VARCHAR'}})
""").fetchone()
records, violations = totals

print(f"records: {records:,} ({violations:,} violations), Invoke records: {duck[0][3] if duck else 0:,} "
      f"in {len(duck)} function/caller pairs")
print(f"{'':12} {'wall s':>8} {'records/s':>12} {'MB JSON/s':>10}")
for name, secs in (("invokeguard", ig_secs), ("duckdb", duck_secs)):
    print(f"{name:12} {secs:8.2f} {records / secs:12,.0f} {json_bytes / secs / 1e6:10.0f}")
print(f"invokeguard / duckdb wall time: {ig_secs / duck_secs:.2f}")

strip = lambda rows: [(f, c, n) for f, c, n, _ in rows]
if strip(duck) != strip(ig):
    print("MISMATCH between DuckDB and invokeguard counts:", file=sys.stderr)
    d, i = set(strip(duck)), set(strip(ig))
    for row in sorted(d - i):
        print("  duckdb only:     ", row, file=sys.stderr)
    for row in sorted(i - d):
        print("  invokeguard only:", row, file=sys.stderr)
    sys.exit(1)
print(f"counts agree: {len(duck)} function/caller pairs, {duck[0][3]:,} Invoke records")
EOF
