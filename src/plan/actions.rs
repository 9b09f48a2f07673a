//! Which actions a statement grants, and the same statement without its invoke actions: a
//! statement granting invoke together with other actions loses only the invoke part, since
//! the guard has no mandate over the rest. Pure: no I/O.

use serde_json::{Value, json};

use crate::aws::arn::wildcard_match;
use crate::resource_policy::Statement;

pub const INVOKE_ACTION: &str = "lambda:InvokeFunction";
pub const INVOKE_URL_ACTION: &str = "lambda:InvokeFunctionUrl";
/// The deprecated asynchronous invoke: it runs the function too, so it is judged like
/// `lambda:InvokeFunction` (a caller allowed one may keep the other; nobody else has either).
pub const INVOKE_ASYNC_ACTION: &str = "lambda:InvokeAsync";

/// Every action that runs the function.
pub const INVOKE_ACTIONS: [&str; 3] = [INVOKE_ACTION, INVOKE_URL_ACTION, INVOKE_ASYNC_ACTION];

/// Lambda's other actions, from the operations of aws-sdk-lambda 1.156 (the API of
/// 2026-07-09) plus the Lambda@Edge replication actions: what a wildcard such as
/// `lambda:*Function*` still grants once invoke is taken out of it. An action Lambda adds
/// later is not in this list, so a wildcard statement that had to lose invoke loses it too;
/// a statement whose action is `*` or `lambda:*` keeps every other action through
/// `NotAction` instead.
const OTHER_LAMBDA_ACTIONS: [&str; 87] = [
    "lambda:AddLayerVersionPermission",
    "lambda:AddPermission",
    "lambda:CheckpointDurableExecution",
    "lambda:CreateAlias",
    "lambda:CreateCapacityProvider",
    "lambda:CreateCodeSigningConfig",
    "lambda:CreateEventSourceMapping",
    "lambda:CreateFunction",
    "lambda:CreateFunctionUrlConfig",
    "lambda:DeleteAlias",
    "lambda:DeleteCapacityProvider",
    "lambda:DeleteCodeSigningConfig",
    "lambda:DeleteEventSourceMapping",
    "lambda:DeleteFunction",
    "lambda:DeleteFunctionCodeSigningConfig",
    "lambda:DeleteFunctionConcurrency",
    "lambda:DeleteFunctionEventInvokeConfig",
    "lambda:DeleteFunctionUrlConfig",
    "lambda:DeleteLayerVersion",
    "lambda:DeleteProvisionedConcurrencyConfig",
    "lambda:DeleteResourcePolicy",
    "lambda:DisableReplication",
    "lambda:EnableReplication",
    "lambda:GetAccountSettings",
    "lambda:GetAlias",
    "lambda:GetCapacityProvider",
    "lambda:GetCodeSigningConfig",
    "lambda:GetDurableExecution",
    "lambda:GetDurableExecutionHistory",
    "lambda:GetDurableExecutionState",
    "lambda:GetEventSourceMapping",
    "lambda:GetFunction",
    "lambda:GetFunctionCodeSigningConfig",
    "lambda:GetFunctionConcurrency",
    "lambda:GetFunctionConfiguration",
    "lambda:GetFunctionEventInvokeConfig",
    "lambda:GetFunctionRecursionConfig",
    "lambda:GetFunctionScalingConfig",
    "lambda:GetFunctionUrlConfig",
    "lambda:GetLayerVersion",
    "lambda:GetLayerVersionByArn",
    "lambda:GetLayerVersionPolicy",
    "lambda:GetPolicy",
    "lambda:GetProvisionedConcurrencyConfig",
    "lambda:GetResourcePolicy",
    "lambda:GetRuntimeManagementConfig",
    "lambda:ListAliases",
    "lambda:ListCapacityProviders",
    "lambda:ListCodeSigningConfigs",
    "lambda:ListDurableExecutionsByFunction",
    "lambda:ListEventSourceMappings",
    "lambda:ListFunctionEventInvokeConfigs",
    "lambda:ListFunctionUrlConfigs",
    "lambda:ListFunctionVersionsByCapacityProvider",
    "lambda:ListFunctions",
    "lambda:ListFunctionsByCodeSigningConfig",
    "lambda:ListLayerVersions",
    "lambda:ListLayers",
    "lambda:ListProvisionedConcurrencyConfigs",
    "lambda:ListTags",
    "lambda:ListVersionsByFunction",
    "lambda:PublishLayerVersion",
    "lambda:PublishVersion",
    "lambda:PutFunctionCodeSigningConfig",
    "lambda:PutFunctionConcurrency",
    "lambda:PutFunctionEventInvokeConfig",
    "lambda:PutFunctionRecursionConfig",
    "lambda:PutFunctionScalingConfig",
    "lambda:PutProvisionedConcurrencyConfig",
    "lambda:PutResourcePolicy",
    "lambda:PutRuntimeManagementConfig",
    "lambda:RemoveLayerVersionPermission",
    "lambda:RemovePermission",
    "lambda:SendDurableExecutionCallbackFailure",
    "lambda:SendDurableExecutionCallbackHeartbeat",
    "lambda:SendDurableExecutionCallbackSuccess",
    "lambda:StopDurableExecution",
    "lambda:TagResource",
    "lambda:UntagResource",
    "lambda:UpdateAlias",
    "lambda:UpdateCapacityProvider",
    "lambda:UpdateCodeSigningConfig",
    "lambda:UpdateEventSourceMapping",
    "lambda:UpdateFunctionCode",
    "lambda:UpdateFunctionConfiguration",
    "lambda:UpdateFunctionEventInvokeConfig",
    "lambda:UpdateFunctionUrlConfig",
];

fn matches(pattern: &str, action: &str) -> bool {
    wildcard_match(&pattern.to_ascii_lowercase(), &action.to_ascii_lowercase())
}

/// The invoke actions an Allow or Deny statement names (through `Action` or `NotAction`).
pub fn invoke_actions(s: &Statement) -> Vec<&'static str> {
    INVOKE_ACTIONS
        .into_iter()
        .filter(|a| s.actions.iter().any(|p| matches(p, a)) != s.not_action)
        .collect()
}

/// Whether an Allow statement grants an action that runs the function, directly, by a
/// wildcard such as `lambda:*`, or by a `NotAction` that does not exclude it.
pub fn grants_invoke(s: &Statement) -> bool {
    s.effect.eq_ignore_ascii_case("allow") && !invoke_actions(s).is_empty()
}

/// The statement as written, without the actions that run the function; `None` when nothing
/// else is left (the statement grants only invoke and goes whole).
pub fn without_invoke(s: &Statement) -> Option<Value> {
    let Value::Object(mut raw) = s.raw.clone() else {
        return None;
    };
    if s.not_action {
        let mut excluded = s.actions.clone();
        for a in invoke_actions(s) {
            excluded.push(a.to_owned());
        }
        raw.insert("NotAction".into(), json!(excluded));
        return Some(Value::Object(raw));
    }
    let everything = s
        .actions
        .iter()
        .any(|p| p == "*" || p.eq_ignore_ascii_case("lambda:*"));
    if everything {
        raw.remove("Action");
        raw.insert("NotAction".into(), json!(INVOKE_ACTIONS));
        return Some(Value::Object(raw));
    }
    let mut left: Vec<String> = Vec::new();
    for p in &s.actions {
        let runs = INVOKE_ACTIONS.iter().any(|a| matches(p, a));
        let kept: Vec<String> = if !runs {
            vec![p.clone()]
        } else if p.contains(['*', '?']) {
            OTHER_LAMBDA_ACTIONS
                .iter()
                .filter(|a| matches(p, a))
                .map(|a| (*a).to_owned())
                .collect()
        } else {
            Vec::new()
        };
        for a in kept {
            if !left.contains(&a) {
                left.push(a);
            }
        }
    }
    if left.is_empty() {
        return None;
    }
    let action = match left.as_slice() {
        [one] => json!(one),
        _ => json!(left),
    };
    raw.insert("Action".into(), action);
    Some(Value::Object(raw))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::fixtures::statement;

    #[test]
    fn invoke_is_found_behind_wildcards_lists_and_not_action() {
        for (text, granted) in [
            (
                r#"{"Effect": "Allow", "Principal": "*", "Action": "lambda:*"}"#,
                true,
            ),
            (
                r#"{"Effect": "Allow", "Principal": "*", "Action": ["lambda:GetFunction", "lambda:invokefunction"]}"#,
                true,
            ),
            (
                r#"{"Effect": "Allow", "Principal": "*", "Action": "lambda:InvokeAsync"}"#,
                true,
            ),
            (
                r#"{"Effect": "Allow", "Principal": "*", "NotAction": "lambda:GetPolicy"}"#,
                true,
            ),
            (
                r#"{"Effect": "Allow", "Principal": "*", "NotAction": "lambda:Invoke*"}"#,
                false,
            ),
            (
                r#"{"Effect": "Allow", "Principal": "*", "Action": "lambda:Get*"}"#,
                false,
            ),
            (
                r#"{"Effect": "Deny", "Principal": "*", "Action": "lambda:*"}"#,
                false,
            ),
        ] {
            assert_eq!(grants_invoke(&statement(text)), granted, "{text}");
        }
    }

    #[test]
    fn only_the_invoke_part_is_taken_out() {
        let s = statement(
            r#"{"Sid": "m", "Effect": "Allow", "Principal": "*", "Action": ["lambda:GetFunction", "lambda:InvokeFunction"], "Resource": "r"}"#,
        );
        assert_eq!(
            without_invoke(&s),
            Some(
                json!({"Sid": "m", "Effect": "Allow", "Principal": "*", "Action": "lambda:GetFunction", "Resource": "r"})
            )
        );
        let s = statement(r#"{"Effect": "Allow", "Principal": "*", "Action": "lambda:*"}"#);
        assert_eq!(
            without_invoke(&s).map(|v| v["NotAction"].clone()),
            Some(json!(INVOKE_ACTIONS))
        );
        let s =
            statement(r#"{"Effect": "Allow", "Principal": "*", "NotAction": "lambda:GetPolicy"}"#);
        assert_eq!(
            without_invoke(&s).map(|v| v["NotAction"].clone()),
            Some(json!([
                "lambda:GetPolicy",
                INVOKE_ACTION,
                INVOKE_URL_ACTION,
                INVOKE_ASYNC_ACTION
            ]))
        );
        let s =
            statement(r#"{"Effect": "Allow", "Principal": "*", "Action": "lambda:*FunctionU*"}"#);
        let left = without_invoke(&s).map(|v| v["Action"].clone());
        assert_eq!(
            left,
            Some(json!([
                "lambda:CreateFunctionUrlConfig",
                "lambda:DeleteFunctionUrlConfig",
                "lambda:GetFunctionUrlConfig",
                "lambda:ListFunctionUrlConfigs",
                "lambda:UpdateFunctionUrlConfig"
            ]))
        );
        let s = statement(
            r#"{"Effect": "Allow", "Principal": "*", "Action": ["lambda:InvokeFunction", "lambda:InvokeFunctionUrl"]}"#,
        );
        assert_eq!(without_invoke(&s), None);
    }

    #[test]
    fn a_replacement_grants_no_invoke_and_everything_else_it_did() {
        for text in [
            r#"{"Effect": "Allow", "Principal": "*", "Action": ["lambda:Get*", "lambda:Invoke*", "lambda:PublishVersion"]}"#,
            r#"{"Effect": "Allow", "Principal": "*", "Action": "*"}"#,
            r#"{"Effect": "Allow", "Principal": "*", "NotAction": ["lambda:Get*"]}"#,
        ] {
            let s = statement(text);
            let r = without_invoke(&s).expect("something is left");
            let after = statement(&r.to_string());
            assert!(!grants_invoke(&after), "{text} -> {r}");
            for a in OTHER_LAMBDA_ACTIONS {
                let before = s.actions.iter().any(|p| matches(p, a)) != s.not_action;
                let now = after.actions.iter().any(|p| matches(p, a)) != after.not_action;
                assert_eq!(before, now, "{text}: {a}");
            }
        }
    }
}
