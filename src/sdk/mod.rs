//! [`PolicyApi`] and [`Notifier`] over the real AWS SDK clients, created lazily: events that
//! need no remediation never load credentials or build a client.

use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, SdkConfig};
use aws_sdk_eventbridge::types::PutEventsRequestEntry;
use aws_sdk_lambda::error::ProvideErrorMetadata;
use aws_sdk_lambda::types::FunctionUrlAuthType;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::Arc;

use aws_credential_types::provider::ProvideCredentials;
use tokio::sync::OnceCell;

use crate::guard::api::{ApiError, Dedup, Discovery, Notifier, ObjectBody, Objects, PolicyApi};
use crate::guard::budget::Budgets;
use crate::plan::Addition;
use crate::resource_policy::ResourcePolicy;

/// At most this many attempts per call; the SDK backs off exponentially with jitter between
/// them on throttling (429), 5xx and I/O errors. Lambda's control plane allows 15 req/s.
const SDK_MAX_ATTEMPTS: u32 = 4;

struct Clients {
    /// The configuration the clients were built from: member-account clients derive from it.
    config: SdkConfig,
    lambda: aws_sdk_lambda::Client,
    events: aws_sdk_eventbridge::Client,
    s3: aws_sdk_s3::Client,
    dynamodb: aws_sdk_dynamodb::Client,
}

/// AWS clients built on first use, once per container.
pub struct LazyAws {
    clients: OnceCell<Clients>,
    preset: Option<SdkConfig>,
    event_bus: Option<String>,
    dedup_table: Option<String>,
    /// The role assumed in another account of the organization (`INVOKEGUARD_MEMBER_ROLE`).
    member_role: Option<String>,
    /// The guard's own account: a function of any other account is reached through its role.
    home_account: std::sync::OnceLock<String>,
    /// Lambda clients per (account, region) other than the configuration's own region of the
    /// guard's account, built on first use: a function ARN is always called in its own region
    /// (another region's endpoint answers 404 "not reachable in this region"). A member
    /// account's client keeps its assumed-role credentials cached until shortly before they
    /// expire. One cell per account and region, so that assuming one account's role never
    /// waits for another's; a failed assumption leaves its cell empty, to be tried again.
    members: std::sync::Mutex<HashMap<(String, String), MemberClient>>,
    /// One control-plane budget per account and region, for every call whatever path made it.
    budgets: Budgets,
}

/// A Lambda client for one account and region, built once (its role assumed, if a member's).
type MemberClient = Arc<OnceCell<aws_sdk_lambda::Client>>;

/// The session name member accounts see in their CloudTrail.
const MEMBER_SESSION_NAME: &str = crate::record::HUB_SESSION_NAME;

/// How long a claimed eventID is remembered: the trail file of an event arrives minutes after
/// its EventBridge delivery, and DynamoDB's TTL deletes the item some time after this.
const DEDUP_TTL_SECS: u64 = 24 * 3600;

impl LazyAws {
    /// Configuration from the environment (credentials, region, `AWS_ENDPOINT_URL`), loaded on first use.
    pub fn from_env(event_bus: Option<String>) -> Self {
        LazyAws {
            clients: OnceCell::new(),
            preset: None,
            event_bus,
            dedup_table: None,
            member_role: None,
            home_account: std::sync::OnceLock::new(),
            members: std::sync::Mutex::new(HashMap::new()),
            budgets: Budgets::lambda(),
        }
    }

    /// Reaches functions of other accounts by assuming this role name there.
    pub fn with_member_role(mut self, role: Option<String>) -> Self {
        self.member_role = role;
        self
    }

    /// Deduplicates notifications through this DynamoDB table (`INVOKEGUARD_DEDUP_TABLE`).
    pub fn with_dedup_table(mut self, table: Option<String>) -> Self {
        self.dedup_table = table;
        self
    }

    /// A given configuration (tests pass one pointing at a local emulator).
    pub fn with_config(config: SdkConfig, event_bus: Option<String>) -> Self {
        LazyAws {
            clients: OnceCell::new(),
            preset: Some(config),
            event_bus,
            dedup_table: None,
            member_role: None,
            home_account: std::sync::OnceLock::new(),
            members: std::sync::Mutex::new(HashMap::new()),
            budgets: Budgets::lambda(),
        }
    }

    async fn clients(&self) -> &Clients {
        self.clients
            .get_or_init(|| async {
                let base = match &self.preset {
                    Some(c) => c.clone(),
                    None => aws_config::defaults(BehaviorVersion::latest()).load().await,
                };
                let config = base
                    .to_builder()
                    .retry_config(
                        RetryConfig::standard()
                            .with_max_attempts(SDK_MAX_ATTEMPTS)
                            .with_initial_backoff(Duration::from_millis(200)),
                    )
                    .timeout_config(
                        TimeoutConfig::builder()
                            .connect_timeout(Duration::from_secs(3))
                            .operation_attempt_timeout(Duration::from_secs(5))
                            .operation_timeout(Duration::from_secs(20))
                            .build(),
                    )
                    .build();
                Clients {
                    config: config.clone(),
                    lambda: aws_sdk_lambda::Client::new(&config),
                    events: aws_sdk_eventbridge::Client::new(&config),
                    s3: s3_client(&config),
                    dynamodb: aws_sdk_dynamodb::Client::new(&config),
                }
            })
            .await
    }
}

impl LazyAws {
    /// Waits for a control-plane token of `function`'s account and region, then returns its
    /// Lambda client: every Lambda call (each page of a listing too) goes through here once.
    async fn lambda_call(&self, function: &str) -> Result<aws_sdk_lambda::Client, ApiError> {
        self.budgets.take(function).await;
        self.lambda_for(function).await
    }

    /// The Lambda client for `function`: the guard's own for a name or a function ARN of the
    /// configuration's account and region; for a function ARN of the guard's account in another
    /// region, one for that region; for another account, one acting through that account's
    /// member role in the function's region (assumed once, then cached).
    async fn lambda_for(&self, function: &str) -> Result<aws_sdk_lambda::Client, ApiError> {
        let base = self.clients().await;
        let parts: Vec<&str> = function.split(':').collect();
        let (partition, region, account) = match parts.as_slice() {
            ["arn", p, "lambda", r, a, "function", ..] => (*p, *r, *a),
            _ => return Ok(base.lambda.clone()),
        };
        let member_role = match (&self.member_role, self.home_account.get()) {
            (Some(role_name), Some(home)) if account != home => Some(role_name),
            _ => None,
        };
        let base_region = base.config.region().map(|r| r.as_ref());
        if member_role.is_none() && base_region == Some(region) {
            return Ok(base.lambda.clone());
        }
        let cell = {
            let mut members = self
                .members
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            Arc::clone(
                members
                    .entry((account.to_owned(), region.to_owned()))
                    .or_default(),
            )
        };
        let Some(role_name) = member_role else {
            // The guard's own credentials, in the function's region.
            let client = cell
                .get_or_init(|| async {
                    let config = base
                        .config
                        .to_builder()
                        .region(aws_sdk_lambda::config::Region::new(region.to_owned()))
                        .build();
                    aws_sdk_lambda::Client::new(&config)
                })
                .await;
            return Ok(client.clone());
        };
        let role = format!("arn:{partition}:iam::{account}:role/{role_name}");
        let client = cell
            .get_or_try_init(|| async {
                let provider = aws_config::sts::AssumeRoleProvider::builder(&role)
                    .session_name(MEMBER_SESSION_NAME)
                    .configure(&base.config)
                    .build()
                    .await;
                // Assumed now, so that a missing or untrusting role is one clear error naming it.
                let first = ProvideCredentials::provide_credentials(&provider)
                    .await
                    .map_err(|e| ApiError::MemberRole {
                        account: account.to_owned(),
                        role: role.clone(),
                        message: aws_smithy_error_chain(&e),
                    })?;
                let provider = Primed {
                    first: std::sync::Mutex::new(Some(first)),
                    refresh: provider,
                };
                let config = base
                    .config
                    .to_builder()
                    .credentials_provider(aws_sdk_lambda::config::SharedCredentialsProvider::new(
                        provider,
                    ))
                    .region(aws_sdk_lambda::config::Region::new(region.to_owned()))
                    // A cache of its own: clients built from one configuration share a cache of
                    // 64 identities, so past 64 accounts each would keep assuming its role again.
                    .identity_cache(aws_config::identity::IdentityCache::lazy().build())
                    .build();
                Ok::<_, ApiError>(aws_sdk_lambda::Client::new(&config))
            })
            .await?;
        Ok(client.clone())
    }
}

/// A member role's credentials: first the ones already assumed, then fresh ones from STS each
/// time the client's identity cache finds them near expiry.
#[derive(Debug)]
struct Primed {
    first: std::sync::Mutex<Option<aws_credential_types::Credentials>>,
    refresh: aws_config::sts::AssumeRoleProvider,
}

impl ProvideCredentials for Primed {
    fn provide_credentials<'a>(
        &'a self,
    ) -> aws_credential_types::provider::future::ProvideCredentials<'a>
    where
        Self: 'a,
    {
        let first = self
            .first
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
        match first {
            Some(credentials) => {
                aws_credential_types::provider::future::ProvideCredentials::ready(Ok(credentials))
            }
            None => self.refresh.provide_credentials(),
        }
    }
}

/// An S3 client; against a local emulator (an endpoint URL is set) buckets are addressed by
/// path, not by host name.
pub fn s3_client(config: &SdkConfig) -> aws_sdk_s3::Client {
    let s3 = aws_sdk_s3::config::Builder::from(config)
        .force_path_style(config.endpoint_url().is_some())
        .build();
    aws_sdk_s3::Client::from_conf(s3)
}

/// Lambda's 404 for a missing policy or statement.
const NO_SUCH_RESOURCE: &str = "The resource you requested does not exist.";

/// Lambda's 404 for a missing function, or (qualified) version or alias: "Function not found: ARN".
const FUNCTION_NOT_FOUND: &str = "Function not found: ";

/// Maps an SDK error to what reconciling needs to know, by its modeled error code. A 404 is one
/// of three things told apart only by its message (DESIGN.md fact 23): no policy or statement,
/// no function (or qualifier), or something else (another region's ARN: "Functions from
/// 'eu-west-1' are not reachable in this region"), which is never read as "nothing there".
fn classify<E: ProvideErrorMetadata + std::error::Error + 'static, R: std::fmt::Debug>(
    err: aws_sdk_lambda::error::SdkError<E, R>,
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
        None => ApiError::Other(aws_smithy_error_chain(&err)),
    }
}

/// What GetPolicy's 404 says about `function` (`qualifier`): "Function not found" is believed
/// only when it names exactly what was asked for (the same ARN, or name, unqualified for a
/// missing function, with the same qualifier for a missing version or alias); else the answer
/// is about something else and stays an error.
pub fn get_policy_not_found(error: ApiError, function: &str, qualifier: Option<&str>) -> ApiError {
    let ApiError::FunctionNotFound(message) = error else {
        return error;
    };
    let named = message[FUNCTION_NOT_FOUND.len()..].trim();
    let (named_function, named_qualifier) = split_qualifier(named);
    let (asked_function, in_arn) = split_qualifier(function);
    let asked_qualifier = qualifier.or(in_arn);
    let same_function = if asked_function.starts_with("arn:") && named_function.starts_with("arn:")
    {
        named_function == asked_function
    } else {
        name_of(named_function) == name_of(asked_function)
    };
    match (same_function, named_qualifier) {
        (true, None) => ApiError::FunctionNotFound(message),
        (true, Some(q)) if Some(q) == asked_qualifier => ApiError::QualifierNotFound(message),
        _ => ApiError::Other(format!("ResourceNotFoundException: {message}")),
    }
}

/// (function without qualifier, qualifier) of a name, partial ARN or ARN.
fn split_qualifier(function: &str) -> (&str, Option<&str>) {
    let at = function
        .find(":function:")
        .map_or(0, |i| i + ":function:".len());
    match function[at..].split_once(':') {
        Some((name, q)) => (&function[..at + name.len()], Some(q)),
        None => (function, None),
    }
}

fn name_of(function: &str) -> &str {
    function.rsplit(":function:").next().unwrap_or(function)
}

fn aws_smithy_error_chain(err: &dyn std::error::Error) -> String {
    let mut out = err.to_string();
    let mut source = err.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

impl PolicyApi for LazyAws {
    fn set_home(&self, home: &crate::aws::home::Home) {
        let _ = self.home_account.set(home.account.clone());
        self.budgets.set_home(&home.account, &home.region);
    }

    async fn get_policy(
        &self,
        function: &str,
        qualifier: Option<&str>,
    ) -> Result<ResourcePolicy, ApiError> {
        let out = self
            .lambda_call(function)
            .await?
            .get_policy()
            .function_name(function)
            .set_qualifier(qualifier.map(str::to_owned))
            .send()
            .await;
        match out {
            Ok(out) => {
                let doc = out.policy().unwrap_or("{}");
                ResourcePolicy::from_document(doc, out.revision_id().map(str::to_owned))
                    .map_err(|e| ApiError::Unreadable(e.to_string()))
            }
            Err(e) => match get_policy_not_found(classify(e), function, qualifier) {
                // Only this message says the function (qualifier) is there without a policy.
                ApiError::StatementNotFound(_) => Ok(ResourcePolicy::default()),
                other => Err(other),
            },
        }
    }

    async fn remove_permission(
        &self,
        function: &str,
        qualifier: Option<&str>,
        sid: &str,
        revision_id: Option<&str>,
    ) -> Result<(), ApiError> {
        self.lambda_call(function)
            .await?
            .remove_permission()
            .function_name(function)
            .statement_id(sid)
            .set_qualifier(qualifier.map(str::to_owned))
            .set_revision_id(revision_id.map(str::to_owned))
            .send()
            .await
            .map(|_| ())
            .map_err(classify)
    }

    async fn add_permission(
        &self,
        function: &str,
        qualifier: Option<&str>,
        a: &Addition,
        revision_id: Option<&str>,
    ) -> Result<(), ApiError> {
        self.lambda_call(function)
            .await?
            .add_permission()
            .function_name(function)
            .statement_id(&a.sid)
            .action(a.action)
            .principal(&a.principal)
            .set_source_arn(a.source_arn.clone())
            .set_source_account(a.source_account.clone())
            .set_principal_org_id(a.principal_org_id.clone())
            .set_event_source_token(a.event_source_token.clone())
            .set_function_url_auth_type(a.function_url_auth_type.map(FunctionUrlAuthType::from))
            .set_invoked_via_function_url(a.invoked_via_function_url)
            .set_qualifier(qualifier.map(str::to_owned))
            .set_revision_id(revision_id.map(str::to_owned))
            .send()
            .await
            .map(|_| ())
            .map_err(classify)
    }

    async fn put_resource_policy(
        &self,
        resource_arn: &str,
        document: &str,
        revision_id: Option<&str>,
    ) -> Result<(), ApiError> {
        self.lambda_call(resource_arn)
            .await?
            .put_resource_policy()
            .resource_arn(resource_arn)
            .policy(document)
            .set_revision_id(revision_id.map(str::to_owned))
            .send()
            .await
            .map(|_| ())
            .map_err(classify)
    }

    async fn delete_resource_policy(
        &self,
        resource_arn: &str,
        revision_id: Option<&str>,
    ) -> Result<(), ApiError> {
        self.lambda_call(resource_arn)
            .await?
            .delete_resource_policy()
            .resource_arn(resource_arn)
            .set_revision_id(revision_id.map(str::to_owned))
            .send()
            .await
            .map(|_| ())
            .map_err(classify)
    }
}

impl Discovery for LazyAws {
    async fn list_aliases(
        &self,
        function: &str,
        function_version: Option<&str>,
    ) -> Result<Vec<String>, ApiError> {
        let mut out = Vec::new();
        let mut marker = None;
        loop {
            let page = self
                .lambda_call(function)
                .await?
                .list_aliases()
                .function_name(function)
                .set_function_version(function_version.map(str::to_owned))
                .max_items(crate::guard::discover::LIST_PAGE as i32)
                .set_marker(marker)
                .send()
                .await
                .map_err(classify)?;
            out.extend(
                page.aliases()
                    .iter()
                    .filter_map(|a| a.name().map(str::to_owned)),
            );
            marker = page.next_marker().map(str::to_owned);
            if marker.is_none() {
                return Ok(out);
            }
        }
    }

    async fn list_versions(&self, function: &str) -> Result<Vec<String>, ApiError> {
        let mut out = Vec::new();
        let mut marker = None;
        loop {
            let page = self
                .lambda_call(function)
                .await?
                .list_versions_by_function()
                .function_name(function)
                .max_items(crate::guard::discover::LIST_PAGE as i32)
                .set_marker(marker)
                .send()
                .await
                .map_err(classify)?;
            out.extend(
                page.versions()
                    .iter()
                    .filter_map(|v| v.version())
                    .filter(|v| *v != "$LATEST")
                    .map(str::to_owned),
            );
            marker = page.next_marker().map(str::to_owned);
            if marker.is_none() {
                return Ok(out);
            }
        }
    }

    async fn list_functions(&self) -> Result<Vec<String>, ApiError> {
        let mut out = Vec::new();
        let mut marker = None;
        loop {
            // A name: the home account and region's budget.
            self.budgets.take("").await;
            let page = self
                .clients()
                .await
                .lambda
                .list_functions()
                .set_marker(marker)
                .send()
                .await
                .map_err(classify)?;
            out.extend(
                page.functions()
                    .iter()
                    .filter_map(|f| f.function_name().map(str::to_owned)),
            );
            marker = page.next_marker().map(str::to_owned);
            if marker.is_none() {
                return Ok(out);
            }
        }
    }
}

impl Objects for LazyAws {
    async fn get_object(
        &self,
        bucket: &str,
        key: &str,
        limit: u64,
    ) -> Result<ObjectBody, ApiError> {
        let out = self
            .clients()
            .await
            .s3
            .get_object()
            .bucket(bucket)
            .key(key)
            .send()
            .await
            .map_err(|e| {
                let message = e.message().unwrap_or_default().to_owned();
                ApiError::Other(format!(
                    "GetObject s3://{bucket}/{key}: {} {message}",
                    e.code().unwrap_or("error")
                ))
            })?;
        if out.content_length().is_some_and(|n| n as u64 > limit) {
            return Err(ApiError::Other(format!(
                "s3://{bucket}/{key} is larger than {limit} bytes"
            )));
        }
        Ok(Box::pin(out.body.into_async_read()))
    }
}

impl Dedup for LazyAws {
    async fn first_claim(&self, event_id: &str) -> Result<bool, ApiError> {
        use aws_sdk_dynamodb::types::AttributeValue;
        let Some(table) = &self.dedup_table else {
            return Ok(true);
        };
        let expires = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs() + DEDUP_TTL_SECS)
            .unwrap_or(DEDUP_TTL_SECS);
        let out = self
            .clients()
            .await
            .dynamodb
            .put_item()
            .table_name(table)
            .item("eventId", AttributeValue::S(event_id.to_owned()))
            .item("expiresAt", AttributeValue::N(expires.to_string()))
            .condition_expression("attribute_not_exists(eventId)")
            .send()
            .await;
        match out {
            Ok(_) => Ok(true),
            Err(e) if e.code() == Some("ConditionalCheckFailedException") => Ok(false),
            Err(e) => {
                let message = e.message().unwrap_or_default().to_owned();
                Err(ApiError::Other(format!(
                    "PutItem {table}: {} {message}",
                    e.code().unwrap_or("error")
                )))
            }
        }
    }
}

/// PutEvents takes at most 10 entries per call.
const PUT_EVENTS_BATCH: usize = 10;

impl Notifier for LazyAws {
    async fn publish(&self, entries: &[(String, Value)]) -> Result<(), ApiError> {
        let Some(bus) = &self.event_bus else {
            return Ok(());
        };
        let client = &self.clients().await.events;
        for chunk in entries.chunks(PUT_EVENTS_BATCH) {
            let batch: Vec<PutEventsRequestEntry> = chunk
                .iter()
                .map(|(detail_type, detail)| {
                    PutEventsRequestEntry::builder()
                        .event_bus_name(bus)
                        .source("invokeguard")
                        .detail_type(detail_type)
                        .detail(detail.to_string())
                        .build()
                })
                .collect();
            let out = client
                .put_events()
                .set_entries(Some(batch))
                .send()
                .await
                .map_err(|e| {
                    let message = e.message().unwrap_or_default().to_owned();
                    ApiError::Other(format!(
                        "PutEvents: {} {message}",
                        e.code().unwrap_or("error")
                    ))
                })?;
            if out.failed_entry_count() > 0 {
                let codes: Vec<String> = out
                    .entries()
                    .iter()
                    .filter_map(|e| {
                        e.error_code()
                            .map(|c| format!("{c}: {}", e.error_message().unwrap_or_default()))
                    })
                    .collect();
                return Err(ApiError::Other(format!(
                    "PutEvents: {} of {} entries failed ({})",
                    out.failed_entry_count(),
                    chunk.len(),
                    codes.join("; ")
                )));
            }
        }
        Ok(())
    }
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
