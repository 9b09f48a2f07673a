//! Validated string types of the policies file. Each one is checked while the file is being
//! deserialized, so a bad value is reported with its line, column and JSON path.

use std::borrow::Cow;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Serialize};

use super::arn::{FunctionArn, IamArn};
// The syntax of ARN parts lives with the ARN reader; ids re-export it for the newtypes' users.
pub use super::arn::{is_account_id, is_partition};

/// Declares a string newtype accepted when `$valid` holds, with a JSON Schema carrying
/// `$pattern`; a refused value is reported as "`$expected`, got VALUE".
macro_rules! validated_string {
    ($(#[$doc:meta])* $name:ident, $pattern:expr, $expected:expr, $valid:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = String;
            fn try_from(value: String) -> Result<Self, String> {
                let valid: fn(&str) -> bool = $valid;
                if valid(&value) {
                    Ok(Self(value))
                } else {
                    Err(format!("{}, got {value:?}", $expected))
                }
            }
        }

        impl From<$name> for String {
            fn from(value: $name) -> String {
                value.0
            }
        }

        // Ord, Eq and Hash are the inner string's, so maps keyed by this type look up by `&str`.
        impl std::borrow::Borrow<str> for $name {
            fn borrow(&self) -> &str {
                &self.0
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl JsonSchema for $name {
            fn schema_name() -> Cow<'static, str> {
                Cow::Borrowed(stringify!($name))
            }
            fn json_schema(_: &mut SchemaGenerator) -> Schema {
                json_schema!({ "type": "string", "pattern": $pattern })
            }
        }
    };
}

validated_string!(
    /// A 12-digit AWS account id.
    AccountId,
    "^[0-9]{12}$",
    "expected a 12-digit AWS account id",
    is_account_id
);

validated_string!(
    /// An AWS service principal such as `s3.amazonaws.com`, `logs.us-east-1.amazonaws.com`,
    /// `events.amazonaws.com.cn` or `alexa-appkit.amazon.com`.
    ServicePrincipal,
    "^[a-z0-9][a-z0-9.-]*\\.(amazonaws\\.com(\\.cn)?|amazon\\.com)$",
    "expected a service principal such as \"s3.amazonaws.com\" (lower case)",
    |v| {
        let host = v
            .strip_suffix(".amazonaws.com")
            .or_else(|| v.strip_suffix(".amazonaws.com.cn"))
            .or_else(|| v.strip_suffix(".amazon.com"));
        host.is_some_and(|h| {
            !h.is_empty()
                && h.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-')
                && !h.starts_with(['.', '-'])
        })
    }
);

validated_string!(
    /// An ARN pattern for `aws:SourceArn`; `*` and `?` are wildcards (ArnLike semantics).
    SourceArnPattern,
    "^arn:[^:]+:[^:]+:[^:]*:[^:]*:.+$",
    "expected an ARN (wildcards * and ? allowed) such as \"arn:aws:s3:::my-bucket\"",
    |v| {
        let parts: Vec<&str> = v.splitn(6, ':').collect();
        parts.len() == 6
            && parts[0] == "arn"
            && !parts[1].is_empty()
            && !parts[2].is_empty()
            && !parts[5].is_empty()
            && (parts[4].is_empty() || parts[4].contains(['*', '?']) || is_account_id(parts[4]))
            && !v.chars().any(char::is_whitespace)
    }
);

validated_string!(
    /// AddPermission's `EventSourceToken` (an Alexa skill id, for example), stored as the
    /// condition `lambda:EventSourceToken`.
    EventSourceToken,
    "^[a-zA-Z0-9._\\-]{1,256}$",
    "expected an event source token (letters, digits, '.', '_', '-')",
    |v| {
        (1..=256).contains(&v.len())
            && v.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
    }
);

validated_string!(
    /// An IAM principal ARN: an account root, a user or a role.
    PrincipalArn,
    "^arn:aws(-[a-z-]+)?:iam::[0-9]{12}:(root|user/.+|role/.+)$",
    "expected an IAM principal ARN such as \"arn:aws:iam::111122223333:role/ops\" (root, user/… or role/…)",
    |v| IamArn::principal(v).is_some()
);

validated_string!(
    /// An AWS Organizations id such as `o-a1b2c3d4e5`.
    OrganizationId,
    "^o-[a-z0-9]{10,32}$",
    "expected an organization id such as \"o-a1b2c3d4e5\"",
    |v| {
        v.strip_prefix("o-").is_some_and(|rest| {
            (10..=32).contains(&rest.len())
                && rest.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        })
    }
);

validated_string!(
    /// An alias or version whose resource policy is managed too (not `$LATEST`).
    Qualifier,
    "^[a-zA-Z0-9_-]{1,128}$",
    "expected an alias name or version number (\"$LATEST\" has no policy of its own)",
    |v| {
        !v.is_empty()
            && v.len() <= 128
            && v.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    }
);

validated_string!(
    /// A function name or an unqualified function ARN.
    FunctionKey,
    "^([a-zA-Z0-9_-]{1,64}|arn:aws(-[a-z-]+)?:lambda:[a-z0-9-]+:[0-9]{12}:function:[a-zA-Z0-9_-]{1,64})$",
    "expected a function name or an unqualified function ARN (arn:aws:lambda:REGION:ACCOUNT:function:NAME)",
    |v| match v.strip_prefix("arn:") {
        Some(_) => FunctionArn::parse(v)
            .is_some_and(|f| f.qualifier.is_none() && is_function_name(f.name)),
        None => is_function_name(v),
    }
);

impl FunctionKey {
    /// The function name, whether the key is a name or an ARN.
    pub fn name(&self) -> &str {
        FunctionArn::parse(&self.0).map_or(&self.0, |f| f.name)
    }

    /// The unqualified ARN, when the key is one.
    pub fn arn(&self) -> Option<&str> {
        self.0.starts_with("arn:").then_some(self.0.as_str())
    }
}

pub fn is_function_name(v: &str) -> bool {
    (1..=64).contains(&v.len())
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok<T: TryFrom<String, Error = String>>(v: &str) -> bool {
        T::try_from(v.to_owned()).is_ok()
    }

    #[test]
    fn account_ids_are_twelve_digits() {
        assert!(ok::<AccountId>("111122223333"));
        assert!(!ok::<AccountId>("11112222333"));
        assert!(!ok::<AccountId>("11112222333a"));
    }

    #[test]
    fn service_principals_are_lower_case_amazonaws_hosts() {
        assert!(ok::<ServicePrincipal>("s3.amazonaws.com"));
        assert!(ok::<ServicePrincipal>("logs.us-east-1.amazonaws.com"));
        assert!(!ok::<ServicePrincipal>("S3.amazonaws.com"));
        assert!(!ok::<ServicePrincipal>("amazonaws.com"));
        assert!(!ok::<ServicePrincipal>("s3.example.com"));
        assert!(ok::<ServicePrincipal>("alexa-appkit.amazon.com"));
        assert!(ok::<ServicePrincipal>("events.amazonaws.com.cn"));
        assert!(!ok::<ServicePrincipal>("amazon.com"));
    }

    #[test]
    fn source_arns_need_six_parts_and_a_valid_account() {
        assert!(ok::<SourceArnPattern>("arn:aws:s3:::uploads"));
        assert!(ok::<SourceArnPattern>(
            "arn:aws:sns:us-east-2:123456789012:lambda*"
        ));
        assert!(ok::<SourceArnPattern>(
            "arn:aws:logs:us-east-1:*:log-group:x:*"
        ));
        assert!(!ok::<SourceArnPattern>("arn:aws:s3::uploads"));
        assert!(!ok::<SourceArnPattern>("arn:aws:sns:us-east-2:1234:topic"));
        assert!(!ok::<SourceArnPattern>("uploads"));
    }

    #[test]
    fn principals_are_iam_roots_users_or_roles() {
        assert!(ok::<PrincipalArn>("arn:aws:iam::999999999999:role/ops"));
        assert!(ok::<PrincipalArn>("arn:aws:iam::999999999999:root"));
        assert!(!ok::<PrincipalArn>(
            "arn:aws:sts::999999999999:assumed-role/ops/s"
        ));
        assert!(!ok::<PrincipalArn>("arn:aws:iam::999999999999:group/ops"));
    }

    #[test]
    fn function_keys_are_names_or_unqualified_arns() {
        assert!(ok::<FunctionKey>("BlogFunction"));
        assert!(ok::<FunctionKey>(
            "arn:aws:lambda:us-east-1:111122223333:function:Blog"
        ));
        assert!(!ok::<FunctionKey>(
            "arn:aws:lambda:us-east-1:111122223333:function:Blog:prod"
        ));
        assert!(!ok::<FunctionKey>("Blog Function"));
        let key =
            FunctionKey::try_from("arn:aws:lambda:us-east-1:111122223333:function:Blog".to_owned());
        assert_eq!(key.map(|k| k.name().to_owned()), Ok("Blog".to_owned()));
    }

    #[test]
    fn qualifiers_exclude_latest_and_odd_characters() {
        assert!(ok::<Qualifier>("prod"));
        assert!(ok::<Qualifier>("7"));
        assert!(!ok::<Qualifier>("$LATEST"));
        assert!(!ok::<Qualifier>(""));
    }

    #[test]
    fn organization_ids_have_the_o_prefix() {
        assert!(ok::<OrganizationId>("o-a1b2c3d4e5"));
        assert!(!ok::<OrganizationId>("o-short"));
        assert!(!ok::<OrganizationId>("a1b2c3d4e5f6"));
    }
}
