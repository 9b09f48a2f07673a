//! [`Findings`] over Security Hub's BatchImportFindings: the guard is the provider of its own
//! findings (the account's custom integration, `product/<account>/default`), so the one call it
//! needs is BatchImportFindings; it never calls BatchUpdateFindings, which is the analysts'.

use aws_sdk_securityhub::types::{
    AwsSecurityFinding, Compliance, ComplianceStatus, FindingProviderFields,
    FindingProviderSeverity, Partition, Recommendation, RecordState, Remediation, Resource,
    Severity, SeverityLabel, Workflow, WorkflowStatus,
};

use super::clients::LazyAws;
use super::errors::call_failed;
use crate::finding::{Finding, IMPORT_BATCH};
use crate::guard::api::{ApiError, Findings};

impl Findings for LazyAws {
    fn findings_enabled(&self) -> bool {
        self.security_hub
    }

    async fn import_findings(&self, findings: &[Finding]) -> Result<(), ApiError> {
        if !self.security_hub || findings.is_empty() {
            return Ok(());
        }
        let client = &self.clients().await.security_hub;
        for chunk in findings.chunks(IMPORT_BATCH) {
            let out = client
                .batch_import_findings()
                .set_findings(Some(chunk.iter().map(asff).collect()))
                .send()
                .await
                .map_err(|e| call_failed("BatchImportFindings", &e))?;
            let failed = out.failed_findings();
            if !failed.is_empty() || out.failed_count().unwrap_or(0) > 0 {
                let why: Vec<String> = failed
                    .iter()
                    .map(|f| {
                        format!(
                            "{}: {} {}",
                            f.id().unwrap_or("?"),
                            f.error_code().unwrap_or("error"),
                            f.error_message().unwrap_or_default()
                        )
                    })
                    .collect();
                return Err(ApiError::Other(format!(
                    "BatchImportFindings: {} of {} findings refused ({})",
                    out.failed_count().unwrap_or(failed.len() as i32),
                    chunk.len(),
                    why.join("; ")
                )));
            }
        }
        Ok(())
    }
}

/// The SDK's shape of a finding.
fn asff(f: &Finding) -> AwsSecurityFinding {
    let severity = SeverityLabel::from(f.severity_label);
    let mut b = AwsSecurityFinding::builder()
        .schema_version(f.schema_version)
        .id(&f.id)
        .product_arn(&f.product_arn)
        .generator_id(f.generator_id)
        .aws_account_id(&f.aws_account_id)
        .created_at(&f.created_at)
        .updated_at(&f.updated_at)
        .last_observed_at(&f.last_observed_at)
        .severity(Severity::builder().label(severity.clone()).build())
        .title(&f.title)
        .description(&f.description)
        .remediation(
            Remediation::builder()
                .recommendation(
                    Recommendation::builder()
                        .text(&f.recommendation_text)
                        .build(),
                )
                .build(),
        )
        .resources(
            Resource::builder()
                .r#type(f.resource_type)
                .id(&f.resource_id)
                .partition(Partition::from(f.resource_partition.as_str()))
                .region(&f.resource_region)
                .build(),
        )
        .compliance(
            Compliance::builder()
                .status(ComplianceStatus::from(f.compliance_status))
                .build(),
        )
        .workflow(
            Workflow::builder()
                .status(WorkflowStatus::from(f.workflow.as_str()))
                .build(),
        )
        .record_state(RecordState::from(f.record_state));
    // Severity and Types through FindingProviderFields too: the provider's way to change them
    // on a later import (the top-level ones are the analysts').
    let mut provider = FindingProviderFields::builder()
        .severity(FindingProviderSeverity::builder().label(severity).build());
    for t in &f.types {
        b = b.types(*t);
        provider = provider.types(*t);
    }
    for (k, v) in &f.product_fields {
        b = b.product_fields(*k, v);
    }
    b.finding_provider_fields(provider.build()).build()
}
