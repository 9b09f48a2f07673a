//! Guardrails: a service control policy, generated from the allowlist, that denies creating a
//! grant outside it on the guarded functions before the grant exists. Pure: no I/O.
//!
//! What Lambda's condition keys can say decides the shape (Service Authorization Reference,
//! Lambda): `AddPermission` carries `lambda:Principal` (the request's `Principal` parameter as
//! written) and `lambda:FunctionUrlAuthType`; `CreateFunctionUrlConfig` and
//! `UpdateFunctionUrlConfig` carry `lambda:FunctionUrlAuthType`; `PutResourcePolicy` carries no
//! key that sees the document. So per guarded function the policy denies, to every caller but the
//! exempt roles (`aws:PrincipalArn`):
//! - `AddPermission` whose principal the allowlist does not name. An organization entry's grant
//!   has principal `*` (its `PrincipalOrgID` has no key), which cannot be told from a public
//!   grant, so `*` is always denied: only the exempt roles may add it;
//! - a function URL of auth type `NONE`, unless the function allows `functionUrl: public`;
//! - `PutResourcePolicy`, whose document no key can judge.
//!
//! `RemovePermission` and `DeleteResourcePolicy` only take grants away: never denied.

mod model;
mod scp;
mod size;

use std::collections::BTreeSet;

use crate::allowlist::{Allowlist, Grant};
use crate::aws::ids::FunctionKey;

use model::Target;
pub use model::{Guardrails, LeftOut, MAX_SCP_CHARS, Scp};

/// At most this many SCPs can be attached to one root, OU or account (one of them usually
/// `FullAWSAccess`).
pub const MAX_POLICIES: usize = 5;

/// What to generate.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// The guard's role and the deployer roles that may still make any grant (ARNs or
    /// `ArnLike` patterns of IAM roles or users).
    pub exempt: Vec<String>,
    /// How many documents the functions may be spread over before some are left out.
    pub max_policies: usize,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GuardrailsError {
    #[error(
        "{flag} {value:?}: expected an IAM role or user ARN (arn:PARTITION:iam::ACCOUNT:role/NAME; `*` and `?` allowed)"
    )]
    ExemptArn { flag: &'static str, value: String },
    #[error("--max-policies {0}: expected 1 to {MAX_POLICIES} (SCPs attached to one target)")]
    MaxPolicies(usize),
}

/// Checks an exempt role ARN: an IAM role or user, wildcards allowed.
pub fn check_exempt(flag: &'static str, value: &str) -> Result<String, GuardrailsError> {
    let parts: Vec<&str> = value.splitn(6, ':').collect();
    let ok = matches!(parts.as_slice(),
        ["arn", partition, "iam", "", account, rest]
            if !partition.is_empty()
                && !account.is_empty()
                && (rest.starts_with("role/") || rest.starts_with("user/"))
                && rest.len() > 5);
    if ok && !value.contains(char::is_whitespace) {
        Ok(value.to_owned())
    } else {
        Err(GuardrailsError::ExemptArn {
            flag,
            value: value.to_owned(),
        })
    }
}

/// The service control policies for every guarded function of the allowlist.
pub fn generate(allowlist: &Allowlist, options: &Options) -> Result<Guardrails, GuardrailsError> {
    if !(1..=MAX_POLICIES).contains(&options.max_policies) {
        return Err(GuardrailsError::MaxPolicies(options.max_policies));
    }
    let exempt: Vec<String> = options
        .exempt
        .iter()
        .cloned()
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let (mut warnings, mut notes) = (Vec::new(), Vec::new());
    if exempt.is_empty() {
        warnings.push(
            "no exempt role: nobody in the accounts it is attached to (the guard included) may write a whole policy document or add an organization or public grant to a guarded function".to_owned(),
        );
    }
    let targets: Vec<Target> = allowlist
        .functions()
        .map(|(key, guarded)| target(allowlist, key, &guarded.allow, &mut notes))
        .collect();
    if allowlist.home().is_none() && targets.iter().any(|t| t.resources[0].contains('*')) {
        warnings.push(
            "no --account/--region: a function named without its ARN is matched by name in every account and region the policy is attached to".to_owned(),
        );
    }
    let (policies, left_out) = size::pack(&targets, &exempt, options.max_policies);
    Ok(Guardrails {
        policies,
        left_out,
        warnings,
        notes,
        limit: MAX_SCP_CHARS,
    })
}

fn target(
    allowlist: &Allowlist,
    key: &FunctionKey,
    allow: &[crate::allowlist::AllowEntry],
    notes: &mut Vec<String>,
) -> Target {
    let (arn, partition) = match (key.arn(), allowlist.home()) {
        (Some(arn), _) => (
            arn.to_owned(),
            arn.split(':').nth(1).unwrap_or("aws").to_owned(),
        ),
        (None, Some(home)) => (home.function_arn(key.as_str()), home.partition.clone()),
        (None, None) => (
            format!("arn:*:lambda:*:*:function:{}", key.as_str()),
            "aws".to_owned(),
        ),
    };
    let mut principals = BTreeSet::new();
    let mut public_url = false;
    for entry in allow {
        match &entry.grant {
            Grant::Service(s) => {
                principals.insert(s.service.as_str().to_owned());
            }
            // AddPermission takes the bare id or the root ARN; both are the same grant.
            Grant::Account(a) => {
                principals.insert(a.as_str().to_owned());
                principals.insert(format!("arn:{partition}:iam::{}:root", a.as_str()));
            }
            Grant::Principal(p) => {
                principals.insert(p.as_str().to_owned());
            }
            Grant::Organization(o) => notes.push(format!(
                "{key}: organization {o}: its grant's principal is `*`, which no condition key tells from a public grant; only the exempt roles may add it",
                o = o.as_str()
            )),
            Grant::PublicUrl => {
                public_url = true;
                notes.push(format!(
                    "{key}: functionUrl public: a URL of auth type NONE may be created, but its `*` grant only by the exempt roles"
                ));
            }
        }
    }
    Target {
        key: key.as_str().to_owned(),
        resources: [arn.clone(), format!("{arn}:*")],
        principals,
        public_url,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exempt_roles_are_iam_role_or_user_arns() {
        for ok in [
            "arn:aws:iam::111122223333:role/deployer",
            "arn:aws:iam::*:role/invokeguard-*",
            "arn:aws-cn:iam::111122223333:user/ci",
        ] {
            assert!(check_exempt("--exempt-role", ok).is_ok(), "{ok}");
        }
        for bad in [
            "deployer",
            "arn:aws:iam::111122223333:root",
            "arn:aws:sts::111122223333:assumed-role/deployer/s",
            "arn:aws:iam::111122223333:role/",
            "",
        ] {
            assert!(check_exempt("--exempt-role", bad).is_err(), "{bad}");
        }
    }
}
