//! How a statement stands to the allowlist, in request terms. Pure: no I/O.
//!
//! - A statement **covers** an entry when it allows every request the entry allows: the
//!   entry's principal and action, a `Resource` that certainly names this policy's resource,
//!   and no condition the entry does not have (each of its conditions holds for every request
//!   of the entry). Narrower is not covering.
//! - A statement is **inside** the allowlist when every request it allows is one some entry
//!   allows: each principal and invoke action it grants falls under an entry whose every
//!   condition the statement restricts to the entry's values (extra conditions only narrow).
//! - A statement is **dead** here when its `Resource` certainly names another resource: it
//!   grants nothing on this policy's resource.
//!
//! Each judgement leans to the safe side where it cannot be sure: a statement that may cover
//! but is not proven to does not (the entry gets its own statement), and one that may reach
//! outsiders is not inside (it loses its invoke grant).

use crate::allowlist::{AllowEntry, Grant, InvokeAction};
use crate::aws::arn::IamArn;
use crate::aws::arn::arn_like;
use crate::evaluator::{self, Resource, Tri};
use crate::resource_policy::{Condition, Principal, Statement};

use super::actions::{INVOKE_ACTION, INVOKE_ASYNC_ACTION, INVOKE_URL_ACTION, invoke_actions};

/// One statement an allow entry needs: a principal, an action and the conditions that must
/// narrow it. A public function URL needs two.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Want {
    pub entry: usize,
    pub principal: Principal,
    pub action: &'static str,
    /// (lower-cased key, value); a `aws:sourcearn` value may hold `*` and `?` (ArnLike).
    pub conditions: Vec<(&'static str, String)>,
}

pub fn wants(index: usize, entry: &AllowEntry) -> Vec<Want> {
    let action = entry.action.as_str();
    let url_iam = (entry.action == InvokeAction::InvokeFunctionUrl)
        .then(|| ("lambda:functionurlauthtype", "AWS_IAM".to_owned()));
    let want = |principal, action, conditions| Want {
        entry: index,
        principal,
        action,
        conditions,
    };
    match &entry.grant {
        Grant::Service(grant) => vec![want(
            Principal::Service(grant.service.as_str().to_ascii_lowercase()),
            INVOKE_ACTION,
            grant
                .conditions()
                .into_iter()
                .map(|(key, value)| (key, value.to_owned()))
                .collect(),
        )],
        Grant::Account(a) => vec![want(
            Principal::Account(a.as_str().to_owned()),
            action,
            url_iam.into_iter().collect(),
        )],
        Grant::Principal(p) => vec![want(
            Principal::from_aws(p.as_str()),
            action,
            url_iam.into_iter().collect(),
        )],
        Grant::Organization(o) => {
            let mut c = vec![("aws:principalorgid", o.as_str().to_owned())];
            c.extend(url_iam);
            vec![want(Principal::Any, action, c)]
        }
        Grant::PublicUrl => vec![
            want(
                Principal::Any,
                INVOKE_URL_ACTION,
                vec![("lambda:functionurlauthtype", "NONE".to_owned())],
            ),
            want(
                Principal::Any,
                INVOKE_ACTION,
                vec![("lambda:invokedviafunctionurl", "true".to_owned())],
            ),
        ],
    }
}

/// A `aws:sourcearn` entry value with `*` or `?` allows every ARN it matches as `ArnLike` does.
pub fn is_pattern(key: &str, value: &str) -> bool {
    key == "aws:sourcearn" && value.contains(['*', '?'])
}

/// The ARNs a request on this resource may be evaluated against: invoking `$LATEST` by name
/// reaches the unqualified policy too.
fn candidates(resource: &Resource) -> Vec<Resource> {
    match resource {
        Resource::Arn(arn) if arn.matches(':').count() == 6 => {
            vec![resource.clone(), Resource::Arn(format!("{arn}:$LATEST"))]
        }
        Resource::Named {
            name,
            qualifier: None,
        } => vec![
            resource.clone(),
            Resource::Named {
                name: name.clone(),
                qualifier: Some("$LATEST".into()),
            },
        ],
        _ => vec![resource.clone()],
    }
}

fn lowercase(r: &Resource) -> Resource {
    match r {
        Resource::Arn(a) => Resource::Arn(a.to_ascii_lowercase()),
        Resource::Named { name, qualifier } => Resource::Named {
            name: name.to_ascii_lowercase(),
            qualifier: qualifier.as_ref().map(|q| q.to_ascii_lowercase()),
        },
    }
}

/// A pattern that may match the resource: case aside, and `$LATEST` included.
fn may_match(pattern: &str, resource: &Resource) -> bool {
    let pattern = pattern.to_ascii_lowercase();
    candidates(resource)
        .iter()
        .any(|c| evaluator::resource_matches(&pattern, &lowercase(c)))
}

/// A pattern that matches the resource exactly as IAM matches it.
fn must_match(pattern: &str, resource: &Resource) -> bool {
    evaluator::resource_matches(pattern, resource)
}

/// Whether the statement may grant anything on this policy's resource.
pub fn may_reach(s: &Statement, resource: &Resource) -> bool {
    if s.resources.is_empty() {
        return true;
    }
    if s.not_resource {
        !s.resources.iter().any(|p| {
            candidates(resource)
                .iter()
                .all(|c| evaluator::resource_matches(p, c))
        })
    } else {
        s.resources.iter().any(|p| may_match(p, resource))
    }
}

/// Whether the statement certainly grants on this policy's resource.
fn must_reach(s: &Statement, resource: &Resource) -> bool {
    if s.resources.is_empty() {
        return true;
    }
    if s.not_resource {
        !s.resources.iter().any(|p| may_match(p, resource))
    } else {
        s.resources.iter().any(|p| must_match(p, resource))
    }
}

fn same_principal(a: &Principal, b: &Principal) -> bool {
    match (a, b) {
        (Principal::Service(x), Principal::Service(y)) => x.eq_ignore_ascii_case(y),
        _ => a == b,
    }
}

/// True when `s` allows every request the want allows.
pub fn covers(w: &Want, s: &Statement, resource: &Resource) -> bool {
    s.effect.eq_ignore_ascii_case("allow")
        && !s.not_principal
        && s.principals.iter().any(|p| same_principal(p, &w.principal))
        && invoke_actions(s).contains(&w.action)
        && must_reach(s, resource)
        && s.conditions.iter().all(|c| holds_for_every_request(c, w))
}

/// Whether a condition of a statement holds for every request the want allows.
fn holds_for_every_request(c: &Condition, w: &Want) -> bool {
    let Some((key, value)) = w.conditions.iter().find(|(k, _)| *k == c.key) else {
        // A key the entry says nothing of: its requests may carry any value, or none.
        return false;
    };
    if is_pattern(key, value) {
        let op = c.operator.strip_suffix("ifexists").unwrap_or(&c.operator);
        return matches!(op, "arnlike" | "arnequals" | "stringlike") && c.values.contains(value);
    }
    let context = [((*key).to_owned(), vec![value.clone()])];
    evaluator::condition_holds(c, &context) == Tri::Yes
}

/// `Ok` when every request `s` allows is allowed by some want; else why not. For a statement
/// granting invoke that may reach this resource.
pub fn inside(s: &Statement, wants: &[Want]) -> Result<(), String> {
    if s.not_principal {
        return Err(
            "uses NotPrincipal: grants invoke to everyone but the principals it names".into(),
        );
    }
    for action in invoke_actions(s) {
        for p in &s.principals {
            let under: Vec<&Want> = wants
                .iter()
                .filter(|w| principal_within(p, &w.principal))
                .collect();
            if under.is_empty() {
                return Err(match p {
                    Principal::Any => {
                        "grants invocation to anyone (\"*\") and no allow entry does".into()
                    }
                    p => format!("grants {} and no allow entry names it", p.as_parameter()),
                });
            }
            let same_action: Vec<&&Want> = under
                .iter()
                .filter(|w| action_within(action, w.action))
                .collect();
            if same_action.is_empty() {
                return Err(format!(
                    "grants {} {action}, which no allow entry gives it",
                    p.as_parameter()
                ));
            }
            if !same_action.iter().any(|w| restricted(s, w)) {
                let missing = same_action
                    .iter()
                    .flat_map(|w| w.conditions.iter())
                    .find(|(k, v)| !restricted_to(s, k, v))
                    .map_or_else(String::new, |(k, _)| {
                        format!(" (the entry's condition on {k})")
                    });
                return Err(format!(
                    "grants {} more than its allow entry{missing}: a condition of the entry missing, with another or several values, or widened by IfExists, a negation or a wider operator",
                    p.as_parameter()
                ));
            }
        }
    }
    Ok(())
}

fn principal_within(p: &Principal, of: &Principal) -> bool {
    match (p, of) {
        (_, Principal::Any) => true,
        (Principal::Aws(arn), Principal::Account(a)) => {
            IamArn::principal(arn).is_some_and(|arn| arn.account == a)
        }
        _ => same_principal(p, of),
    }
}

fn action_within(action: &str, of: &str) -> bool {
    action == of || (action == INVOKE_ASYNC_ACTION && of == INVOKE_ACTION)
}

fn restricted(s: &Statement, w: &Want) -> bool {
    w.conditions.iter().all(|(k, v)| restricted_to(s, k, v))
}

/// Whether some condition of `s` lets only values the entry allows through for `key`.
fn restricted_to(s: &Statement, key: &str, value: &str) -> bool {
    let pattern = is_pattern(key, value);
    let within = |u: &str, literal_op: bool| {
        let literal = literal_op || !u.contains(['*', '?']);
        if pattern {
            (literal && arn_like(value, u))
                || (!literal_op && u == value && !u.contains(['*', '?']))
        } else {
            literal && u == value
        }
    };
    s.conditions.iter().any(|c| {
        c.key == key
            && !c.values.is_empty()
            && match c.operator.as_str() {
                "stringequals" | "bool" => c.values.iter().all(|u| within(u, true)),
                "arnlike" | "arnequals" => c.values.iter().all(|u| u == value || within(u, false)),
                "stringlike" => c.values.iter().all(|u| within(u, false)),
                _ => false,
            }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::fixtures::{allow, statement};

    const FN: &str = "arn:aws:lambda:us-east-1:111122223333:function:f";

    fn wants_of(entries: &str) -> Vec<Want> {
        allow(entries)
            .iter()
            .enumerate()
            .flat_map(|(i, e)| wants(i, e))
            .collect()
    }

    fn fun() -> Resource {
        Resource::Arn(FN.into())
    }

    #[test]
    fn narrower_is_inside_but_not_covering() {
        let w = wants_of(r#"[{"account": "111122223333"}]"#);
        for extra in [
            r#""Condition": {"ArnLike": {"aws:PrincipalArn": "arn:aws:iam::111122223333:role/a"}}"#,
            r#""Condition": {"StringEquals": {"aws:SourceVpce": "vpce-1"}}"#,
            r#""Condition": {"Bool": {"aws:SecureTransport": "false"}}"#,
            r#""Condition": {"Null": {"aws:SourceIp": "true"}}"#,
            r#""Condition": {"StringNotEquals": {"aws:PrincipalTag/team": "x"}}"#,
        ] {
            let s = statement(&format!(
                r#"{{"Effect": "Allow", "Principal": {{"AWS": "111122223333"}}, "Action": "lambda:InvokeFunction", {extra}}}"#
            ));
            assert!(!covers(&w[0], &s, &fun()), "{extra}");
            assert_eq!(inside(&s, &w), Ok(()), "{extra}");
        }
    }

    #[test]
    fn a_resource_must_name_this_policy() {
        let w = wants_of(r#"[{"account": "111122223333"}]"#);
        let s = statement(&format!(
            r#"{{"Effect": "Allow", "Principal": {{"AWS": "111122223333"}}, "Action": "lambda:InvokeFunction", "Resource": "{FN}"}}"#
        ));
        let alias = Resource::Arn(format!("{FN}:live"));
        assert!(covers(&w[0], &s, &fun()));
        assert!(!covers(&w[0], &s, &alias));
        assert!(
            !may_reach(&s, &alias),
            "a statement for the function grants nothing on the alias"
        );
        let any = statement(&format!(
            r#"{{"Effect": "Allow", "Principal": "*", "Action": "lambda:InvokeFunction", "Resource": "{FN}:*"}}"#
        ));
        assert!(may_reach(&any, &alias));
        let cased = statement(&format!(
            r#"{{"Effect": "Allow", "Principal": {{"AWS": "111122223333"}}, "Action": "lambda:InvokeFunction", "Resource": "{}"}}"#,
            FN.to_uppercase()
        ));
        assert!(
            !covers(&w[0], &cased, &fun()),
            "IAM matches case-sensitively"
        );
        assert!(
            may_reach(&cased, &fun()),
            "but the safe side takes it as reaching"
        );
    }

    #[test]
    fn enumerated_values_compare_exactly() {
        let w = wants_of(r#"[{"functionUrl": "public"}]"#);
        let url = |v: &str| {
            statement(&format!(
                r#"{{"Effect": "Allow", "Principal": "*", "Action": "lambda:InvokeFunctionUrl", "Condition": {{"StringEquals": {{"lambda:FunctionUrlAuthType": "{v}"}}}}}}"#
            ))
        };
        assert!(covers(&w[0], &url("NONE"), &fun()));
        assert!(!covers(&w[0], &url("none"), &fun()));
        let via = |v: &str| {
            statement(&format!(
                r#"{{"Effect": "Allow", "Principal": "*", "Action": "lambda:InvokeFunction", "Condition": {{"Bool": {{"lambda:InvokedViaFunctionUrl": "{v}"}}}}}}"#
            ))
        };
        assert!(covers(&w[1], &via("true"), &fun()));
        assert!(!covers(&w[1], &via("TRUE"), &fun()));
    }

    #[test]
    fn a_wildcard_source_arn_is_covered_only_by_arn_like_on_the_same_pattern() {
        let w = wants_of(
            r#"[{"service": "s3.amazonaws.com", "sourceArn": "arn:aws:s3:::logs-*", "sourceAccount": "111122223333"}]"#,
        );
        let with = |op: &str, v: &str| {
            let account = r#""AWS:SourceAccount": "111122223333""#;
            let condition = if op == "StringEquals" {
                format!(r#"{{"StringEquals": {{"AWS:SourceArn": "{v}", {account}}}}}"#)
            } else {
                format!(r#"{{"{op}": {{"AWS:SourceArn": "{v}"}}, "StringEquals": {{{account}}}}}"#)
            };
            statement(&format!(
                r#"{{"Effect": "Allow", "Principal": {{"Service": "s3.amazonaws.com"}}, "Action": "lambda:InvokeFunction", "Condition": {condition}}}"#
            ))
        };
        assert!(covers(
            &w[0],
            &with("ArnLike", "arn:aws:s3:::logs-*"),
            &fun()
        ));
        assert!(!covers(
            &w[0],
            &with("StringEquals", "arn:aws:s3:::logs-*"),
            &fun()
        ));
        assert_eq!(
            inside(&with("StringEquals", "arn:aws:s3:::logs-*"), &w),
            Ok(())
        );
        assert!(
            inside(&with("StringLike", "arn:aws:s3:::logs-*"), &w).is_err(),
            "StringLike's * crosses ':'"
        );
        assert_eq!(inside(&with("ArnLike", "arn:aws:s3:::logs-1"), &w), Ok(()));
        assert!(inside(&with("ArnLike", "arn:aws:s3:::*"), &w).is_err());
    }

    #[test]
    fn wider_forms_are_outside() {
        let w = wants_of(
            r#"[{"service": "s3.amazonaws.com", "sourceArn": "arn:aws:s3:::b", "sourceAccount": "111122223333"}]"#,
        );
        for (text, why) in [
            (
                r#"{"Effect": "Allow", "Principal": {"Service": "s3.amazonaws.com"}, "Action": "lambda:InvokeFunction", "Condition": {"ArnLike": {"AWS:SourceArn": "arn:aws:s3:::b"}}}"#,
                "aws:sourceaccount",
            ),
            (
                r#"{"Effect": "Allow", "Principal": {"Service": "s3.amazonaws.com"}, "Action": "lambda:InvokeFunction", "Condition": {"ArnLike": {"AWS:SourceArn": ["arn:aws:s3:::b", "arn:aws:s3:::x"]}, "StringEquals": {"AWS:SourceAccount": "111122223333"}}}"#,
                "aws:sourcearn",
            ),
            (
                r#"{"Effect": "Allow", "Principal": {"Service": "s3.amazonaws.com"}, "Action": "lambda:InvokeFunction", "Condition": {"ArnLikeIfExists": {"AWS:SourceArn": "arn:aws:s3:::b"}, "StringEquals": {"AWS:SourceAccount": "111122223333"}}}"#,
                "aws:sourcearn",
            ),
            (
                r#"{"Effect": "Allow", "Principal": {"Service": "s3.amazonaws.com"}, "Action": "lambda:InvokeFunction", "Condition": {"ArnNotLike": {"AWS:SourceArn": "arn:aws:s3:::x"}, "StringEquals": {"AWS:SourceAccount": "111122223333"}}}"#,
                "aws:sourcearn",
            ),
            (
                r#"{"Effect": "Allow", "Principal": {"Service": "s3.amazonaws.com"}, "Action": "lambda:InvokeFunctionUrl", "Condition": {"ArnLike": {"AWS:SourceArn": "arn:aws:s3:::b"}, "StringEquals": {"AWS:SourceAccount": "111122223333"}}}"#,
                "no allow entry gives",
            ),
            (
                r#"{"Effect": "Allow", "Principal": {"Service": "sns.amazonaws.com"}, "Action": "lambda:InvokeFunction"}"#,
                "no allow entry names",
            ),
        ] {
            let e = inside(&statement(text), &w).expect_err(text);
            assert!(e.contains(why), "{text}: {e}");
        }
    }

    #[test]
    fn a_role_of_an_allowed_account_is_inside_it() {
        let w = wants_of(r#"[{"account": "111122223333"}]"#);
        let s = statement(
            r#"{"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111122223333:role/x"}, "Action": ["lambda:InvokeFunction", "lambda:InvokeAsync"]}"#,
        );
        assert_eq!(inside(&s, &w), Ok(()));
        assert!(!covers(&w[0], &s, &fun()));
    }
}
