#!/usr/bin/env python3
"""Offline test of the synthesized Invoke rules' event patterns against real CloudTrail records.

Usage: event-patterns-test.py [--invokeguard BIN] TEMPLATE.json...

Every AWS::Events::Rule of the templates whose pattern selects Invoke events is evaluated with
LocalStack's pure-Python rule engine (DESIGN.md fact 24: `localstack-core`, installed with
--no-deps into .venv by scripts/bootstrap.sh; only its event_rule_engine.py is loaded). Records
from tests/fixtures, retargeted to the rule's guarded functions (or accounts) and wrapped as
EventBridge events, must match; the same records refused (an access-denial errorCode), of an
unguarded function or of another event must not; a record with any other errorCode still must.
With --invokeguard, every errorCode a rule drops is checked to be one `invokeguard check` counts
as refused (reason access-denied), and the kept ones not: the rule never drops what the guard
would judge.
"""

import argparse
import copy
import importlib.metadata
import importlib.util
import json
import subprocess
import sys
import tempfile
import types
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures"
# Pseudo-parameters of an environment-agnostic template, and the partition of every template.
PSEUDO = {"AWS::Partition": "aws", "AWS::Region": "us-west-2", "AWS::AccountId": "123456789012"}
DENIED = ["AccessDenied", "AccessDeniedException"]
# Authorized calls that failed: the guard must still see them (DESIGN.md fact 21).
FAILED = ["TooManyRequestsException", "ResourceNotFoundException", "ServiceException"]


def load_engine():
    """event_rule_engine.py alone, with the one LocalStack module it imports stubbed."""
    path = Path(
        importlib.metadata.distribution("localstack-core").locate_file(
            "localstack/services/events/event_rule_engine.py"
        )
    )
    stub = types.ModuleType("localstack.aws.api.events")

    class InvalidEventPatternException(Exception):
        pass

    stub.InvalidEventPatternException = InvalidEventPatternException
    for name in ("localstack", "localstack.aws", "localstack.aws.api"):
        sys.modules.setdefault(name, types.ModuleType(name))
    sys.modules["localstack.aws.api.events"] = stub
    spec = importlib.util.spec_from_file_location("invokeguard_event_rule_engine", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module, InvalidEventPatternException


def resolve(value):
    """A template value with Fn::Join and pseudo-parameter Refs replaced by strings."""
    if isinstance(value, list):
        return [resolve(v) for v in value]
    if isinstance(value, dict):
        if set(value) == {"Fn::Join"}:
            sep, parts = value["Fn::Join"]
            return sep.join(resolve(p) for p in parts)
        if set(value) == {"Ref"}:
            if value["Ref"] not in PSEUDO:
                raise ValueError(f"cannot resolve {value}")
            return PSEUDO[value["Ref"]]
        return {k: resolve(v) for k, v in value.items()}
    return value


def invoke_rules(template_path):
    template = json.loads(Path(template_path).read_text())
    for rid, res in sorted(template.get("Resources", {}).items()):
        if res.get("Type") != "AWS::Events::Rule":
            continue
        pattern = res.get("Properties", {}).get("EventPattern")
        if pattern and "Invoke" in (pattern.get("detail", {}).get("eventName") or []):
            yield f"{Path(template_path).name}:{rid}", resolve(pattern)


def fixture(name):
    return json.loads((FIXTURES / name).read_text())


def base_records():
    """Invoke and InvokeFunctionUrl records without errorCode, one refused, one failed, one management event."""
    made = {r["eventID"]: r for r in fixture("made/records_url_denied_awsaccount_elsewhere.json")["Records"]}
    return {
        "invoke": fixture("invoke_iamuser_cli_eventversion106_fractional_time_sumologic.json"),
        "url": made["made-url-anonymous"],
        "refused": made["made-denied"],
        "failed": made["made-failed-but-authorized"],
        "change": fixture("mgmt_addpermission20150331v2_public_star_stratus.json")[0],
    }


def retarget(record, arn, error_code=None, drop_error=False):
    """The record as one about `arn`, in its account and region."""
    r = copy.deepcopy(record)
    _, _, _, region, account = arn.split(":")[:5]
    r["awsRegion"], r["recipientAccountId"] = region, account
    if isinstance(r.get("resources"), list) and r["resources"]:
        r["resources"][0].update({"ARN": arn, "accountId": account})
    else:
        r["resources"] = [{"accountId": account, "type": "AWS::Lambda::Function", "ARN": arn}]
    if drop_error:
        r.pop("errorCode", None)
        r.pop("errorMessage", None)
    if error_code is not None:
        r["errorCode"] = error_code
    return r


def as_event(record):
    """A CloudTrail record as EventBridge delivers it."""
    if "detail" in record and "detail-type" in record:
        return record
    return {
        "version": "0",
        "id": "6a7e8feb-b491-4cf7-a9f1-bf3703467718",
        "detail-type": "AWS API Call via CloudTrail",
        "source": "aws.lambda",
        "account": record.get("recipientAccountId", "123456789012"),
        "time": "2026-12-06T08:00:00Z",
        "region": record.get("awsRegion", "us-east-1"),
        "resources": [],
        "detail": record,
    }


class Checker:
    def __init__(self, engine):
        self.engine = engine
        self.failures = []
        self.checked = 0

    def matches(self, pattern, record):
        compiled = self.engine.EventPatternCompiler().compile_event_pattern(pattern)
        return self.engine.EventRuleEngine().evaluate_pattern_on_event(compiled, as_event(record))

    def expect(self, rule, pattern, record, want, what):
        self.checked += 1
        got = self.matches(pattern, record)
        if got != want:
            self.failures.append(f"{rule}: {what}: expected {'a match' if want else 'no match'}, got {'a match' if got else 'none'}")


def guarded_targets(pattern):
    """(guarded ARNs, unguarded ARNs) for the rule: by function ARN, or by account on a hub bus."""
    arns = pattern.get("detail", {}).get("resources", {}).get("ARN")
    if arns is not None:
        exact = [a for a in arns if isinstance(a, str)]
        if not exact:
            raise ValueError("an Invoke rule without an exact function ARN")
        return exact, [f"{a}Other" for a in exact[:3]]
    accounts = pattern.get("account")
    if not accounts:
        raise ValueError("an Invoke rule with neither function ARNs nor accounts")
    outsider = "000000000000"
    assert outsider not in accounts
    return ([f"arn:aws:lambda:us-west-1:{a}:function:function239" for a in accounts],
            [f"arn:aws:lambda:us-west-1:{outsider}:function:function239"])


def check_rule(checker, rule, pattern, records):
    guarded, unguarded = guarded_targets(pattern)
    for arn in guarded:
        for kind in ("invoke", "url"):
            checker.expect(rule, pattern, retarget(records[kind], arn), True, f"{kind} record of {arn}")
        checker.expect(rule, pattern, retarget(records["invoke"], f"{arn}:prod"), True, f"Invoke of {arn}:prod")
        checker.expect(rule, pattern, retarget(records["refused"], arn), False, f"refused (fixture AccessDenied) {arn}")
        checker.expect(rule, pattern, retarget(records["refused"], arn, drop_error=True), True,
                       f"the refused fixture without its errorCode, {arn}")
        for code in DENIED:
            checker.expect(rule, pattern, retarget(records["invoke"], arn, code), False, f"errorCode {code}, {arn}")
        checker.expect(rule, pattern, retarget(records["failed"], arn), True, f"failed (fixture TooManyRequests) {arn}")
        for code in FAILED:
            checker.expect(rule, pattern, retarget(records["invoke"], arn, code), True, f"errorCode {code}, {arn}")
        checker.expect(rule, pattern, retarget(records["change"], arn), False, f"AddPermission of {arn}")
    for arn in unguarded:
        checker.expect(rule, pattern, retarget(records["invoke"], arn), False, f"unguarded {arn}")
    # Not vacuous: the same pattern for another source matches nothing it matched above.
    other = dict(pattern, source=["aws.s3"])
    checker.expect(rule, other, retarget(records["invoke"], guarded[0]), False, "pattern of another source")


def dropped_codes(pattern):
    codes = set()
    for alt in pattern.get("detail", {}).get("errorCode", []):
        if isinstance(alt, dict) and isinstance(alt.get("anything-but"), list):
            codes.update(alt["anything-but"])
    return codes


def check_agreement(invokeguard, codes, records):
    """Every code a rule drops is one `invokeguard check` judges refused; the kept ones are not."""
    failures = []
    arn = "arn:aws:lambda:us-west-1:111111111111:function:function239"
    expected = {c: True for c in codes} | {c: False for c in FAILED}
    with tempfile.TemporaryDirectory() as tmp:
        policies = Path(tmp, "p.json")
        policies.write_text('{"version": 1, "functions": {"function239": {"allow": []}}}')
        trail = Path(tmp, "records.json")
        order = sorted(expected)
        trail.write_text(json.dumps({"Records": [retarget(records["invoke"], arn, c) for c in order]}))
        out = subprocess.run([invokeguard, "check", "--json", "--policies", str(policies), str(trail)],
                             capture_output=True, text=True, check=False)
        verdicts = [json.loads(line) for line in out.stdout.splitlines() if line.strip()]
        if len(verdicts) != len(order):
            return [f"invokeguard check gave {len(verdicts)} verdicts for {len(order)} records: {out.stderr}"]
        for code, verdict in zip(order, verdicts):
            refused = verdict.get("reason") == "access-denied"
            if refused != expected[code]:
                failures.append(f"errorCode {code}: the rule {'drops' if expected[code] else 'keeps'} it, "
                                f"but invokeguard check says {verdict.get('reason')}")
    return failures


def self_test(engine, invalid_exception, records):
    """The engine is the faithful one: it descends into arrays of objects and rejects a malformed pattern."""
    checker = Checker(engine)
    arn = "arn:aws:lambda:us-west-1:111111111111:function:function239"
    by_arn = {"detail": {"resources": {"ARN": [arn]}}}
    checker.expect("self-test", by_arn, retarget(records["invoke"], arn), True, "resources[].ARN")
    checker.expect("self-test", by_arn, retarget(records["invoke"], arn + "Other"), False, "another resources[].ARN")
    missing = {"detail": {"errorCode": [{"anything-but": ["AccessDenied"]}]}}
    checker.expect("self-test", missing, retarget(records["invoke"], arn), False, "anything-but alone needs the field")
    try:
        engine.EventPatternCompiler().compile_event_pattern({"source": "aws.lambda"})
        checker.failures.append("self-test: a pattern value that is not an array was accepted")
    except invalid_exception:
        pass
    return checker.failures


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--invokeguard", help="the invokeguard CLI, to check the dropped codes against `check`")
    parser.add_argument("templates", nargs="+")
    args = parser.parse_args()
    engine, invalid = load_engine()
    records = base_records()
    failures = self_test(engine, invalid, records)
    checker = Checker(engine)
    rules = 0
    codes = set()
    for template in args.templates:
        for rule, pattern in invoke_rules(template):
            rules += 1
            codes |= dropped_codes(pattern)
            check_rule(checker, rule, pattern, records)
    if rules == 0:
        failures.append("no Invoke rule in the templates")
    failures += checker.failures
    if args.invokeguard:
        failures += check_agreement(args.invokeguard, codes, records)
    for f in failures:
        print(f"event-patterns-test: FAIL {f}", file=sys.stderr)
    if failures:
        return 1
    agreed = f", {len(codes)} dropped codes agree with invokeguard check" if args.invokeguard else ""
    print(f"event-patterns-test: {rules} Invoke rule(s), {checker.checked} records checked{agreed}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
