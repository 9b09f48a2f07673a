//! Which policies a guarded function has: the unqualified one, every published version (found
//! with ListVersionsByFunction) and every alias (found with ListAliases), none of which need be
//! listed in the policies file, and the qualifiers the file lists. Each has a policy of its own
//! that can let someone in (DESIGN.md fact 22).

use super::api::{ApiError, Discovery};
use crate::allowlist::{Allowlist, GuardedFunction};
use crate::aws::arn::FunctionArn;
use crate::aws::ids::FunctionKey;

/// Items per page of ListAliases and ListVersionsByFunction (the clients ask for this many).
pub const LIST_PAGE: usize = 50;

/// The calls a listing of `items` took: one per page, at least one.
pub fn pages(items: usize) -> usize {
    items.div_ceil(LIST_PAGE).max(1)
}

/// One resource policy to read and reconcile: a guarded function's, or one of its qualifiers'.
/// Every path (an Invoke record, a change, the sweep, `audit`) names a policy with this type,
/// built by [`PolicyRef::new`].
#[derive(Debug, Clone)]
pub struct PolicyRef<'a> {
    pub key: &'a FunctionKey,
    pub function: &'a GuardedFunction,
    /// What the Lambda API is called with: the ARN, or the name in the home account.
    pub api_function: String,
    pub qualifier: Option<String>,
}

impl<'a> PolicyRef<'a> {
    /// The policy of `qualifier` of the guarded function `key`; `seen` is the function's ARN as
    /// a record names it (it wins over the key's, when it is a function ARN).
    pub fn new(
        allowlist: &Allowlist,
        (key, function): (&'a FunctionKey, &'a GuardedFunction),
        seen: Option<&str>,
        qualifier: Option<String>,
    ) -> Self {
        let api_function = seen
            .filter(|arn| FunctionArn::parse(arn).is_some())
            .map_or_else(|| allowlist.api_function(key), str::to_owned);
        PolicyRef {
            key,
            function,
            api_function,
            qualifier,
        }
    }

    /// The ARN PutResourcePolicy takes: the function's, qualified for an alias or version.
    pub fn resource_arn(&self) -> Option<String> {
        let function = FunctionArn::parse(&self.api_function)?;
        let qualifier = self.qualifier.as_deref().or(function.qualifier);
        Some(
            FunctionArn {
                qualifier,
                ..function
            }
            .to_string(),
        )
    }

    /// The same function's policy of another qualifier.
    pub fn with_qualifier(&self, qualifier: Option<String>) -> Self {
        PolicyRef {
            qualifier,
            ..self.clone()
        }
    }

    /// `KEY` or `KEY:QUALIFIER`, as errors name the policy.
    pub fn name(&self) -> String {
        match &self.qualifier {
            Some(q) => format!("{}:{q}", self.key),
            None => self.key.as_str().to_owned(),
        }
    }
}

/// A guarded function whose versions or aliases could not be listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiscoveryError {
    pub function: String,
    pub error: ApiError,
}

/// The policies of the guarded functions, in the policies file's order, and the functions whose
/// policies could not be found.
pub struct Discovered<'a> {
    pub policies: Vec<PolicyRef<'a>>,
    pub errors: Vec<DiscoveryError>,
}

/// Every guarded policy, in the policies file's order; a function whose versions or aliases
/// cannot be listed (one that does not exist, say) is reported as an error, the others are still
/// listed.
pub async fn guarded_policies<'a, D: Discovery>(
    allowlist: &'a Allowlist,
    aws: &D,
) -> Discovered<'a> {
    let mut out = Discovered {
        policies: Vec::new(),
        errors: Vec::new(),
    };
    for (key, function) in allowlist.functions() {
        match policies_of(allowlist, key, function, aws).await {
            Ok((policies, _)) => out.policies.extend(policies),
            Err(e) => out.errors.push(e),
        }
    }
    out
}

/// The policies of one guarded function: the unqualified one, then each alias, then each
/// published version, then the qualifiers the file lists that are none of these; and the
/// listing calls made. The client spends its account and region's budget on each page.
pub async fn policies_of<'a, D: Discovery>(
    allowlist: &'a Allowlist,
    key: &'a FunctionKey,
    function: &'a GuardedFunction,
    aws: &D,
) -> Result<(Vec<PolicyRef<'a>>, usize), DiscoveryError> {
    // A name key is the client's own account and region: the listings take the name.
    let listed = key.arn().unwrap_or(key.as_str());
    let failed = |error| DiscoveryError {
        function: key.as_str().to_owned(),
        error,
    };
    let aliases = aws.list_aliases(listed, None).await.map_err(failed)?;
    let versions = aws.list_versions(listed).await.map_err(failed)?;
    let calls = pages(aliases.len()) + pages(versions.len());
    let mut qualifiers: Vec<Option<String>> = vec![None];
    for q in aliases
        .into_iter()
        .chain(versions)
        .chain(function.qualifiers.iter().map(|q| q.as_str().to_owned()))
    {
        if !qualifiers.contains(&Some(q.clone())) {
            qualifiers.push(Some(q));
        }
    }
    let policies = qualifiers
        .into_iter()
        .map(|qualifier| PolicyRef::new(allowlist, (key, function), None, qualifier))
        .collect();
    Ok((policies, calls))
}
