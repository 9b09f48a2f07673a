//! The plan checks itself before it is applied: over requests derived from the allowlist,
//! the document's own principals and condition values, and outsiders, the desired policy must
//! grant exactly what the allowlist allows. The answer comes from the evaluator (IAM's
//! evaluation logic), not from the coverage rules that built the plan. Pure: no I/O.

use std::collections::BTreeSet;

use crate::allowlist::{AllowEntry, Grant, InvokeAction};
use crate::aws::arn::IamArn;
use crate::aws::arn::arn_like;
use crate::evaluator::{Caller, Request, Resource, Tri, granted};
use crate::resource_policy::{Principal, ResourcePolicy, Statement};

use super::actions::{INVOKE_ACTION, INVOKE_ACTIONS, INVOKE_ASYNC_ACTION, INVOKE_URL_ACTION};
use super::coverage::{Want, is_pattern};

const OUTSIDER_ACCOUNT: &str = "000000000000";
const OUTSIDER_SERVICE: &str = "outsider.invokeguard.amazonaws.com";

type Context = Vec<(String, Vec<String>)>;

/// Whether an allow entry allows the request: the allowlist read directly, as the oracle the
/// desired policy is compared with.
pub fn allowlisted(allow: &[AllowEntry], r: &Request) -> bool {
    let value = |key: &str| {
        r.context
            .iter()
            .find(|(k, _)| k == key)
            .and_then(|(_, v)| match v.as_slice() {
                [one] => Some(one.as_str()),
                _ => None,
            })
    };
    let url_ok = |e: &AllowEntry| {
        e.action != InvokeAction::InvokeFunctionUrl
            || value("lambda:functionurlauthtype") == Some("AWS_IAM")
    };
    let iam_account = || match &r.caller {
        Caller::Iam { account, .. } => Some(account.as_str()),
        _ => None,
    };
    allow.iter().any(|e| {
        let action = r.action == e.action.as_str();
        match &e.grant {
            Grant::Service(grant) => {
                r.action == INVOKE_ACTION
                    && matches!(&r.caller, Caller::Service(s) if s.eq_ignore_ascii_case(grant.service.as_str()))
                    && grant.conditions().into_iter().all(|(key, want)| match key {
                        "aws:sourcearn" => value(key).is_some_and(|v| arn_like(want, v)),
                        _ => value(key) == Some(want),
                    })
            }
            Grant::Account(a) => action && url_ok(e) && iam_account() == Some(a.as_str()),
            Grant::Principal(p) => {
                action
                    && url_ok(e)
                    && match Principal::from_aws(p.as_str()) {
                        Principal::Account(a) => iam_account() == Some(a.as_str()),
                        _ => matches!(&r.caller, Caller::Iam { arn, .. } if arn == p.as_str()),
                    }
            }
            Grant::Organization(o) => {
                action && url_ok(e) && value("aws:principalorgid") == Some(o.as_str())
            }
            Grant::PublicUrl => {
                (r.action == INVOKE_URL_ACTION && value("lambda:functionurlauthtype") == Some("NONE"))
                    || (r.action == INVOKE_ACTION
                        && value("lambda:invokedviafunctionurl") == Some("true"))
            }
        }
    })
}

/// `Ok` when `desired` grants exactly what `allow` allows on every probe; else the first
/// request where they differ.
pub fn prove(
    allow: &[AllowEntry],
    wants: &[Want],
    documents: &[&ResourcePolicy],
    desired: &ResourcePolicy,
    resource: &Resource,
) -> Result<(), String> {
    for (caller, action, context) in probes(wants, documents) {
        let request = Request {
            caller,
            action: action.to_owned(),
            resource: resource.clone(),
            context,
        };
        let got = granted(desired, &request);
        if action == INVOKE_ASYNC_ACTION {
            // Tolerated where InvokeFunction is allowed, never required.
            let mut as_invoke = request.clone();
            as_invoke.action = INVOKE_ACTION.to_owned();
            if got != Tri::No && !allowlisted(allow, &as_invoke) {
                return Err(describe("could", &request));
            }
            continue;
        }
        match (allowlisted(allow, &request), got) {
            (true, Tri::Yes) | (false, Tri::No) => {}
            (true, _) => return Err(describe("could not", &request)),
            (false, _) => return Err(describe("could", &request)),
        }
    }
    Ok(())
}

fn describe(could: &str, r: &Request) -> String {
    let who = match &r.caller {
        Caller::Anonymous => "anyone".to_owned(),
        Caller::Service(s) => s.clone(),
        Caller::Iam { arn, .. } => arn.clone(),
    };
    let context: Vec<String> = r
        .context
        .iter()
        .map(|(k, v)| format!("{k}={}", v.join("|")))
        .collect();
    let unexpected = if could == "could" {
        "although no allow entry allows it"
    } else {
        "although an allow entry allows it"
    };
    format!(
        "{who} {could} {} with [{}] {unexpected}",
        r.action,
        context.join(", ")
    )
}

fn callers_of(p: &Principal) -> Vec<Caller> {
    let iam = |account: &str, arn: String| Caller::Iam {
        account: account.to_owned(),
        arn,
    };
    match p {
        Principal::Any => vec![
            Caller::Anonymous,
            iam(
                OUTSIDER_ACCOUNT,
                format!("arn:aws:iam::{OUTSIDER_ACCOUNT}:role/probe"),
            ),
            Caller::Service(OUTSIDER_SERVICE.into()),
        ],
        Principal::Service(s) => vec![Caller::Service(s.clone())],
        Principal::Account(a) => vec![
            iam(a, format!("arn:aws:iam::{a}:root")),
            iam(a, format!("arn:aws:iam::{a}:role/probe")),
        ],
        Principal::Aws(arn) => {
            let account = IamArn::principal(arn).map_or("", |a| a.account);
            vec![iam(account, arn.clone())]
        }
        Principal::Other(_) => Vec::new(),
    }
}

/// A value a pattern matches: `*` and `?` filled in.
fn instance(value: &str) -> String {
    value.replace('*', "probe").replace('?', "p")
}

fn want_context(w: &Want) -> Context {
    w.conditions
        .iter()
        .map(|(k, v)| {
            let v = if is_pattern(k, v) {
                instance(v)
            } else {
                v.clone()
            };
            ((*k).to_owned(), vec![v])
        })
        .collect()
}

/// A context that satisfies the statement's conditions where it can tell how.
fn statement_context(s: &Statement) -> Context {
    let mut out: Context = Vec::new();
    for c in &s.conditions {
        let op = c.operator.rsplit(':').next().unwrap_or(&c.operator);
        let value = match op.strip_suffix("ifexists").unwrap_or(op) {
            "null" => {
                (c.values.first().map(String::as_str) == Some("false")).then(|| "probe".to_owned())
            }
            o if o.contains("not") => Some("probe-other".to_owned()),
            "stringequals"
            | "stringequalsignorecase"
            | "bool"
            | "arnequals"
            | "arnlike"
            | "stringlike" => c.values.first().map(|v| instance(v)),
            _ => None,
        };
        if let Some(v) = value
            && !out.iter().any(|(k, _)| *k == c.key)
        {
            out.push((c.key.clone(), vec![v]));
        }
    }
    out
}

fn probes(
    wants: &[Want],
    documents: &[&ResourcePolicy],
) -> BTreeSet<(Caller, &'static str, Context)> {
    let mut out = BTreeSet::new();
    let mut add = |callers: &[Caller], actions: &[&'static str], contexts: &[Context]| {
        for c in callers {
            for a in actions {
                for ctx in contexts {
                    let mut ctx = ctx.clone();
                    ctx.sort();
                    out.insert((c.clone(), *a, ctx));
                }
            }
        }
    };
    for w in wants {
        let base = want_context(w);
        let mut contexts = vec![base.clone()];
        for i in 0..base.len() {
            let mut without = base.clone();
            without.remove(i);
            contexts.push(without);
            let mut other = base.clone();
            other[i].1 = vec!["probe-other".into()];
            contexts.push(other);
            // StringLike's `*` crosses `:` where ArnLike's does not.
            if let Some((_, v)) = w
                .conditions
                .iter()
                .find(|(k, v)| is_pattern(k, v) && *k == base[i].0)
            {
                let mut crossing = base.clone();
                crossing[i].1 = vec![v.replace('*', "probe:probe").replace('?', "p")];
                contexts.push(crossing);
            }
        }
        let mut callers = callers_of(&w.principal);
        if let Principal::Account(a) = &w.principal {
            callers.push(Caller::Iam {
                account: OUTSIDER_ACCOUNT.into(),
                arn: format!("arn:aws:iam::{OUTSIDER_ACCOUNT}:role/{a}"),
            });
        }
        add(&callers, &INVOKE_ACTIONS, &contexts);
    }
    let want_contexts: Vec<Context> = wants.iter().map(want_context).collect();
    for doc in documents {
        for s in doc
            .statements
            .iter()
            .filter(|s| s.effect.eq_ignore_ascii_case("allow"))
        {
            let mut callers: Vec<Caller> = s.principals.iter().flat_map(callers_of).collect();
            if s.not_principal || s.principals.is_empty() {
                callers.extend(callers_of(&Principal::Any));
            }
            let own = statement_context(s);
            let mut contexts = vec![own.clone(), Vec::new()];
            for w in &want_contexts {
                let mut both = own.clone();
                both.extend(
                    w.iter()
                        .filter(|(k, _)| !own.iter().any(|(o, _)| o == k))
                        .cloned(),
                );
                contexts.push(both);
            }
            add(&callers, &INVOKE_ACTIONS, &contexts);
        }
    }
    add(&callers_of(&Principal::Any), &INVOKE_ACTIONS, &[Vec::new()]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::coverage::wants;
    use crate::plan::fixtures::{allow, doc};

    const FN: &str = "arn:aws:lambda:us-east-1:111122223333:function:f";

    fn check(entries: &str, desired: &str) -> Result<(), String> {
        let allow = allow(entries);
        let w: Vec<Want> = allow
            .iter()
            .enumerate()
            .flat_map(|(i, e)| wants(i, e))
            .collect();
        let desired = doc(desired);
        prove(&allow, &w, &[&desired], &desired, &Resource::Arn(FN.into()))
    }

    #[test]
    fn the_canonical_statements_prove() {
        assert_eq!(
            check(
                r#"[{"account": "111122223333"}, {"service": "s3.amazonaws.com", "sourceArn": "arn:aws:s3:::logs-*", "sourceAccount": "111122223333"}, {"functionUrl": "public"}]"#,
                r#"[{"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111122223333:root"}, "Action": "lambda:InvokeFunction"},
                    {"Effect": "Allow", "Principal": {"Service": "s3.amazonaws.com"}, "Action": "lambda:InvokeFunction", "Condition": {"ArnLike": {"AWS:SourceArn": "arn:aws:s3:::logs-*"}, "StringEquals": {"AWS:SourceAccount": "111122223333"}}},
                    {"Effect": "Allow", "Principal": "*", "Action": "lambda:InvokeFunctionUrl", "Condition": {"StringEquals": {"lambda:FunctionUrlAuthType": "NONE"}}},
                    {"Effect": "Allow", "Principal": "*", "Action": "lambda:InvokeFunction", "Condition": {"Bool": {"lambda:InvokedViaFunctionUrl": "true"}}}]"#
            ),
            Ok(())
        );
    }

    #[test]
    fn a_narrower_statement_alone_fails_the_proof() {
        let e = check(
            r#"[{"account": "111122223333"}]"#,
            r#"[{"Effect": "Allow", "Principal": {"AWS": "111122223333"}, "Action": "lambda:InvokeFunction", "Condition": {"Bool": {"aws:SecureTransport": "true"}}}]"#,
        )
        .expect_err("the root without TLS context loses access");
        assert!(e.contains("could not"), "{e}");
    }

    #[test]
    fn a_wider_statement_fails_the_proof() {
        for wider in [
            r#"{"Effect": "Allow", "Principal": "*", "Action": "lambda:InvokeFunction", "Condition": {"StringNotEquals": {"aws:PrincipalOrgID": "o-a1b2c3d4e5"}}}"#,
            r#"{"Effect": "Allow", "Principal": {"AWS": "444455556666"}, "Action": "lambda:InvokeAsync"}"#,
        ] {
            let e = check(
                r#"[{"service": "s3.amazonaws.com", "sourceArn": "arn:aws:s3:::logs-*", "sourceAccount": "111122223333"}]"#,
                &format!(
                    r#"[{{"Effect": "Allow", "Principal": {{"Service": "s3.amazonaws.com"}}, "Action": "lambda:InvokeFunction", "Condition": {{"ArnLike": {{"AWS:SourceArn": "arn:aws:s3:::logs-*"}}, "StringEquals": {{"AWS:SourceAccount": "111122223333"}}}}}}, {wider}]"#
                ),
            )
            .expect_err(wider);
            assert!(e.contains("although no allow entry"), "{wider}: {e}");
        }
    }

    #[test]
    fn string_like_is_wider_than_arn_like_on_the_same_pattern() {
        let entry = r#"[{"service": "sns.amazonaws.com", "sourceArn": "arn:aws:sns:*:111122223333:topic"}]"#;
        let with = |op: &str| {
            format!(
                r#"[{{"Effect": "Allow", "Principal": {{"Service": "sns.amazonaws.com"}}, "Action": "lambda:InvokeFunction", "Condition": {{"{op}": {{"AWS:SourceArn": "arn:aws:sns:*:111122223333:topic"}}}}}}]"#
            )
        };
        assert_eq!(check(entry, &with("ArnLike")), Ok(()));
        let e = check(entry, &with("StringLike")).expect_err("wider");
        assert!(e.contains("probe:probe"), "{e}");
    }
}
