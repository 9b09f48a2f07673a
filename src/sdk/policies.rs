//! [`PolicyApi`] over Lambda: reading and writing a function's resource policy, each call in the
//! function's own account and region and within its control-plane budget.

use aws_sdk_lambda::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_lambda::types::FunctionUrlAuthType;

use super::clients::LazyAws;
use super::errors::{classify, get_policy_not_found};
use crate::aws::home::Home;
use crate::guard::api::{ApiError, PolicyApi};
use crate::plan::Addition;
use crate::resource_policy::ResourcePolicy;

/// A write's answer: only whether it was done.
fn done<T, E, R>(result: Result<T, SdkError<E, R>>) -> Result<(), ApiError>
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug + 'static,
{
    result.map(|_| ()).map_err(classify)
}

impl PolicyApi for LazyAws {
    fn set_home(&self, home: &Home) {
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
        let client = self.lambda_call(function).await?;
        done(
            client
                .remove_permission()
                .function_name(function)
                .statement_id(sid)
                .set_qualifier(qualifier.map(str::to_owned))
                .set_revision_id(revision_id.map(str::to_owned))
                .send()
                .await,
        )
    }

    async fn add_permission(
        &self,
        function: &str,
        qualifier: Option<&str>,
        a: &Addition,
        revision_id: Option<&str>,
    ) -> Result<(), ApiError> {
        let client = self.lambda_call(function).await?;
        done(
            client
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
                .await,
        )
    }

    async fn put_resource_policy(
        &self,
        resource_arn: &str,
        document: &str,
        revision_id: Option<&str>,
    ) -> Result<(), ApiError> {
        let client = self.lambda_call(resource_arn).await?;
        done(
            client
                .put_resource_policy()
                .resource_arn(resource_arn)
                .policy(document)
                .set_revision_id(revision_id.map(str::to_owned))
                .send()
                .await,
        )
    }

    async fn delete_resource_policy(
        &self,
        resource_arn: &str,
        revision_id: Option<&str>,
    ) -> Result<(), ApiError> {
        let client = self.lambda_call(resource_arn).await?;
        done(
            client
                .delete_resource_policy()
                .resource_arn(resource_arn)
                .set_revision_id(revision_id.map(str::to_owned))
                .send()
                .await,
        )
    }
}
