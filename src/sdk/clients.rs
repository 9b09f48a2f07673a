//! The AWS clients, built lazily: events that need no remediation never load credentials or
//! build a client. A function is always called in its own account and region.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use aws_config::SdkConfig;
use aws_credential_types::provider::ProvideCredentials;
use tokio::sync::OnceCell;

use super::config;
use super::errors::error_chain;
use crate::aws::arn::FunctionArn;
use crate::guard::api::ApiError;
use crate::guard::budget::Budgets;

pub(super) struct Clients {
    /// The configuration the clients were built from: member-account clients derive from it.
    pub(super) config: SdkConfig,
    pub(super) lambda: aws_sdk_lambda::Client,
    pub(super) events: aws_sdk_eventbridge::Client,
    pub(super) s3: aws_sdk_s3::Client,
    pub(super) dynamodb: aws_sdk_dynamodb::Client,
    pub(super) security_hub: aws_sdk_securityhub::Client,
    pub(super) sqs: aws_sdk_sqs::Client,
}

/// AWS clients built on first use, once per container.
pub struct LazyAws {
    clients: OnceCell<Clients>,
    preset: Option<SdkConfig>,
    pub(super) event_bus: Option<String>,
    pub(super) dedup_table: Option<String>,
    /// Violations become Security Hub findings (`INVOKEGUARD_SECURITY_HUB=on`).
    pub(super) security_hub: bool,
    /// The sweep queue (`INVOKEGUARD_SWEEP_QUEUE_URL`): the scheduled sweep fans out over it.
    pub(super) sweep_queue: Option<String>,
    /// The role assumed in another account of the organization (`INVOKEGUARD_MEMBER_ROLE`).
    member_role: Option<String>,
    /// The guard's own account: a function of any other account is reached through its role.
    pub(super) home_account: OnceLock<String>,
    /// Lambda clients per (account, region) other than the configuration's own region of the
    /// guard's account, built on first use: a function ARN is always called in its own region
    /// (another region's endpoint answers 404 "not reachable in this region"). A member
    /// account's client keeps its assumed-role credentials cached until shortly before they
    /// expire. One cell per account and region, so that assuming one account's role never
    /// waits for another's; a failed assumption leaves its cell empty, to be tried again.
    members: Mutex<HashMap<(String, String), MemberClient>>,
    /// One control-plane budget per account and region, for every call whatever path made it.
    pub(super) budgets: Budgets,
}

/// A Lambda client for one account and region, built once (its role assumed, if a member's).
type MemberClient = Arc<OnceCell<aws_sdk_lambda::Client>>;

/// The session name member accounts see in their CloudTrail.
const MEMBER_SESSION_NAME: &str = crate::record::HUB_SESSION_NAME;

impl LazyAws {
    /// Configuration from the environment (credentials, region, `AWS_ENDPOINT_URL`), loaded on first use.
    pub fn from_env(event_bus: Option<String>) -> Self {
        LazyAws {
            clients: OnceCell::new(),
            preset: None,
            event_bus,
            dedup_table: None,
            security_hub: false,
            sweep_queue: None,
            member_role: None,
            home_account: OnceLock::new(),
            members: Mutex::new(HashMap::new()),
            budgets: Budgets::lambda(),
        }
    }

    /// A given configuration (tests pass one pointing at a local emulator).
    pub fn with_config(config: SdkConfig, event_bus: Option<String>) -> Self {
        LazyAws {
            preset: Some(config),
            ..LazyAws::from_env(event_bus)
        }
    }

    /// Reaches functions of other accounts by assuming this role name there.
    pub fn with_member_role(mut self, role: Option<String>) -> Self {
        self.member_role = role;
        self
    }

    /// Imports each violation into Security Hub as a finding (off: no Security Hub call).
    pub fn with_security_hub(mut self, on: bool) -> Self {
        self.security_hub = on;
        self
    }

    /// Plans the scheduled sweep over this SQS FIFO queue instead of sweeping in process.
    pub fn with_sweep_queue(mut self, queue_url: Option<String>) -> Self {
        self.sweep_queue = queue_url;
        self
    }

    /// Deduplicates notifications through this DynamoDB table (`INVOKEGUARD_DEDUP_TABLE`).
    pub fn with_dedup_table(mut self, table: Option<String>) -> Self {
        self.dedup_table = table;
        self
    }

    pub(super) async fn clients(&self) -> &Clients {
        self.clients
            .get_or_init(|| async {
                let config = match &self.preset {
                    Some(c) => config::tuned(c),
                    None => config::load(None).await,
                };
                Clients {
                    lambda: aws_sdk_lambda::Client::new(&config),
                    events: aws_sdk_eventbridge::Client::new(&config),
                    s3: s3_client(&config),
                    dynamodb: aws_sdk_dynamodb::Client::new(&config),
                    security_hub: aws_sdk_securityhub::Client::new(&config),
                    sqs: aws_sdk_sqs::Client::new(&config),
                    config,
                }
            })
            .await
    }

    /// Waits for a control-plane token of `function`'s account and region, then returns its
    /// Lambda client: every Lambda call (each page of a listing too) goes through here once.
    pub(super) async fn lambda_call(
        &self,
        function: &str,
    ) -> Result<aws_sdk_lambda::Client, ApiError> {
        self.budgets.take(function).await;
        self.lambda_for(function).await
    }

    /// The Lambda client for `function`: the guard's own for a name or a function ARN of the
    /// configuration's account and region; for a function ARN of the guard's account in another
    /// region, one for that region; for another account, one acting through that account's
    /// member role in the function's region (assumed once, then cached).
    async fn lambda_for(&self, function: &str) -> Result<aws_sdk_lambda::Client, ApiError> {
        let base = self.clients().await;
        let Some(arn) = FunctionArn::parse(function) else {
            return Ok(base.lambda.clone());
        };
        let member_role = match (&self.member_role, self.home_account.get()) {
            (Some(role_name), Some(home)) if arn.account != home => Some(role_name),
            _ => None,
        };
        let base_region = base.config.region().map(|r| r.as_ref());
        if member_role.is_none() && base_region == Some(arn.region) {
            return Ok(base.lambda.clone());
        }
        let cell = {
            let mut members = self.members.lock().unwrap_or_else(PoisonError::into_inner);
            Arc::clone(
                members
                    .entry((arn.account.to_owned(), arn.region.to_owned()))
                    .or_default(),
            )
        };
        let region = aws_sdk_lambda::config::Region::new(arn.region.to_owned());
        let Some(role_name) = member_role else {
            // The guard's own credentials, in the function's region.
            let client = cell
                .get_or_init(|| async {
                    let config = base.config.to_builder().region(region).build();
                    aws_sdk_lambda::Client::new(&config)
                })
                .await;
            return Ok(client.clone());
        };
        let role = format!(
            "arn:{}:iam::{}:role/{role_name}",
            arn.partition, arn.account
        );
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
                        account: arn.account.to_owned(),
                        role: role.clone(),
                        message: error_chain(&e),
                    })?;
                let provider = Primed {
                    first: Mutex::new(Some(first)),
                    refresh: provider,
                };
                let config = base
                    .config
                    .to_builder()
                    .credentials_provider(aws_sdk_lambda::config::SharedCredentialsProvider::new(
                        provider,
                    ))
                    .region(region)
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
    first: Mutex<Option<aws_credential_types::Credentials>>,
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
            .unwrap_or_else(PoisonError::into_inner)
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
