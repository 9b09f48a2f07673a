#!/usr/bin/env python3
"""Offline test of the Athena saved queries: a TRANSLATION test, not Athena itself.

What it does: runs the real `invokeguard athena-sql` binary for each saved query over a policies
fixture (tests/fixtures/athena/policies.json), parses that SQL as Athena (Trino) SQL with sqlglot,
translates it to DuckDB (`read="athena"`, `write="duckdb"`), and runs it in DuckDB over a table with
the columns and types of AWS's documented CloudTrail DDL
(tests/fixtures/athena_cloudtrail_partition_projection_ddl_awsdocs_2023.sql), loaded from gzip trail
log files (`{"Records": [...]}`) under tests/fixtures/athena/AWSLogs/... . It then asserts the exact
rows, and for the outside-the-allowlist query also that they are what the guard's own verdicts
(`invokeguard check` on the same files) count as violations.

What it does not prove: that Athena returns the same. Trino and DuckDB differ in places (functions,
NULL handling, regex engines) and sqlglot bridges them; the generated SQL avoids the known gaps
(`nullif(regexp_extract(...), '')`, `element_at`, `split_part` + `nullif`), but only running it in
Athena proves it there. The loader maps CloudTrail's JSON keys onto the DDL's columns
case-insensitively, as Athena's JSON SerDe does (`sourceIPAddress` -> `sourceipaddress`,
`resources[].ARN` -> `arn`), because DuckDB's JSON keys are case-sensitive; JSON values of string
columns (`requestparameters`, `responseelements`, ...) are kept as JSON text, as the SerDe gives them.

Usage: .venv/bin/python scripts/athena-sql-test.py [PATH/TO/invokeguard]   (default target/debug/invokeguard)
"""

from __future__ import annotations

import collections
import gzip
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import duckdb
import sqlglot
from sqlglot import exp

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures"
DDL = FIXTURES / "athena_cloudtrail_partition_projection_ddl_awsdocs_2023.sql"
POLICIES = FIXTURES / "athena" / "policies.json"
TRAIL = FIXTURES / "athena" / "AWSLogs" / "111122223333" / "CloudTrail" / "eu-west-1"
HOME = ["--account", "111122223333", "--region", "eu-west-1"]
DATABASE, TABLE = "trail_db", "trail_logs"
BILLING = "arn:aws:lambda:eu-west-1:111122223333:function:Billing"


def ddl_columns() -> list[tuple[str, exp.DataType]]:
    """(name, type) of every column of AWS's CloudTrail DDL, the partition column last."""
    create = sqlglot.parse_one(DDL.read_text(), read="athena")
    cols = [(c.name, c.args["kind"]) for c in create.this.expressions if isinstance(c, exp.ColumnDef)]
    partitioned = create.find(exp.PartitionedByProperty)
    assert partitioned is not None, "the DDL has PARTITIONED BY"
    cols += [(c.name, c.args["kind"]) for c in partitioned.find_all(exp.ColumnDef)]
    return cols


def conform(value, kind: exp.DataType):
    """A CloudTrail JSON value as the JSON SerDe reads it into a column of type `kind`."""
    if value is None:
        return None
    t = kind.this
    if t == exp.DataType.Type.STRUCT:
        if not isinstance(value, dict):
            return None
        by_lower = {k.lower(): v for k, v in value.items()}  # the SerDe matches keys case-insensitively
        return {f.name.lower(): conform(by_lower.get(f.name.lower()), f.args["kind"]) for f in kind.expressions}
    if t == exp.DataType.Type.ARRAY:
        return [conform(v, kind.expressions[0]) for v in value] if isinstance(value, list) else None
    if t == exp.DataType.Type.MAP:
        return {str(k): conform(v, kind.args["values"] if "values" in kind.args else kind.expressions[1])
                for k, v in value.items()} if isinstance(value, dict) else None
    # A string column: nested JSON stays JSON text, scalars their text.
    if isinstance(value, (dict, list)):
        return json.dumps(value, separators=(",", ":"))
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def trail_files() -> list[Path]:
    files = sorted(TRAIL.glob("*/*/*/*.json.gz"))
    assert len(files) == 2, files
    return files


def load_table(con: duckdb.DuckDBPyConnection, workdir: Path) -> int:
    cols = ddl_columns()
    rows = []
    for f in trail_files():
        partition = "/".join(f.relative_to(TRAIL).parts[:3])  # ${timestamp}: yyyy/MM/dd
        for record in json.loads(gzip.decompress(f.read_bytes()))["Records"]:
            by_lower = {k.lower(): v for k, v in record.items()}
            row = {name.lower(): conform(by_lower.get(name.lower()), kind) for name, kind in cols}
            row["timestamp"] = partition
            rows.append(row)
    ndjson = workdir / "records.ndjson"
    ndjson.write_text("".join(json.dumps(r) + "\n" for r in rows))
    columns = {name.lower(): kind.sql(dialect="duckdb").lower() for name, kind in cols}
    con.execute(f"CREATE SCHEMA {DATABASE}")
    con.execute(
        f"CREATE TABLE {DATABASE}.{TABLE} AS SELECT * FROM read_json(?, format='newline_delimited', columns={columns!r})",
        [str(ndjson)],
    )
    return len(rows)


def athena_sql(binary: str, query: str, home: bool) -> str:
    args = [binary, "athena-sql", "--policies", str(POLICIES), "--query", query,
            "--database", DATABASE, "--table", TABLE] + (HOME if home else [])
    done = subprocess.run(args, capture_output=True, text=True, check=False)
    assert done.returncode == 0, f"{' '.join(args)}: exit {done.returncode}: {done.stderr}"
    return done.stdout


def run(con: duckdb.DuckDBPyConnection, athena: str) -> list[dict]:
    # Parse strictly as Athena first: a syntax error there is an error of the generator.
    sqlglot.parse_one(athena, read="athena", error_level=sqlglot.ErrorLevel.RAISE)
    [duck] = sqlglot.transpile(athena, read="athena", write="duckdb", unsupported_level=sqlglot.ErrorLevel.RAISE)
    cur = con.execute(duck)
    names = [d[0] for d in cur.description]
    return [dict(zip(names, r)) for r in cur.fetchall()]


def project(rows: list[dict], keys: list[str]) -> list[tuple]:
    return [tuple(r[k] for k in keys) for r in rows]


def eq(name: str, got, want) -> None:
    if got != want:
        lines = [f"FAIL {name}", "  got:"] + [f"    {g}" for g in got] + ["  want:"] + [f"    {w}" for w in want]
        raise AssertionError("\n".join(lines))
    print(f"ok   {name} ({len(got)} rows)")


GROUP = ["guarded_function", "eventname", "caller_kind", "caller", "caller_account", "source_arn", "source_account"]
SNS = "arn:aws:sns:eu-west-1:999999999999:spam"
DUC = "arn:aws:iam::111122223333:user/duc"

# Invocations by callers outside the allowlist, with the home given: (group..., count, first, last).
OUTSIDE = [
    ("Blog", "Invoke", "service", "sns.amazonaws.com", None, SNS, "999999999999", 4, "2026-11-01T09:00:00Z", "2026-11-02T07:00:00Z"),
    # Authorized, then failed (ResourceNotReadyException): a violation; the two AccessDenied probes are not.
    ("Blog", "Invoke", "account", "999999999999", "999999999999", None, None, 1, "2026-11-01T12:05:00Z", "2026-11-01T12:05:00Z"),
    ("Blog", "Invoke", "iam", DUC, "111122223333", None, None, 1, "2026-11-01T11:20:00Z", "2026-11-01T11:20:00Z"),
    ("Blog", "Invoke", "account", "arn:aws:iam::222233334444:role/partner", "222233334444", None, None, 1,
     "2026-11-02T08:05:00Z", "2026-11-02T08:05:00Z"),
    ("Blog", "Invoke", "account", "arn:aws:iam::777788889999:role/dev", "777788889999", None, None, 1,
     "2026-11-01T11:10:00Z", "2026-11-01T11:10:00Z"),
    ("Blog", "Invoke", "service", "s3.amazonaws.com", None, "arn:aws:s3:::other-bucket", "111122223333", 1,
     "2026-11-01T08:10:00Z", "2026-11-01T08:10:00Z"),
    ("Blog", "InvokeFunctionUrl", "unknown", None, None, None, None, 1, "2026-11-02T08:10:00Z", "2026-11-02T08:10:00Z"),
    ("Internal", "Invoke", "service", "events.amazonaws.com", None, "arn:aws:events:eu-west-1:111122223333:rule/nightly", None, 1,
     "2026-11-02T10:00:00Z", "2026-11-02T10:00:00Z"),
    (BILLING, "Invoke", "iam", DUC, "111122223333", None, None, 1, "2026-11-02T09:10:00Z", "2026-11-02T09:10:00Z"),
]

# Every invocation per caller: (group..., allowlisted, invocations, access_denied).
BY_CALLER = [
    ("Blog", "Invoke", "service", "sns.amazonaws.com", None, SNS, "999999999999", False, 4, 0),
    ("Blog", "Invoke", "service", "s3.amazonaws.com", None, "arn:aws:s3:::uploads-photos", "111122223333", True, 2, 0),
    # Two refused probes (AccessDenied, AccessDeniedException) and one authorized call that failed.
    ("Blog", "Invoke", "account", "999999999999", "999999999999", None, None, False, 1, 2),
    ("Blog", "Invoke", "iam", "arn:aws:iam::111122223333:role/deployer", "111122223333", None, None, True, 1, 0),
    ("Blog", "Invoke", "iam", DUC, "111122223333", None, None, False, 1, 0),
    # The partner's account may use the IAM-auth URL, not Invoke.
    ("Blog", "Invoke", "account", "arn:aws:iam::222233334444:role/partner", "222233334444", None, None, False, 1, 0),
    ("Blog", "InvokeFunctionUrl", "account", "arn:aws:iam::222233334444:role/partner", "222233334444", None, None, True, 1, 0),
    ("Blog", "Invoke", "account", "arn:aws:iam::444455556666:role/batch", "444455556666", None, None, True, 1, 0),
    ("Blog", "Invoke", "account", "arn:aws:iam::777788889999:role/dev", "777788889999", None, None, False, 1, 0),
    ("Blog", "Invoke", "account", "arn:aws:iam::777788889999:role/team/ops", "777788889999", None, None, True, 1, 0),
    # No session issuer: matched to the ops role by the role name in the session ARN.
    ("Blog", "Invoke", "account", "arn:aws:sts::777788889999:assumed-role/ops/bob", "777788889999", None, None, True, 1, 0),
    ("Blog", "Invoke", "service", "s3.amazonaws.com", None, "arn:aws:s3:::other-bucket", "111122223333", False, 1, 0),
    # A synchronous service call carries no source: allowed on the service alone, as the guard does.
    ("Blog", "Invoke", "service", "s3.amazonaws.com", None, None, None, True, 1, 0),
    ("Blog", "InvokeFunctionUrl", "unknown", None, None, None, None, False, 1, 0),
    ("Internal", "Invoke", "service", "events.amazonaws.com", None, "arn:aws:events:eu-west-1:111122223333:rule/nightly", None, False, 1, 0),
    # The organization entry covers other accounts, not the function's own IAM users.
    (BILLING, "Invoke", "iam", DUC, "111122223333", None, None, False, 1, 0),
    (BILLING, "Invoke", "account", "arn:aws:iam::555566667777:role/payments", "555566667777", None, None, True, 1, 0),
    # The public URL entry lets anyone in through the URL.
    (BILLING, "InvokeFunctionUrl", "unknown", None, None, None, None, True, 1, 0),
]

ADMIN = "arn:aws:iam::111122223333:role/admin"
# Resource-policy and URL changes of guarded functions, newest first.
CHANGES = [
    ("2026-11-02T11:20:00Z", "AddPermission20150331v2", "Internal", None, DUC, "x", None, "AccessDenied"),
    ("2026-11-02T11:15:00Z", "CreateFunctionUrlConfig20211031", "Internal", None, DUC, None, "NONE", None),
    ("2026-11-02T11:10:00Z", "PutResourcePolicy", BILLING, None, ADMIN, None, None, None),
    ("2026-11-02T11:05:00Z", "RemovePermission20150331v2", "Blog", "prod", ADMIN, "old", None, None),
    ("2026-11-02T11:00:00Z", "AddPermission20150331v2", "Blog", None, ADMIN, "sns-spam", None, None),
]
CHANGE_COLS = ["eventtime", "eventname", "guarded_function", "qualifier", "actor", "statement_id", "url_auth_type", "errorcode"]


def guard_violations(binary: str) -> collections.Counter:
    """The guard's own verdicts on the same files: violations per (function, event, caller...)."""
    files = trail_files()
    args = [binary, "check", "--policies", str(POLICIES), *HOME, *map(str, files)]
    done = subprocess.run(args, capture_output=True, text=True, check=False)
    assert done.returncode == 1, f"check: expected exit 1 (violations), got {done.returncode}: {done.stderr}"
    records = [r for f in files for r in json.loads(gzip.decompress(f.read_bytes()))["Records"]]
    verdicts = [json.loads(line) for line in done.stdout.splitlines()]
    assert len(verdicts) == len(records)
    counts: collections.Counter = collections.Counter()
    for record, v in zip(records, verdicts):
        if v["verdict"] == "violation":
            c = v["caller"]
            counts[(v["function"], record["eventName"], c["kind"], c.get("principal"), c.get("account"),
                    c.get("sourceArn"), c.get("sourceAccount"))] += 1
    return counts


def main() -> int:
    started = time.monotonic()
    binary = sys.argv[1] if len(sys.argv) > 1 else str(ROOT / "target" / "debug" / "invokeguard")
    assert os.access(binary, os.X_OK), f"{binary}: not an executable (build it: cargo build --bin invokeguard)"
    print(f"sqlglot {sqlglot.__version__}, duckdb {duckdb.__version__}: Athena SQL translated to DuckDB (not Athena)")
    with tempfile.TemporaryDirectory() as tmp:
        con = duckdb.connect()
        n = load_table(con, Path(tmp))
        print(f"ok   {n} records from {len(trail_files())} trail files in {DATABASE}.{TABLE} (columns of {DDL.name})")

        outside = run(con, athena_sql(binary, "outside-allowlist", home=True))
        eq("outside-allowlist (home given)", project(outside, GROUP + ["invocations", "first_seen", "last_seen"]), OUTSIDE)
        want = guard_violations(binary)
        got = collections.Counter({tuple(r[k] for k in GROUP): r["invocations"] for r in outside})
        eq("outside-allowlist = the guard's own violations (invokeguard check)",
           sorted(got.items(), key=repr), sorted(want.items(), key=repr))

        # Without a home, a name means the account and region the record was logged in: the
        # us-east-1 Blog is then Blog too (in a real table, one region's prefix, it cannot appear).
        no_home = project(run(con, athena_sql(binary, "outside-allowlist", home=False)), GROUP + ["invocations", "last_seen"])
        duc = ("Blog", "Invoke", "iam", DUC, "111122223333", None, None)
        want_no_home = [r[:7] + (r[7], r[9]) if r[:7] != duc else duc + (2, "2026-11-02T10:10:00Z") for r in OUTSIDE]
        want_no_home.sort(key=lambda r: (-r[7], r[0], r[3] is None, r[3] or "", r[1]))
        eq("outside-allowlist (no home)", no_home, want_no_home)

        by_caller = run(con, athena_sql(binary, "by-caller", home=True))
        eq("by-caller", project(by_caller, GROUP + ["allowlisted", "invocations", "access_denied"]), BY_CALLER)

        changes = run(con, athena_sql(binary, "policy-changes", home=True))
        eq("policy-changes", project(changes, CHANGE_COLS), CHANGES)
        statement = json.loads(changes[-1]["added_statement"])
        assert statement["Principal"] == {"Service": "sns.amazonaws.com"}, statement
        print("ok   policy-changes: AddPermission's added statement is readable JSON")
        eq("policy-changes (no home)",
           project(run(con, athena_sql(binary, "policy-changes", home=False)), CHANGE_COLS), CHANGES)
    print(f"athena-sql-test: all passed in {time.monotonic() - started:.1f}s (a translation test: DuckDB, not Athena)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
