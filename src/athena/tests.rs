use super::*;

fn allowlist(json: &str) -> Allowlist {
    Allowlist::from_json(json, "p", None).expect("valid")
}

fn blog() -> Allowlist {
    allowlist(
        r#"{"version": 1, "functions": {
            "Blog": {"allow": [
                {"service": "s3.amazonaws.com", "sourceArn": "arn:aws:s3:::uploads-*", "sourceAccount": "111122223333"},
                {"account": "444455556666"},
                {"principal": "arn:aws:iam::777788889999:role/team/ops"},
                {"principal": "arn:aws:iam::222233334444:root", "action": "lambda:InvokeFunctionUrl"}
            ]},
            "arn:aws:lambda:eu-west-1:999999999999:function:Billing": {"allow": []}
        }}"#,
    )
}

fn table() -> Table {
    Table::new(DEFAULT_DATABASE, DEFAULT_TABLE).expect("names")
}

#[test]
fn arn_like_becomes_an_anchored_regex_part_by_part() {
    assert_eq!(
        arn_like_regex("arn:aws:s3:::uploads-*"),
        "^arn:aws:s3:::uploads-.*$"
    );
    assert_eq!(
        arn_like_regex("arn:aws:sns:*:123456789012:lambda?x"),
        "^arn:aws:sns:[^:]*:123456789012:lambda.x$"
    );
    assert_eq!(
        arn_like_regex("arn:aws:logs:us-east-1:1:log-group:/a.b:*"),
        "^arn:aws:logs:us-east-1:1:log-group:/a\\.b:.*$"
    );
    assert_eq!(
        arn_like_regex("arn:aws:s3:::a+b(c)"),
        "^arn:aws:s3:::a\\+b\\(c\\)$"
    );
}

#[test]
fn strings_are_quoted_and_identifiers_checked() {
    assert_eq!(sql_str("it's"), "'it''s'");
    assert!(Table::new("invokeguard", "cloudtrail_logs").is_ok());
    assert!(matches!(
        Table::new("db\"; DROP", "t"),
        Err(AthenaError::Identifier {
            what: "database",
            ..
        })
    ));
    assert!(matches!(
        Table::new("db", ""),
        Err(AthenaError::Identifier { what: "table", .. })
    ));
}

#[test]
fn outside_allowlist_reads_the_table_and_keeps_violations_only() {
    let sql = sql(&blog(), Query::OutsideAllowlist, &table());
    assert!(sql.contains("FROM \"invokeguard\".\"cloudtrail_logs\""));
    assert!(sql.contains("eventname IN ('Invoke', 'InvokeFunctionUrl')"));
    assert!(sql.contains("WHERE NOT refused AND NOT allowlisted"));
    assert!(sql.contains("count(*) AS invocations"));
    assert!(sql.contains("min(eventtime) AS first_seen"));
    // Each kind of entry, in the caller kinds the guard matches it for.
    assert!(sql.contains("lower(invoked_by) = 's3.amazonaws.com' AND (source_arn IS NULL OR regexp_like(source_arn, '^arn:aws:s3:::uploads-.*$')) AND (source_account IS NULL OR source_account = '111122223333')"));
    assert!(sql.contains("(eventname = 'Invoke' AND caller_account = '444455556666')"));
    assert!(sql.contains("caller = 'arn:aws:iam::777788889999:role/team/ops'"));
    assert!(sql.contains("regexp_extract(identity_arn, ':assumed-role/([^/]+)', 1) = 'ops'"));
    assert!(sql.contains("(eventname = 'InvokeFunctionUrl' AND caller_account = '222233334444')"));
    // An empty allowlist lets nobody in.
    assert!(
        sql.contains("WHEN 'arn:aws:lambda:eu-west-1:999999999999:function:Billing' THEN false")
    );
}

#[test]
fn names_mean_the_home_when_given_else_the_records_own_account_and_region() {
    let p = blog();
    let without = sql(&p, Query::OutsideAllowlist, &table());
    assert!(without.contains("split_part(function_arn, ':', 7) = 'Blog' AND split_part(function_arn, ':', 5) = recipientaccountid"));
    p.set_home(Home::new("aws", "us-east-1", "111122223333").expect("home"))
        .expect("set");
    let with = sql(&p, Query::OutsideAllowlist, &table());
    assert!(with.contains(
        "WHEN function_arn = 'arn:aws:lambda:us-east-1:111122223333:function:Blog' THEN 'Blog'"
    ));
    // ARN keys come first, as in Allowlist::lookup.
    let arn_at = with
        .find("THEN 'arn:aws:lambda:eu-west-1")
        .expect("arn key");
    let name_at = with.find("THEN 'Blog'").expect("name key");
    assert!(arn_at < name_at);
}

#[test]
fn organization_and_public_url_entries_allow_as_the_guard_does() {
    let p = allowlist(
        r#"{"version": 1, "functions": {"Blog": {"allow": [
            {"organization": "o-a1b2c3d4e5"}, {"functionUrl": "public"}]}}}"#,
    );
    let sql = sql(&p, Query::OutsideAllowlist, &table());
    assert!(sql.contains("(caller_kind = 'account' AND ((eventname = 'Invoke' AND true)))"));
    assert!(sql.contains(
        "WHEN 'Blog' THEN (\n        eventname = 'InvokeFunctionUrl'\n        OR (caller_kind"
    ));
}

#[test]
fn by_caller_counts_refused_calls_apart() {
    let sql = sql(&blog(), Query::ByCaller, &table());
    assert!(sql.contains("sum(CASE WHEN refused THEN 1 ELSE 0 END) AS access_denied"));
    assert!(sql.contains("GROUP BY guarded_function, eventname, caller_kind, caller, caller_account, source_arn, source_account, allowlisted"));
    assert!(!sql.contains("NOT allowlisted"));
}

#[test]
fn policy_changes_match_the_event_names_by_prefix() {
    let sql = sql(&blog(), Query::PolicyChanges, &table());
    assert!(sql.contains("regexp_like(eventname, '^(AddPermission|RemovePermission|PutResourcePolicy|DeleteResourcePolicy|CreateFunctionUrlConfig|UpdateFunctionUrlConfig)([0-9].*)?$')"));
    assert!(sql.contains("json_extract_scalar(requestparameters, '$.resourceArn')"));
    assert!(sql.contains("WHERE guarded_function IS NOT NULL"));
}

#[test]
fn quotes_in_values_cannot_end_the_string() {
    let p = allowlist(
        r#"{"version": 1, "functions": {"Blog": {"allow": [
            {"principal": "arn:aws:iam::777788889999:role/o'brien"}]}}}"#,
    );
    let sql = sql(&p, Query::OutsideAllowlist, &table());
    assert!(sql.contains("caller = 'arn:aws:iam::777788889999:role/o''brien'"));
}
