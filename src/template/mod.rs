//! CloudFormation templates (JSON or YAML, as CDK, SAM and the Serverless Framework write
//! them): the grants they would make on a function, each as the statement Lambda would store,
//! judged with the plan the guard runs. Pure: takes text, returns findings; no I/O.

pub mod grants;
pub mod intrinsics;
pub mod judge;
pub mod parse;

use std::collections::HashMap;

pub use grants::{Note, Target, Template, TemplateGrant, UNRESOLVED};
pub use judge::{Finding, Kind, Severity, judge};

/// Why a template cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    #[error(transparent)]
    Parse(#[from] parse::ParseError),
    #[error(transparent)]
    Shape(#[from] grants::ShapeError),
}

/// Reads a template's text into its grants and notes. `pseudo` holds the values of
/// `AWS::AccountId`, `AWS::Region`, `AWS::Partition` and `AWS::URLSuffix` that are known.
pub fn read(text: &str, pseudo: &HashMap<String, String>) -> Result<Template, TemplateError> {
    let doc = parse::parse(text)?;
    Ok(grants::scan(&doc, pseudo)?)
}

/// The pseudo parameters a home account and region fix.
pub fn pseudo_parameters(account: Option<&str>, region: Option<&str>) -> HashMap<String, String> {
    let mut out = HashMap::new();
    if let Some(a) = account {
        out.insert("AWS::AccountId".to_owned(), a.to_owned());
    }
    if let Some(r) = region {
        let partition = crate::aws::home::Home::partition_of_region(r);
        let suffix = if partition == "aws-cn" {
            "amazonaws.com.cn"
        } else {
            "amazonaws.com"
        };
        out.insert("AWS::Region".to_owned(), r.to_owned());
        out.insert("AWS::Partition".to_owned(), partition.to_owned());
        out.insert("AWS::URLSuffix".to_owned(), suffix.to_owned());
    }
    out
}

/// `LOGICALID=NAME` (`lint --function`): the name a function without a literal `FunctionName`
/// will have.
pub fn function_mapping(arg: &str) -> Result<(String, String), String> {
    match arg.split_once('=') {
        Some((id, name)) if !id.is_empty() && crate::aws::ids::is_function_name(name) => {
            Ok((id.to_owned(), name.to_owned()))
        }
        _ => Err(format!(
            "expected LOGICALID=NAME (a function name), got {arg:?}"
        )),
    }
}
