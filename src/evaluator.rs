//! Does a resource policy allow a request? IAM's documented evaluation logic for one
//! resource-based policy, read from its statements: Effect, Principal/NotPrincipal,
//! Action/NotAction, Resource/NotResource and Condition (operators with `IfExists`, negations,
//! `Null`, `ForAnyValue`/`ForAllValues`). Pure: no I/O.
//!
//! The answer has three values: an operator this module does not evaluate (dates, binary)
//! on a key the request carries gives [`Tri::Unknown`], so a caller proving something
//! takes the safe side instead of a guess.

use std::net::IpAddr;

use crate::aws::arn::{arn_like, wildcard_match};
use crate::resource_policy::{Condition, Principal, ResourcePolicy, Statement};

/// Kleene's three-valued logic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tri {
    Yes,
    No,
    Unknown,
}

impl Tri {
    fn of(b: bool) -> Tri {
        if b { Tri::Yes } else { Tri::No }
    }

    fn and(self, other: Tri) -> Tri {
        match (self, other) {
            (Tri::No, _) | (_, Tri::No) => Tri::No,
            (Tri::Yes, Tri::Yes) => Tri::Yes,
            _ => Tri::Unknown,
        }
    }

    fn or(self, other: Tri) -> Tri {
        match (self, other) {
            (Tri::Yes, _) | (_, Tri::Yes) => Tri::Yes,
            (Tri::No, Tri::No) => Tri::No,
            _ => Tri::Unknown,
        }
    }

    fn not(self) -> Tri {
        match self {
            Tri::Yes => Tri::No,
            Tri::No => Tri::Yes,
            Tri::Unknown => Tri::Unknown,
        }
    }
}

/// Who makes the request.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Caller {
    /// An unauthenticated request (a function URL with auth type `NONE`).
    Anonymous,
    /// An AWS service principal such as `s3.amazonaws.com`.
    Service(String),
    /// An IAM identity of `account`: its root, or a role or user whose ARN is `arn`.
    Iam { account: String, arn: String },
}

/// The resource a request is made on. Without the home account and region only the
/// function's name and qualifier are known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resource {
    Arn(String),
    Named {
        name: String,
        qualifier: Option<String>,
    },
}

/// One request: a caller invoking an action on the resource, with the request context's keys
/// (lower-cased) and their values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub caller: Caller,
    pub action: String,
    pub resource: Resource,
    pub context: Vec<(String, Vec<String>)>,
}

impl Request {
    fn values(&self, key: &str) -> Option<&[String]> {
        self.context
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_slice())
    }
}

/// IAM's decision: allowed when some Allow statement applies and no Deny does.
pub fn allows(policy: &ResourcePolicy, request: &Request) -> Tri {
    let applies = |effect: &str| {
        policy
            .statements
            .iter()
            .filter(|s| s.effect.eq_ignore_ascii_case(effect))
            .fold(Tri::No, |acc, s| acc.or(applies(s, request)))
    };
    applies("Allow").and(applies("Deny").not())
}

/// Whether any Allow statement applies, ignoring Deny statements: what the Allow statements
/// grant, which is what the plan manages (Deny statements are the owner's and stay).
pub fn granted(policy: &ResourcePolicy, request: &Request) -> Tri {
    policy
        .statements
        .iter()
        .filter(|s| s.effect.eq_ignore_ascii_case("allow"))
        .fold(Tri::No, |acc, s| acc.or(applies(s, request)))
}

/// Whether an identity-side policy (a service control policy: no Principal element, it binds
/// the caller it is attached to) denies the request: some Deny statement applies. An SCP
/// allows nothing by itself; its Allow statements only cap, and `FullAWSAccess` is assumed.
pub fn identity_denies(policy: &ResourcePolicy, request: &Request) -> Tri {
    policy
        .statements
        .iter()
        .filter(|s| s.effect.eq_ignore_ascii_case("deny"))
        .fold(Tri::No, |acc, s| acc.or(matches(s, request, true)))
}

/// Whether one statement matches the request (whatever its effect).
pub fn applies(s: &Statement, request: &Request) -> Tri {
    matches(s, request, false)
}

/// `identity`: the statement binds its own caller, so the Principal element is not consulted.
fn matches(s: &Statement, request: &Request, identity: bool) -> Tri {
    let principal = s
        .principals
        .iter()
        .any(|p| principal_matches(p, &request.caller));
    // A statement with no Principal names nobody; with NotPrincipal it names everyone else.
    let principal = if identity {
        true
    } else if s.not_principal {
        !principal
    } else {
        principal
    };
    let action = s.actions.iter().any(|a| {
        wildcard_match(
            &a.to_ascii_lowercase(),
            &request.action.to_ascii_lowercase(),
        )
    });
    let action = if s.not_action { !action } else { action };
    let resource = if s.resources.is_empty() {
        // Lambda's resource policies may leave Resource out: then the policy's own resource.
        !s.not_resource
    } else {
        let any = s
            .resources
            .iter()
            .any(|p| resource_matches(p, &request.resource));
        if s.not_resource { !any } else { any }
    };
    if !(principal && action && resource) {
        return Tri::No;
    }
    s.conditions
        .iter()
        .fold(Tri::Yes, |acc, c| acc.and(condition(c, request)))
}

fn principal_matches(p: &Principal, caller: &Caller) -> bool {
    match (p, caller) {
        (Principal::Any, _) => true,
        (Principal::Service(s), Caller::Service(c)) => s.eq_ignore_ascii_case(c),
        (Principal::Account(a), Caller::Iam { account, .. }) => a == account,
        (Principal::Aws(arn), Caller::Iam { arn: c, .. }) => arn == c,
        _ => false,
    }
}

/// IAM matches `Resource` patterns case-sensitively, with `*` and `?` inside each ARN part.
pub fn resource_matches(pattern: &str, resource: &Resource) -> bool {
    if pattern == "*" {
        return true;
    }
    match resource {
        Resource::Arn(arn) => arn_like(pattern, arn),
        Resource::Named { name, qualifier } => {
            // Account and region unknown: the pattern's own are taken as the home's.
            let parts: Vec<&str> = pattern.splitn(6, ':').collect();
            let [arn, _, service, _, _, rest] = parts.as_slice() else {
                return false;
            };
            let wanted = match qualifier {
                Some(q) => format!("function:{name}:{q}"),
                None => format!("function:{name}"),
            };
            *arn == "arn" && wildcard_match(service, "lambda") && wildcard_match(rest, &wanted)
        }
    }
}

/// One condition against a request context of (lower-cased key, values).
pub fn condition_holds(c: &Condition, context: &[(String, Vec<String>)]) -> Tri {
    let request = Request {
        caller: Caller::Anonymous,
        action: String::new(),
        resource: Resource::Arn(String::new()),
        context: context.to_vec(),
    };
    condition(c, &request)
}

/// One condition: the operator applied to the request's values of the key.
fn condition(c: &Condition, request: &Request) -> Tri {
    let (set, op) = match c.operator.split_once(':') {
        Some((set @ ("forallvalues" | "foranyvalue"), op)) => (Some(set), op),
        _ => (None, c.operator.as_str()),
    };
    let (op, if_exists) = match op.strip_suffix("ifexists") {
        Some(base) => (base, true),
        None => (op, false),
    };
    let present = request.values(&c.key);
    if op == "null" {
        // `Null: true` asks that the key be absent.
        let wants_absent = c.values.iter().map(|v| v == "true");
        return wants_absent.fold(Tri::No, |acc, absent| {
            acc.or(Tri::of(absent == present.is_none()))
        });
    }
    let Some(values) = present else {
        return match set {
            // An empty set: every one of its values matches, vacuously.
            Some("forallvalues") => Tri::Yes,
            Some(_) => Tri::No,
            None if if_exists => Tri::Yes,
            // A negated operator on a missing key matches: nothing equals the values.
            None => Tri::of(negated(op)),
        };
    };
    let one = |v: &str| matches_one(op, v, &c.values);
    match set {
        Some("forallvalues") => values.iter().fold(Tri::Yes, |acc, v| acc.and(one(v))),
        Some(_) => values.iter().fold(Tri::No, |acc, v| acc.or(one(v))),
        None if negated(op) => values.iter().fold(Tri::Yes, |acc, v| acc.and(one(v))),
        None => values.iter().fold(Tri::No, |acc, v| acc.or(one(v))),
    }
}

fn negated(op: &str) -> bool {
    op.contains("not")
}

/// Whether one request value satisfies the operator against the policy's values (ORed; for a
/// negated operator, satisfied when it equals none of them).
fn matches_one(op: &str, value: &str, policy: &[String]) -> Tri {
    let any = |f: &dyn Fn(&str) -> Option<bool>| {
        policy
            .iter()
            .fold(Tri::No, |acc, p| acc.or(f(p).map_or(Tri::Unknown, Tri::of)))
    };
    let positive = |base: &str| match base {
        "stringequals" => any(&|p| Some(p == value)),
        "stringequalsignorecase" => any(&|p| Some(p.eq_ignore_ascii_case(value))),
        "stringlike" => any(&|p| Some(wildcard_match(p, value))),
        "arnequals" | "arnlike" => any(&|p| Some(arn_like(p, value))),
        // Enumerated values compare exactly: "TRUE" is not "true".
        "bool" => any(&|p| Some(p == value)),
        "numericequals" => any(&|p| numeric(p, value, |a, b| a == b)),
        "numericlessthan" => any(&|p| numeric(p, value, |a, b| a < b)),
        "numericlessthanequals" => any(&|p| numeric(p, value, |a, b| a <= b)),
        "numericgreaterthan" => any(&|p| numeric(p, value, |a, b| a > b)),
        "numericgreaterthanequals" => any(&|p| numeric(p, value, |a, b| a >= b)),
        "ipaddress" => any(&|p| ip_in(p, value)),
        _ => Tri::Unknown,
    };
    match op {
        "stringnotequals" => positive("stringequals").not(),
        "stringnotequalsignorecase" => positive("stringequalsignorecase").not(),
        "stringnotlike" => positive("stringlike").not(),
        "arnnotequals" | "arnnotlike" => positive("arnlike").not(),
        "numericnotequals" => positive("numericequals").not(),
        "notipaddress" => positive("ipaddress").not(),
        base => positive(base),
    }
}

fn numeric(policy: &str, value: &str, cmp: fn(f64, f64) -> bool) -> Option<bool> {
    Some(cmp(value.parse().ok()?, policy.parse().ok()?))
}

fn ip_in(cidr: &str, value: &str) -> Option<bool> {
    let (net, bits) = cidr.split_once('/').unwrap_or((cidr, ""));
    let net: IpAddr = net.parse().ok()?;
    let ip: IpAddr = value.parse().ok()?;
    let (net, ip, width) = match (net, ip) {
        (IpAddr::V4(n), IpAddr::V4(i)) => (u128::from(n.to_bits()), u128::from(i.to_bits()), 32),
        (IpAddr::V6(n), IpAddr::V6(i)) => (n.to_bits(), i.to_bits(), 128),
        _ => return Some(false),
    };
    let bits: u32 = if bits.is_empty() {
        width
    } else {
        bits.parse().ok()?
    };
    if bits > width {
        return None;
    }
    let shift = width - bits;
    Some(shift >= 128 || (net >> shift) == (ip >> shift))
}

#[cfg(test)]
mod tests {
    use super::*;

    const FN: &str = "arn:aws:lambda:us-east-1:111122223333:function:f";

    fn policy(statements: &str) -> ResourcePolicy {
        ResourcePolicy::parse(&format!(r#"{{"Statement": {statements}}}"#)).expect("parses")
    }

    fn request(caller: Caller, context: &[(&str, &str)]) -> Request {
        Request {
            caller,
            action: "lambda:InvokeFunction".into(),
            resource: Resource::Arn(FN.into()),
            context: context
                .iter()
                .map(|(k, v)| ((*k).to_owned(), vec![(*v).to_owned()]))
                .collect(),
        }
    }

    fn s3() -> Caller {
        Caller::Service("s3.amazonaws.com".into())
    }

    fn role(account: &str) -> Caller {
        Caller::Iam {
            account: account.into(),
            arn: format!("arn:aws:iam::{account}:role/ops"),
        }
    }

    #[test]
    fn principals_match_by_kind() {
        let p = policy(
            r#"[{"Effect": "Allow", "Principal": {"AWS": "111122223333", "Service": "S3.amazonaws.com"}, "Action": "lambda:InvokeFunction"}]"#,
        );
        assert_eq!(allows(&p, &request(s3(), &[])), Tri::Yes);
        assert_eq!(allows(&p, &request(role("111122223333"), &[])), Tri::Yes);
        assert_eq!(allows(&p, &request(role("999999999999"), &[])), Tri::No);
        assert_eq!(allows(&p, &request(Caller::Anonymous, &[])), Tri::No);
    }

    #[test]
    fn deny_wins_and_not_elements_invert() {
        let p = policy(
            r#"[{"Effect": "Allow", "NotPrincipal": {"AWS": "111122223333"}, "NotAction": "lambda:GetPolicy"},
                {"Effect": "Deny", "Principal": "*", "Action": "lambda:*", "Condition": {"StringEquals": {"aws:SourceAccount": "444455556666"}}}]"#,
        );
        assert_eq!(allows(&p, &request(role("999999999999"), &[])), Tri::Yes);
        assert_eq!(allows(&p, &request(role("111122223333"), &[])), Tri::No);
        assert_eq!(
            allows(&p, &request(s3(), &[("aws:sourceaccount", "444455556666")])),
            Tri::No
        );
        assert_eq!(
            granted(&p, &request(s3(), &[("aws:sourceaccount", "444455556666")])),
            Tri::Yes
        );
    }

    #[test]
    fn resource_must_name_the_policys_own_resource() {
        let p = policy(&format!(
            r#"[{{"Effect": "Allow", "Principal": "*", "Action": "lambda:InvokeFunction", "Resource": "{FN}"}}]"#
        ));
        let mut alias = request(Caller::Anonymous, &[]);
        alias.resource = Resource::Arn(format!("{FN}:live"));
        assert_eq!(allows(&p, &alias), Tri::No);
        assert_eq!(allows(&p, &request(Caller::Anonymous, &[])), Tri::Yes);
        let named = Resource::Named {
            name: "f".into(),
            qualifier: Some("live".into()),
        };
        assert!(resource_matches("arn:aws:lambda:*:*:function:f:*", &named));
        assert!(!resource_matches(FN, &named));
    }

    #[test]
    fn operators_compare_as_iam_does() {
        let cases = [
            // (operator, policy value, request value or absent, expected)
            (
                "StringEquals",
                "arn:aws:s3:::logs-*",
                Some("arn:aws:s3:::logs-1"),
                Tri::No,
            ),
            (
                "ArnLike",
                "arn:aws:s3:::logs-*",
                Some("arn:aws:s3:::logs-1"),
                Tri::Yes,
            ),
            (
                "StringLike",
                "arn:aws:sns:*:1:t",
                Some("arn:aws:sns:a:b:1:t"),
                Tri::Yes,
            ),
            (
                "ArnLike",
                "arn:aws:sns:*:1:t",
                Some("arn:aws:sns:a:b:1:t"),
                Tri::No,
            ),
            ("StringEquals", "NONE", Some("none"), Tri::No),
            ("StringEqualsIgnoreCase", "NONE", Some("none"), Tri::Yes),
            ("Bool", "TRUE", Some("true"), Tri::No),
            ("StringNotEquals", "o-1", Some("o-2"), Tri::Yes),
            ("StringNotEquals", "o-1", None, Tri::Yes),
            ("StringEquals", "o-1", None, Tri::No),
            ("StringEqualsIfExists", "o-1", None, Tri::Yes),
            ("Null", "true", None, Tri::Yes),
            ("Null", "false", None, Tri::No),
            ("Null", "false", Some("x"), Tri::Yes),
            ("ForAllValues:StringEquals", "a", None, Tri::Yes),
            ("ForAnyValue:StringEquals", "a", None, Tri::No),
            ("IpAddress", "10.0.0.0/8", Some("10.1.2.3"), Tri::Yes),
            ("NotIpAddress", "10.0.0.0/8", Some("10.1.2.3"), Tri::No),
            ("NumericLessThan", "10", Some("3"), Tri::Yes),
            (
                "DateLessThan",
                "2020-01-01T00:00:00Z",
                Some("2019-01-01T00:00:00Z"),
                Tri::Unknown,
            ),
            ("DateLessThan", "2020-01-01T00:00:00Z", None, Tri::No),
        ];
        for (op, value, present, expected) in cases {
            let p = policy(&format!(
                r#"[{{"Effect": "Allow", "Principal": "*", "Action": "lambda:InvokeFunction", "Condition": {{"{op}": {{"aws:K": "{value}"}}}}}}]"#
            ));
            let context: Vec<(&str, &str)> = present.map(|v| ("aws:k", v)).into_iter().collect();
            assert_eq!(
                allows(&p, &request(Caller::Anonymous, &context)),
                expected,
                "{op} {value} {present:?}"
            );
        }
    }

    #[test]
    fn an_identity_side_deny_binds_its_caller_without_a_principal() {
        let p = policy(
            r#"[{"Effect": "Deny", "Action": "lambda:AddPermission", "Resource": "*",
                "Condition": {"StringNotEquals": {"lambda:Principal": "s3.amazonaws.com"},
                              "ArnNotLike": {"aws:PrincipalArn": "arn:aws:iam::*:role/guard"}}}]"#,
        );
        let r = |principal: &str, arn: &str| Request {
            caller: role("111122223333"),
            action: "lambda:AddPermission".into(),
            resource: Resource::Arn(FN.into()),
            context: vec![
                ("lambda:principal".into(), vec![principal.into()]),
                ("aws:principalarn".into(), vec![arn.into()]),
            ],
        };
        let ops = "arn:aws:iam::111122223333:role/ops";
        assert_eq!(identity_denies(&p, &r("*", ops)), Tri::Yes);
        assert_eq!(identity_denies(&p, &r("s3.amazonaws.com", ops)), Tri::No);
        let guard = "arn:aws:iam::111122223333:role/guard";
        assert_eq!(identity_denies(&p, &r("*", guard)), Tri::No);
        // The same statement in a resource policy names nobody: no Principal element.
        assert_eq!(applies(&p.statements[0], &r("*", ops)), Tri::No);
    }

    #[test]
    fn several_keys_are_anded_and_several_values_ored() {
        let p = policy(
            r#"[{"Effect": "Allow", "Principal": {"Service": "s3.amazonaws.com"}, "Action": "lambda:InvokeFunction",
                "Condition": {"ArnLike": {"AWS:SourceArn": ["arn:aws:s3:::a", "arn:aws:s3:::b"]}, "StringEquals": {"aws:SourceAccount": "1"}}}]"#,
        );
        let r = |arn, account| {
            request(
                s3(),
                &[("aws:sourcearn", arn), ("aws:sourceaccount", account)],
            )
        };
        assert_eq!(allows(&p, &r("arn:aws:s3:::b", "1")), Tri::Yes);
        assert_eq!(allows(&p, &r("arn:aws:s3:::c", "1")), Tri::No);
        assert_eq!(allows(&p, &r("arn:aws:s3:::a", "2")), Tri::No);
    }
}
