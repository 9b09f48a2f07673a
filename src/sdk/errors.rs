//! What an SDK error means to the guard ([`ApiError`]): Lambda's modeled error codes, and its
//! three kinds of 404 told apart by their message (DESIGN.md fact 23).

use aws_sdk_lambda::error::{ProvideErrorMetadata, SdkError};

use crate::aws::arn::{FunctionArn, FunctionName};
use crate::guard::api::ApiError;

/// Lambda's 404 for a missing policy or statement.
const NO_SUCH_RESOURCE: &str = "The resource you requested does not exist.";

/// Lambda's 404 for a missing function, or (qualified) version or alias: "Function not found: ARN".
const FUNCTION_NOT_FOUND: &str = "Function not found: ";

/// Maps an SDK error to what reconciling needs to know, by its modeled error code. A 404 is one
/// of three things told apart only by its message: no policy or statement, no function (or
/// qualifier), or something else (another region's ARN: "Functions from 'eu-west-1' are not
/// reachable in this region"), which is never read as "nothing there".
pub(super) fn classify<
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug + 'static,
>(
    err: SdkError<E, R>,
) -> ApiError {
    let message = err.message().unwrap_or_default().to_owned();
    match err.code() {
        Some("PreconditionFailedException") => ApiError::PreconditionFailed(message),
        Some("ResourceConflictException") => ApiError::Conflict(message),
        Some("ResourceNotFoundException") if message.starts_with(FUNCTION_NOT_FOUND) => {
            ApiError::FunctionNotFound(message)
        }
        Some("ResourceNotFoundException") if message.trim() == NO_SUCH_RESOURCE => {
            ApiError::StatementNotFound(message)
        }
        Some("ResourceNotFoundException") => {
            ApiError::Other(format!("ResourceNotFoundException: {message}"))
        }
        Some("PolicyLengthExceededException") => ApiError::PolicyLengthExceeded(message),
        Some("PublicPolicyException") => ApiError::PublicPolicy(message),
        Some("TooManyRequestsException") => ApiError::Throttled(message),
        Some(code) => ApiError::Other(format!("{code}: {message}")),
        // No code: the call never reached AWS. Missing credentials say what to set.
        None => ApiError::Other(
            super::config::credentials_hint(&err).unwrap_or_else(|| error_chain(&err)),
        ),
    }
}

/// "`Operation`: code message" of a call whose only use of the error is to report it.
pub(super) fn call_failed<E: ProvideErrorMetadata>(operation: &str, err: &E) -> ApiError {
    ApiError::Other(format!(
        "{operation}: {} {}",
        err.code().unwrap_or("error"),
        err.message().unwrap_or_default()
    ))
}

/// What GetPolicy's 404 says about `function` (`qualifier`): "Function not found" is believed
/// only when it names exactly what was asked for (the same ARN, or name, unqualified for a
/// missing function, with the same qualifier for a missing version or alias); else the answer
/// is about something else and stays an error.
pub fn get_policy_not_found(error: ApiError, function: &str, qualifier: Option<&str>) -> ApiError {
    let ApiError::FunctionNotFound(message) = error else {
        return error;
    };
    let named = Named::of(
        message
            .strip_prefix(FUNCTION_NOT_FOUND)
            .unwrap_or(&message)
            .trim(),
    );
    let asked = Named::of(function);
    let asked_qualifier = qualifier.or(asked.qualifier);
    let same_function = match (named.arn, asked.arn) {
        (Some(n), Some(a)) => n.unqualified() == a.unqualified(),
        _ => named.name == asked.name,
    };
    match (same_function, named.qualifier) {
        (true, None) => ApiError::FunctionNotFound(message),
        (true, Some(q)) if Some(q) == asked_qualifier => ApiError::QualifierNotFound(message),
        _ => ApiError::Other(format!("ResourceNotFoundException: {message}")),
    }
}

/// A function as Lambda's API takes it: an ARN, or `NAME[:QUALIFIER]`.
struct Named<'a> {
    arn: Option<FunctionArn<'a>>,
    name: &'a str,
    qualifier: Option<&'a str>,
}

impl<'a> Named<'a> {
    fn of(function: &'a str) -> Named<'a> {
        match FunctionName::parse(function) {
            Some(n) => Named {
                arn: n.arn,
                name: n.name,
                qualifier: n.qualifier,
            },
            None => Named {
                arn: None,
                name: function,
                qualifier: None,
            },
        }
    }
}

/// An error and its sources, one after the other.
pub(super) fn error_chain(err: &dyn std::error::Error) -> String {
    let mut out = err.to_string();
    let mut source = err.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const ARN: &str = "arn:aws:lambda:eu-west-1:111122223333:function:orders";

    fn read(message: &str, function: &str, qualifier: Option<&str>) -> ApiError {
        get_policy_not_found(
            ApiError::FunctionNotFound(message.to_owned()),
            function,
            qualifier,
        )
    }

    #[test]
    fn function_not_found_is_believed_only_about_what_was_asked() {
        let missing = format!("Function not found: {ARN}");
        assert!(matches!(
            read(&missing, ARN, None),
            ApiError::FunctionNotFound(_)
        ));
        // A qualified ARN in the message: that version or alias does not exist.
        let no_version = format!("Function not found: {ARN}:99");
        assert!(matches!(
            read(&no_version, ARN, Some("99")),
            ApiError::QualifierNotFound(_)
        ));
        assert!(matches!(
            read(&no_version, &format!("{ARN}:99"), None),
            ApiError::QualifierNotFound(_)
        ));
        assert!(matches!(
            read("Function not found: orders", "orders", None),
            ApiError::FunctionNotFound(_)
        ));
        // About another region, account, function or qualifier: an error, never "nothing there".
        let other_region =
            "Function not found: arn:aws:lambda:us-east-1:111122223333:function:orders";
        for (message, qualifier) in [
            (other_region, None),
            (no_version.as_str(), Some("98")),
            (
                "Function not found: arn:aws:lambda:eu-west-1:111122223333:function:other",
                None,
            ),
        ] {
            assert!(
                matches!(read(message, ARN, qualifier), ApiError::Other(_)),
                "{message}"
            );
        }
        let other = ApiError::Other("ResourceNotFoundException: Functions from 'eu-west-1' are not reachable in this region".into());
        assert_eq!(get_policy_not_found(other.clone(), ARN, None), other);
    }
}
