//! Which policies a guarded function has: the unqualified one, every alias (found with
//! ListAliases, no need to list them in the policies file) and the qualifiers the file lists.

use super::api::{ApiError, Discovery};
use super::budget::Budget;
use crate::allowlist::ids::FunctionKey;
use crate::allowlist::{Allowlist, GuardedFunction};

/// One resource policy to read and reconcile.
#[derive(Debug, Clone)]
pub struct PolicyRef<'a> {
    pub key: &'a FunctionKey,
    pub function: &'a GuardedFunction,
    /// What the Lambda API is called with: the ARN, or the name in the home account.
    pub api_function: String,
    pub qualifier: Option<String>,
}

/// A guarded function whose aliases could not be listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiscoveryError {
    pub function: String,
    pub error: ApiError,
}

/// Every guarded policy, in the policies file's order; a function that does not exist is
/// reported as an error (its policies cannot be read), the others are still listed.
pub async fn guarded_policies<'a, D: Discovery>(
    allowlist: &'a Allowlist,
    aws: &D,
    budget: &Budget,
) -> (Vec<PolicyRef<'a>>, Vec<DiscoveryError>) {
    let mut out = Vec::new();
    let mut errors = Vec::new();
    for (key, function) in allowlist.functions() {
        match policies_of(allowlist, key, function, aws, budget).await {
            Ok(policies) => out.extend(policies),
            Err(e) => errors.push(e),
        }
    }
    (out, errors)
}

/// The policies of one guarded function: the unqualified one, then each alias (one
/// ListAliases within `budget`), then the qualifiers the file lists that are not aliases.
pub async fn policies_of<'a, D: Discovery>(
    allowlist: &'a Allowlist,
    key: &'a FunctionKey,
    function: &'a GuardedFunction,
    aws: &D,
    budget: &Budget,
) -> Result<Vec<PolicyRef<'a>>, DiscoveryError> {
    let api_function = allowlist.api_function(key);
    budget.take().await;
    // A name key is the client's own account and region: ListAliases takes the name.
    let listed = key.arn().unwrap_or(key.as_str());
    let aliases = aws
        .list_aliases(listed)
        .await
        .map_err(|error| DiscoveryError {
            function: key.as_str().to_owned(),
            error,
        })?;
    let mut qualifiers: Vec<Option<String>> = vec![None];
    for q in aliases
        .into_iter()
        .chain(function.qualifiers.iter().map(|q| q.as_str().to_owned()))
    {
        if !qualifiers.contains(&Some(q.clone())) {
            qualifiers.push(Some(q));
        }
    }
    Ok(qualifiers
        .into_iter()
        .map(|qualifier| PolicyRef {
            key,
            function,
            api_function: api_function.clone(),
            qualifier,
        })
        .collect())
}
