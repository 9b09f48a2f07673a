//! `invokeguard plan`: the reconcile plan for one resource policy given as a file (no AWS).

use std::io::Write;
use std::path::Path;

use super::args::PoliciesArgs;
use super::error::CliError;
use super::exit::Exit;
use super::read::read_limited;
use crate::aws::arn::FunctionName;
use crate::plan::plan;
use crate::resource_policy::ResourcePolicy;

pub fn plan_command(
    policies: &PoliciesArgs,
    function: &str,
    current: &Path,
    out: &mut dyn Write,
) -> Result<Exit, CliError> {
    let allowlist = policies.load_offline()?;
    let (name, arn, qualifier) = split_function_arg(function)?;
    let (key, guarded) =
        allowlist
            .lookup(name, arn.as_deref())
            .ok_or_else(|| CliError::NotGuarded {
                function: function.to_owned(),
                policies: allowlist.origin().to_owned(),
            })?;
    let (file, bytes) = read_limited(current)?;
    let text = String::from_utf8(bytes).map_err(|_| CliError::Current {
        file: file.clone(),
        source: crate::resource_policy::PolicyDocError::Json("not UTF-8 text".to_owned()),
    })?;
    let current =
        ResourcePolicy::parse(&text).map_err(|source| CliError::Current { file, source })?;
    // With the home known, each statement's Resource is judged against the function's ARN.
    let mut plan = plan(
        &allowlist.api_function(key),
        qualifier,
        &guarded.allow,
        &current,
        allowlist.apply_for(guarded),
    );
    plan.function = key.as_str().to_owned();
    let json = serde_json::to_string_pretty(&plan).map_err(|e| CliError::Output(e.into()))?;
    writeln!(out, "{json}").map_err(CliError::Output)?;
    Ok(Exit::of(false, !plan.is_empty()))
}

/// `NAME`, `NAME:QUALIFIER`, `arn:…:function:NAME[:QUALIFIER]` → (name, unqualified ARN, qualifier).
fn split_function_arg(arg: &str) -> Result<(&str, Option<String>, Option<&str>), CliError> {
    let bad = || CliError::FunctionArg(arg.to_owned());
    // The partial `ACCOUNT:function:NAME` is not taken here: without a partition and region it
    // names no resource to judge `Resource` against.
    let named = FunctionName::parse(arg)
        .filter(|n| n.arn.is_some() || n.account.is_none())
        .ok_or_else(bad)?;
    let (name, qualifier) = (named.name, named.qualifier);
    let arn = named.arn.map(|f| f.unqualified().to_string());
    if !crate::aws::ids::is_function_name(name)
        || qualifier.is_some_and(|q| q.is_empty() || q == "$LATEST")
    {
        return Err(bad());
    }
    Ok((name, arn, qualifier))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_function_is_a_name_a_qualified_name_or_an_arn() {
        let arn = "arn:aws:lambda:eu-west-1:111122223333:function:orders";
        assert_eq!(
            split_function_arg(&format!("{arn}:live")).expect("an ARN"),
            ("orders", Some(arn.to_owned()), Some("live"))
        );
        assert_eq!(
            split_function_arg("orders:7").expect("a name"),
            ("orders", None, Some("7"))
        );
        for bad in [
            "orders:$LATEST",
            "orders:",
            "a:b:c",
            "arn:aws:lambda:eu-west-1:111122223333:function:orders:1:2",
            // Not a function ARN (the account is not 12 digits): refused, not read as `orders`.
            "arn:aws:lambda:eu-west-1:1111:function:orders",
        ] {
            assert!(split_function_arg(bad).is_err(), "{bad}");
        }
    }
}
