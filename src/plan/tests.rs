use super::fixtures::{allow, doc};
use super::*;

fn plan_of(allow: &[AllowEntry], current: &ResourcePolicy) -> Plan {
    plan("f", None, allow, current, Apply::Permissions)
}

fn settled(allow: &[AllowEntry], current: &ResourcePolicy) -> bool {
    let p = plan_of(allow, current);
    plan_of(allow, &p.applied_to(current, None)).is_empty()
}

#[test]
fn a_public_only_policy_is_replaced_by_the_allowlist_not_refused() {
    let allow = allow(r#"[{"account": "111122223333"}]"#);
    let current = doc(
        r#"[{"Sid": "oops", "Effect": "Allow", "Principal": "*", "Action": "lambda:InvokeFunction"}]"#,
    );
    let p = plan_of(&allow, &current);
    assert_eq!(p.remove.len(), 1);
    assert_eq!(p.remove[0].sid.as_deref(), Some("oops"));
    assert!(p.remove[0].why.contains("anyone"));
    assert_eq!(p.add.len(), 1);
    assert_eq!(p.add[0].principal, "111122223333");
    assert!(p.add[0].sid.starts_with("invokeguard-account-"));
    assert_eq!(p.apply, Apply::Permissions);
    assert!(settled(&allow, &current));
}

#[test]
fn a_narrower_statement_is_kept_and_the_entry_still_gets_its_own() {
    let allow = allow(
        r#"[{"service": "s3.amazonaws.com", "sourceArn": "arn:aws:s3:::b", "sourceAccount": "111122223333"}]"#,
    );
    let current = doc(
        r#"[{"Sid": "mine", "Effect": "Allow", "Principal": {"Service": "s3.amazonaws.com"}, "Action": "lambda:InvokeFunction",
        "Condition": {"stringlike": {"aws:sourceaccount": "111122223333"}, "ARNEQUALS": {"AWS:SourceArn": "arn:aws:s3:::b"},
                      "Bool": {"aws:SecureTransport": true}}}]"#,
    );
    let p = plan_of(&allow, &current);
    assert_eq!(p.keep, vec![Some("mine".to_owned())]);
    assert!(p.remove.is_empty(), "{p:?}");
    assert_eq!(
        p.add.len(),
        1,
        "TLS-only is narrower than the entry, so it does not cover it"
    );
    assert!(settled(&allow, &current));
    let without_tls = doc(
        r#"[{"Sid": "mine", "Effect": "Allow", "Principal": {"Service": "s3.amazonaws.com"}, "Action": "lambda:InvokeFunction",
        "Condition": {"stringequals": {"aws:sourceaccount": "111122223333"}, "ARNEQUALS": {"AWS:SourceArn": "arn:aws:s3:::b"}}}]"#,
    );
    assert!(
        plan_of(&allow, &without_tls).is_empty(),
        "keys in any case cover"
    );
}

#[test]
fn weaker_forms_of_an_allowed_grant_are_replaced() {
    let allow = allow(
        r#"[{"service": "s3.amazonaws.com", "sourceArn": "arn:aws:s3:::b", "sourceAccount": "111122223333"}]"#,
    );
    for weaker in [
        // no SourceAccount
        r#"{"Sid": "w", "Effect": "Allow", "Principal": {"Service": "s3.amazonaws.com"}, "Action": "lambda:InvokeFunction", "Condition": {"ArnLike": {"AWS:SourceArn": "arn:aws:s3:::b"}}}"#,
        // lambda:* instead of lambda:InvokeFunction
        r#"{"Sid": "w", "Effect": "Allow", "Principal": {"Service": "s3.amazonaws.com"}, "Action": "lambda:*", "Condition": {"ArnLike": {"AWS:SourceArn": "arn:aws:s3:::b"}, "StringEquals": {"AWS:SourceAccount": "111122223333"}}}"#,
        // several values widen
        r#"{"Sid": "w", "Effect": "Allow", "Principal": {"Service": "s3.amazonaws.com"}, "Action": "lambda:InvokeFunction", "Condition": {"ArnLike": {"AWS:SourceArn": ["arn:aws:s3:::b", "arn:aws:s3:::x"]}, "StringEquals": {"AWS:SourceAccount": "111122223333"}}}"#,
        // IfExists widens
        r#"{"Sid": "w", "Effect": "Allow", "Principal": {"Service": "s3.amazonaws.com"}, "Action": "lambda:InvokeFunction", "Condition": {"ArnLikeIfExists": {"AWS:SourceArn": "arn:aws:s3:::b"}, "StringEquals": {"AWS:SourceAccount": "111122223333"}}}"#,
    ] {
        let current = doc(&format!("[{weaker}]"));
        let p = plan_of(&allow, &current);
        assert_eq!((p.remove.len(), p.add.len()), (1, 1), "{weaker}");
        assert!(!p.remove[0].why.is_empty(), "{weaker}");
        // lambda:* keeps its other actions in a replacement; the others go whole.
        assert_eq!(
            p.remove[0].replacement.is_some(),
            weaker.contains("lambda:*"),
            "{weaker}"
        );
        assert_eq!(p.add[0].source_account.as_deref(), Some("111122223333"));
        assert!(settled(&allow, &current));
    }
}

#[test]
fn odd_forms_granting_invoke_are_removed_with_a_document_write_when_needed() {
    let allow = allow("[]");
    let current = doc(r#"[
        {"Effect": "Allow", "Principal": "*", "Action": "lambda:InvokeFunction"},
        {"Sid": "d", "Effect": "Deny", "Principal": "*", "Action": ["lambda:InvokeFunction"]},
        {"Sid": "tls", "Effect": "Allow", "Principal": "*", "Action": "lambda:InvokeFunction", "Condition": {"Bool": {"aws:SecureTransport": "true"}}},
        {"Sid": "np", "Effect": "Allow", "NotPrincipal": {"AWS": "111122223333"}, "Action": "lambda:Invoke*"},
        {"Sid": "na", "Effect": "Allow", "Principal": {"AWS": "999999999999"}, "NotAction": "lambda:GetPolicy"},
        {"Sid": "get", "Effect": "Allow", "Principal": "*", "Action": "lambda:GetFunction"}]"#);
    let p = plan_of(&allow, &current);
    let removed: Vec<usize> = p.remove.iter().map(|r| r.index).collect();
    assert_eq!(removed, vec![0, 2, 3, 4]);
    assert_eq!(p.remove[0].sid, None);
    assert_eq!(p.apply, Apply::Document);
    assert!(
        p.apply_reason.contains("grants other actions too"),
        "{}",
        p.apply_reason
    );
    assert_eq!(p.unmanaged.len(), 2);
    assert!(
        p.remove[2].replacement.is_none(),
        "lambda:Invoke* is only invoke"
    );
    let after = p.applied_to(&current, None);
    assert_eq!(
        after
            .statements
            .iter()
            .map(|s| s.sid.clone())
            .collect::<Vec<_>>(),
        vec![
            Some("d".to_owned()),
            Some("na".to_owned()),
            Some("get".to_owned())
        ]
    );
    assert_eq!(
        after.statements[0].raw, current.statements[1].raw,
        "kept verbatim"
    );
    assert!(
        !grants_invoke(&after.statements[1]),
        "NotAction now excludes invoke"
    );
    assert_eq!(after.statements[1].raw["NotAction"][0], "lambda:GetPolicy");
}

#[test]
fn a_copied_sid_forces_a_document_write() {
    let allow = allow(r#"[{"account": "111122223333"}]"#);
    let current = doc(r#"[
        {"Sid": "dup", "Effect": "Allow", "Principal": {"AWS": "111122223333"}, "Action": "lambda:InvokeFunction"},
        {"Sid": "dup", "Effect": "Allow", "Principal": "*", "Action": "lambda:InvokeFunction"}]"#);
    let p = plan_of(&allow, &current);
    assert_eq!(p.keep, vec![Some("dup".to_owned())]);
    assert_eq!(p.remove.len(), 1);
    assert_eq!(p.remove[0].index, 1);
    assert_eq!(p.apply, Apply::Document);
    assert!(p.apply_reason.contains("shares its Sid"));
    assert!(settled(&allow, &current));
}

#[test]
fn accounts_organizations_and_partitions_are_recognised() {
    let allow = allow(
        r#"[{"organization": "o-a1b2c3d4e5"}, {"account": "999999999999"}, {"principal": "arn:aws-cn:iam::888888888888:root"}]"#,
    );
    let current = doc(r#"[
        {"Sid": "org", "Effect": "Allow", "Principal": "*", "Action": "lambda:InvokeFunction", "Condition": {"StringEquals": {"aws:PrincipalOrgID": "o-a1b2c3d4e5"}}},
        {"Sid": "acct", "Effect": "Allow", "Principal": {"AWS": "arn:aws-us-gov:iam::999999999999:root"}, "Action": "lambda:InvokeFunction"},
        {"Sid": "cn", "Effect": "Allow", "Principal": {"AWS": "888888888888"}, "Action": "lambda:InvokeFunction"}]"#);
    let p = plan_of(&allow, &current);
    assert!(p.is_empty(), "{p:?}");
    assert_eq!(p.keep.len(), 3);
}

#[test]
fn a_public_function_url_needs_its_pair_of_statements() {
    let allow = allow(r#"[{"functionUrl": "public"}]"#);
    let p = plan_of(&allow, &ResourcePolicy::default());
    assert_eq!(p.add.len(), 2);
    assert_eq!(p.add[0].action, INVOKE_URL_ACTION);
    assert_eq!(p.add[0].function_url_auth_type, Some("NONE"));
    assert_eq!(p.add[1].invoked_via_function_url, Some(true));
    assert!(settled(&allow, &ResourcePolicy::default()));
    let url_without_entry = doc(
        r#"[{"Sid": "FunctionURLAllowPublicAccess", "Effect": "Allow", "Principal": "*", "Action": "lambda:InvokeFunctionUrl", "Condition": {"StringEquals": {"lambda:FunctionUrlAuthType": "NONE"}}}]"#,
    );
    let p = plan_of(&[], &url_without_entry);
    assert_eq!(p.remove.len(), 1);
}

#[test]
fn an_alexa_skill_is_allowed_by_its_event_source_token() {
    let allow = allow(
        r#"[{"service": "alexa-appkit.amazon.com", "eventSourceToken": "amzn1.ask.skill.1"}]"#,
    );
    let current = doc(
        r#"[{"Sid": "alexa", "Effect": "Allow", "Principal": {"Service": "alexa-appkit.amazon.com"}, "Action": "lambda:InvokeFunction", "Condition": {"StringEquals": {"lambda:EventSourceToken": "amzn1.ask.skill.1"}}}]"#,
    );
    assert!(plan_of(&allow, &current).is_empty());
    let p = plan_of(&allow, &ResourcePolicy::default());
    assert_eq!(
        p.add[0].event_source_token.as_deref(),
        Some("amzn1.ask.skill.1")
    );
}

#[test]
fn generated_sids_are_deterministic_and_do_not_collide() {
    let allow = allow(r#"[{"account": "111122223333"}]"#);
    let a = plan_of(&allow, &ResourcePolicy::default());
    let b = plan_of(&allow, &ResourcePolicy::default());
    assert_eq!(a.add[0].sid, b.add[0].sid);
    let taken = doc(&format!(
        r#"[{{"Sid": "{}", "Effect": "Deny", "Principal": "*", "Action": "lambda:InvokeFunction"}}]"#,
        a.add[0].sid
    ));
    let c = plan_of(&allow, &taken);
    assert_eq!(c.add[0].sid, format!("{}-1", a.add[0].sid));
}

#[test]
fn the_document_setting_always_writes_the_whole_policy() {
    let allow = allow(r#"[{"account": "111122223333"}]"#);
    let p = plan(
        "f",
        None,
        &allow,
        &ResourcePolicy::default(),
        Apply::Document,
    );
    assert_eq!(p.apply, Apply::Document);
}
