//! ARNs: a Lambda function's ARN read into its parts once ([`FunctionArn`]), and wildcard
//! matching with IAM's `ArnLike` semantics.

use std::fmt;

/// `arn:PARTITION:lambda:REGION:ACCOUNT:function:NAME[:QUALIFIER]`, read once: every place that
/// needs a function's account, region or name asks this type instead of splitting on `:`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FunctionArn<'a> {
    pub partition: &'a str,
    pub region: &'a str,
    pub account: &'a str,
    pub name: &'a str,
    /// A version number, `$LATEST` or an alias; `None` for the unqualified function.
    pub qualifier: Option<&'a str>,
}

impl<'a> FunctionArn<'a> {
    /// `None` for anything that is not a Lambda function ARN with a valid partition, a region,
    /// a 12-digit account and a name.
    pub fn parse(arn: &'a str) -> Option<FunctionArn<'a>> {
        let mut parts = arn.split(':');
        if parts.next() != Some("arn") {
            return None;
        }
        let partition = parts.next().filter(|p| is_partition(p))?;
        if parts.next() != Some("lambda") {
            return None;
        }
        let region = parts.next().filter(|r| !r.is_empty())?;
        let account = parts.next().filter(|a| is_account_id(a))?;
        if parts.next() != Some("function") {
            return None;
        }
        let name = parts.next().filter(|n| !n.is_empty())?;
        let qualifier = match (parts.next(), parts.next()) {
            (None, _) => None,
            (Some(q), None) if !q.is_empty() => Some(q),
            _ => return None,
        };
        Some(FunctionArn {
            partition,
            region,
            account,
            name,
            qualifier,
        })
    }

    /// The same function without its qualifier.
    pub fn unqualified(self) -> FunctionArn<'a> {
        FunctionArn {
            qualifier: None,
            ..self
        }
    }
}

/// A function as Lambda's API names it: its ARN, the partial `ACCOUNT:function:NAME`, or
/// `NAME`, each optionally followed by `:QUALIFIER`. The name's characters are not judged here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FunctionName<'a> {
    /// Set when the whole ARN was given.
    pub arn: Option<FunctionArn<'a>>,
    pub account: Option<&'a str>,
    pub name: &'a str,
    pub qualifier: Option<&'a str>,
}

impl<'a> FunctionName<'a> {
    /// `None` for a string with more parts than any of the three forms has, an empty name or
    /// an empty qualifier.
    pub fn parse(s: &'a str) -> Option<FunctionName<'a>> {
        if let Some(arn) = FunctionArn::parse(s) {
            return Some(FunctionName {
                arn: Some(arn),
                account: Some(arn.account),
                name: arn.name,
                qualifier: arn.qualifier,
            });
        }
        if s.starts_with("arn:") {
            return None;
        }
        let (account, rest) = match s.split_once(":function:") {
            Some((account, rest)) if is_account_id(account) => (Some(account), rest),
            Some(_) => return None,
            None => (None, s),
        };
        let (name, qualifier) = match rest.split_once(':') {
            Some((name, q)) if !q.is_empty() && !q.contains(':') => (name, Some(q)),
            Some(_) => return None,
            None => (rest, None),
        };
        (!name.is_empty()).then_some(FunctionName {
            arn: None,
            account,
            name,
            qualifier,
        })
    }
}

impl fmt::Display for FunctionArn<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "arn:{}:lambda:{}:{}:function:{}",
            self.partition, self.region, self.account, self.name
        )?;
        match self.qualifier {
            Some(q) => write!(f, ":{q}"),
            None => Ok(()),
        }
    }
}

/// `arn:PARTITION:SERVICE::ACCOUNT:RESOURCE` of IAM or STS (global services: no region), read
/// once: every place that needs a principal's account or role asks this type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IamArn<'a> {
    pub partition: &'a str,
    /// `iam` or `sts`.
    pub service: &'a str,
    pub account: &'a str,
    /// `root`, `user/…`, `role/[PATH/]NAME`, `assumed-role/ROLE/SESSION`…
    pub resource: &'a str,
}

impl<'a> IamArn<'a> {
    /// `None` for anything that is not an IAM or STS ARN with a valid partition, no region, a
    /// 12-digit account and a resource.
    pub fn parse(arn: &'a str) -> Option<IamArn<'a>> {
        let mut parts = arn.splitn(6, ':');
        if parts.next() != Some("arn") {
            return None;
        }
        let partition = parts.next().filter(|p| is_partition(p))?;
        let service = parts.next().filter(|s| matches!(*s, "iam" | "sts"))?;
        if parts.next() != Some("") {
            return None;
        }
        let account = parts.next().filter(|a| is_account_id(a))?;
        let resource = parts.next().filter(|r| !r.is_empty())?;
        Some(IamArn {
            partition,
            service,
            account,
            resource,
        })
    }

    /// An IAM principal an allow entry may name: an account root, a user or a role.
    pub fn principal(arn: &'a str) -> Option<IamArn<'a>> {
        IamArn::parse(arn).filter(|a| {
            let named = |prefix: &str| {
                a.resource
                    .strip_prefix(prefix)
                    .is_some_and(|n| !n.is_empty())
            };
            a.service == "iam" && (a.resource == "root" || named("user/") || named("role/"))
        })
    }

    /// A role's name, without its path (`role/service/NAME` → `NAME`).
    pub fn role_name(&self) -> Option<&'a str> {
        if self.service != "iam" {
            return None;
        }
        self.resource
            .strip_prefix("role/")
            .and_then(|r| r.rsplit('/').next())
    }

    /// An STS session's role name and session name (`assumed-role/ROLE/SESSION`).
    pub fn assumed_role(&self) -> Option<(&'a str, &'a str)> {
        if self.service != "sts" {
            return None;
        }
        self.resource
            .strip_prefix("assumed-role/")
            .and_then(|r| r.split_once('/'))
    }
}

/// `aws`, `aws-cn`, `aws-us-gov`, `aws-iso`, `aws-iso-b`, `aws-eusc`…
pub fn is_partition(v: &str) -> bool {
    v == "aws"
        || v.strip_prefix("aws-").is_some_and(|rest| {
            !rest.is_empty() && rest.bytes().all(|b| b.is_ascii_lowercase() || b == b'-')
        })
}

pub fn is_account_id(v: &str) -> bool {
    v.len() == 12 && v.bytes().all(|b| b.is_ascii_digit())
}

/// `ArnLike`: both sides are split into the six ARN parts and each part is matched on its own,
/// so a `*` in the region never swallows a `:`. Case-sensitive, like IAM.
pub fn arn_like(pattern: &str, value: &str) -> bool {
    let p: Vec<&str> = pattern.splitn(6, ':').collect();
    let v: Vec<&str> = value.splitn(6, ':').collect();
    p.len() == 6 && v.len() == 6 && p.iter().zip(&v).all(|(p, v)| wildcard_match(p, v))
}

/// `StringLike`: `*` matches any run of characters, `?` any one character.
pub fn wildcard_match(pattern: &str, value: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let v: Vec<char> = value.chars().collect();
    let (mut pi, mut vi) = (0, 0);
    // Position of the last `*` seen and the value index it is currently matched up to.
    let mut star: Option<(usize, usize)> = None;
    while vi < v.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == v[vi]) {
            pi += 1;
            vi += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, vi));
            pi += 1;
        } else if let Some((sp, sv)) = star {
            pi = sp + 1;
            vi = sv + 1;
            star = Some((sp, sv + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_function_arn_is_read_into_its_parts_and_written_back() {
        let arn = "arn:aws-us-gov:lambda:us-gov-west-1:111122223333:function:orders:live";
        let f = FunctionArn::parse(arn).expect("a function ARN");
        assert_eq!(
            (f.partition, f.region, f.account, f.name, f.qualifier),
            (
                "aws-us-gov",
                "us-gov-west-1",
                "111122223333",
                "orders",
                Some("live")
            )
        );
        assert_eq!(f.to_string(), arn);
        assert_eq!(
            f.unqualified().to_string(),
            "arn:aws-us-gov:lambda:us-gov-west-1:111122223333:function:orders"
        );
        for bad in [
            "arn:aws:lambda:us-east-1:1111:function:f",
            "arn:aws:s3:us-east-1:111122223333:function:f",
            "arn:aws:lambda:us-east-1:111122223333:layer:f",
            "arn:aws:lambda::111122223333:function:f",
            "arn:aws:lambda:us-east-1:111122223333:function:",
            "arn:aws:lambda:us-east-1:111122223333:function:f:1:2",
            "arn:aws:lambda:us-east-1:111122223333:function:f:",
            "arn:nope:lambda:us-east-1:111122223333:function:f",
        ] {
            assert_eq!(FunctionArn::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn iam_and_sts_arns_are_read_into_their_parts() {
        let role = IamArn::parse("arn:aws-cn:iam::111122223333:role/service/Guard").expect("role");
        assert_eq!(
            (role.partition, role.service, role.account, role.resource),
            ("aws-cn", "iam", "111122223333", "role/service/Guard")
        );
        assert_eq!(role.role_name(), Some("Guard"));
        let session =
            IamArn::parse("arn:aws:sts::111122223333:assumed-role/Guard/s:1").expect("session");
        assert_eq!(session.assumed_role(), Some(("Guard", "s:1")));
        assert_eq!(session.role_name(), None);
        assert!(IamArn::principal("arn:aws:iam::111122223333:root").is_some());
        for bad in [
            "arn:aws:iam::111122223333:group/ops",
            "arn:aws:iam::111122223333:role/",
            "arn:aws:sts::111122223333:assumed-role/Guard/s",
        ] {
            assert_eq!(IamArn::principal(bad), None, "{bad}");
        }
        for bad in [
            "arn:aws:iam:us-east-1:111122223333:root",
            "arn:aws:iam::1111:root",
            "arn:aws:s3:::bucket",
            "arn:nope:iam::111122223333:root",
            "arn:aws:iam::111122223333:",
        ] {
            assert_eq!(IamArn::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn a_function_is_named_by_arn_partial_arn_or_name_each_maybe_qualified() {
        let parts = |s| FunctionName::parse(s).map(|f| (f.account, f.name, f.qualifier));
        assert_eq!(parts("orders"), Some((None, "orders", None)));
        assert_eq!(parts("orders:live"), Some((None, "orders", Some("live"))));
        assert_eq!(
            parts("111122223333:function:orders:7"),
            Some((Some("111122223333"), "orders", Some("7")))
        );
        assert_eq!(
            parts("arn:aws:lambda:eu-west-1:111122223333:function:orders"),
            Some((Some("111122223333"), "orders", None))
        );
        for bad in [
            "",
            "orders:",
            ":live",
            "orders:live:x",
            "1111:function:orders",
            "arn:aws:lambda:eu-west-1:1111:function:orders",
        ] {
            assert_eq!(FunctionName::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn wildcards_match_runs_and_single_characters() {
        assert!(wildcard_match("lambda*", "lambda-topic"));
        assert!(wildcard_match("a?c", "abc"));
        assert!(wildcard_match("*", ""));
        assert!(!wildcard_match("a?c", "ac"));
        assert!(wildcard_match("*a*b*", "xxaxxbxx"));
        assert!(!wildcard_match("*a*b", "xxaxxbxxc"));
    }

    #[test]
    fn arn_like_matches_part_by_part() {
        assert!(arn_like("arn:aws:s3:::uploads", "arn:aws:s3:::uploads"));
        assert!(!arn_like(
            "arn:aws:s3:::uploads",
            "arn:aws:s3:::uploads-other"
        ));
        assert!(arn_like(
            "arn:aws:logs:us-east-1:123456789012:log-group:/aws/x:*",
            "arn:aws:logs:us-east-1:123456789012:log-group:/aws/x:log-stream:y"
        ));
        // A `*` in the region may not span into the account part.
        assert!(!arn_like(
            "arn:aws:sns:*:topic",
            "arn:aws:sns:us-east-1:123456789012:topic"
        ));
        assert!(arn_like(
            "arn:aws:sns:*:*:lambda*",
            "arn:aws:sns:us-east-2:123456789012:lambda-x"
        ));
        assert!(!arn_like("arn:aws:s3:::Uploads", "arn:aws:s3:::uploads"));
    }
}
