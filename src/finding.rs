//! A violation as an AWS Security Finding Format (ASFF) finding. Pure: the clock's reading comes
//! in as text.
//!
//! One finding per function, qualifier and caller: its `Id` is built from those three only, so a
//! caller seen again updates the same finding (BatchImportFindings with a known `Id` is an
//! update) instead of adding one per record. The finding is always in the guard's own account
//! (`AwsAccountId` = the home account): with a custom integration's product ARN
//! (`product/<account>/default`) Security Hub accepts only findings whose `AwsAccountId` is the
//! caller's own account; a member account's function is named by its ARN in `Resources`.

use crate::aws::arn::FunctionArn;
use crate::aws::home::Home;
use crate::record::Caller;
use crate::verdict::Reason;

pub const SCHEMA_VERSION: &str = "2018-10-08";
pub const GENERATOR_ID: &str = "invokeguard/lambda-invoke-allowlist";
/// ASFF type: namespace/category/classifier.
pub const FINDING_TYPE: &str = "Software and Configuration Checks/AWS Security Best Practices/Lambda invoked by a caller outside the allowlist";
pub const RESOURCE_TYPE: &str = "AwsLambdaFunction";
/// BatchImportFindings takes at most 100 findings per call.
pub const IMPORT_BATCH: usize = 100;

/// ASFF's limits on the texts (characters).
const TITLE_MAX: usize = 256;
const DESCRIPTION_MAX: usize = 1024;
const RECOMMENDATION_MAX: usize = 512;
const ID_MAX: usize = 512;

/// `Workflow.Status` as the guard sets it when it creates the finding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Workflow {
    /// The grant may still be there: the fix failed, or no policy change can stop the caller.
    New,
    /// Report mode: the grant was left in place and reported.
    Notified,
    /// The guard removed the grant (or found it gone).
    Resolved,
}

impl Workflow {
    pub fn as_str(self) -> &'static str {
        match self {
            Workflow::New => "NEW",
            Workflow::Notified => "NOTIFIED",
            Workflow::Resolved => "RESOLVED",
        }
    }

    /// `Compliance.Status`: the provider's own field, which BatchImportFindings updates (unlike
    /// `Workflow`, which only the first import sets). PASSED only when the grant is gone.
    pub fn compliance(self) -> &'static str {
        match self {
            Workflow::Resolved => "PASSED",
            Workflow::New | Workflow::Notified => "FAILED",
        }
    }

    /// What the guard did, in `ProductFields` and the description.
    pub fn outcome(self) -> &'static str {
        match self {
            Workflow::New => "unfixed",
            Workflow::Notified => "reported",
            Workflow::Resolved => "removed",
        }
    }
}

/// What the guard knows of one violation when it closes the record.
#[derive(Debug, Clone)]
pub struct Violation<'a> {
    /// The guard's own account and region: where the finding is imported.
    pub home: &'a Home,
    /// The guarded function's unqualified ARN.
    pub function_arn: &'a str,
    pub qualifier: Option<&'a str>,
    pub caller: &'a Caller,
    pub reason: Reason,
    /// Sids of the statements the reconcile removed (or, in report mode, would remove).
    pub statements: &'a [String],
    /// How many entries the policies file has for the function (none of which covers the
    /// caller).
    pub entries: usize,
    pub event_id: Option<&'a str>,
    /// The record's `eventTime` (RFC 3339), or `now` when it has none.
    pub observed_at: &'a str,
    /// The guard's clock (RFC 3339).
    pub now: &'a str,
    pub workflow: Workflow,
}

/// One ASFF finding: the fields invokeguard sets, in ASFF's names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub schema_version: &'static str,
    pub id: String,
    pub product_arn: String,
    pub generator_id: &'static str,
    pub aws_account_id: String,
    pub types: Vec<&'static str>,
    /// The record's time: the guard keeps no memory of a finding, so a re-import carries the
    /// latest record's (no `FirstObservedAt`: the first sighting is not known).
    pub created_at: String,
    pub updated_at: String,
    pub last_observed_at: String,
    pub severity_label: &'static str,
    pub title: String,
    pub description: String,
    pub recommendation_text: String,
    pub resource_type: &'static str,
    pub resource_id: String,
    pub resource_partition: String,
    pub resource_region: String,
    pub workflow: Workflow,
    pub compliance_status: &'static str,
    pub record_state: &'static str,
    /// Sorted keys, `invokeguard/...`.
    pub product_fields: Vec<(&'static str, String)>,
}

/// The custom integration's product ARN of the guard's account and region: the only product
/// a finding of one's own account may be imported under without a partner integration.
pub fn product_arn(home: &Home) -> String {
    format!(
        "arn:{}:securityhub:{}:{}:product/{}/default",
        home.partition, home.region, home.account, home.account
    )
}

/// Who the finding is about: the principal the verdict matched on, else what the record shows.
pub fn caller_name(caller: &Caller) -> &str {
    caller
        .principal
        .as_deref()
        .or(caller.arn.as_deref())
        .or(caller.account.as_deref())
        .unwrap_or("unknown")
}

/// The stable Id: `invokeguard/<function ARN>[:<qualifier>]/<caller>`, the same for every
/// record of that caller on that function and qualifier.
pub fn finding_id(function_arn: &str, qualifier: Option<&str>, caller: &str) -> String {
    let id = match qualifier {
        Some(q) => format!("invokeguard/{function_arn}:{q}/{caller}"),
        None => format!("invokeguard/{function_arn}/{caller}"),
    };
    clip(id, ID_MAX)
}

/// The finding for `v`.
pub fn build(v: &Violation<'_>) -> Finding {
    let caller = caller_name(v.caller);
    let parsed = FunctionArn::parse(v.function_arn);
    let name = parsed.map_or(v.function_arn, |a| a.name);
    let target = match v.qualifier {
        Some(q) => format!("{}:{q}", v.function_arn),
        None => v.function_arn.to_owned(),
    };
    let statements = if v.statements.is_empty() {
        "none found".to_owned()
    } else {
        v.statements.join(", ")
    };
    let done = match v.workflow {
        Workflow::Resolved => "invokeguard removed the grant (enforce mode).",
        Workflow::Notified => "Report mode: the grant was left in place.",
        Workflow::New => "The grant may still be in place: invokeguard could not remove it.",
    };
    let description = format!(
        "{caller} invoked {target}, which the policies file does not allow ({reason}; none of \
         its {entries} allow entries for this function covers the caller). Statements granting \
         it: {statements}. {done}",
        reason = reason_code(v.reason),
        entries = v.entries,
    );
    let recommendation = format!(
        "If {caller} should invoke {name}, add an allow entry for it to the policies file and \
         deploy; otherwise find who granted it and keep the grant removed. See invokeguard's \
         docs/policies-file.md (allow entries)."
    );
    let mut fields = vec![
        ("invokeguard/AllowEntry", "none".to_owned()),
        ("invokeguard/Caller", caller.to_owned()),
        ("invokeguard/FunctionAccount", account_of(parsed, v.home)),
        ("invokeguard/Outcome", v.workflow.outcome().to_owned()),
        ("invokeguard/Reason", reason_code(v.reason).to_owned()),
        ("invokeguard/Statements", statements),
    ];
    if let Some(q) = v.qualifier {
        fields.push(("invokeguard/Qualifier", q.to_owned()));
    }
    if let Some(id) = v.event_id {
        fields.push(("invokeguard/EventId", id.to_owned()));
    }
    if let Some(source) = &v.caller.source_arn {
        fields.push(("invokeguard/SourceArn", source.clone()));
    }
    fields.sort_by_key(|(k, _)| *k);
    Finding {
        schema_version: SCHEMA_VERSION,
        id: finding_id(v.function_arn, v.qualifier, caller),
        product_arn: product_arn(v.home),
        generator_id: GENERATOR_ID,
        aws_account_id: v.home.account.clone(),
        types: vec![FINDING_TYPE],
        created_at: v.observed_at.to_owned(),
        updated_at: v.now.to_owned(),
        last_observed_at: v.observed_at.to_owned(),
        severity_label: "HIGH",
        title: clip(
            format!("Lambda function {name} invoked by a caller outside its allowlist"),
            TITLE_MAX,
        ),
        description: clip(description, DESCRIPTION_MAX),
        recommendation_text: clip(recommendation, RECOMMENDATION_MAX),
        resource_type: RESOURCE_TYPE,
        resource_id: v.function_arn.to_owned(),
        resource_partition: parsed.map_or(v.home.partition.clone(), |a| a.partition.to_owned()),
        resource_region: parsed.map_or(v.home.region.clone(), |a| a.region.to_owned()),
        workflow: v.workflow,
        compliance_status: v.workflow.compliance(),
        record_state: "ACTIVE",
        product_fields: fields,
    }
}

/// Adds `finding` to `held`, replacing the one with its Id: one finding per Id, the latest,
/// in first-seen order.
pub fn keep_latest(held: &mut Vec<Finding>, finding: Finding) {
    match held.iter_mut().find(|h| h.id == finding.id) {
        Some(h) => *h = finding,
        None => held.push(finding),
    }
}

fn account_of(parsed: Option<FunctionArn<'_>>, home: &Home) -> String {
    parsed.map_or(home.account.clone(), |a| a.account.to_owned())
}

fn reason_code(reason: Reason) -> &'static str {
    match reason {
        Reason::NotLambda => "not-lambda",
        Reason::NotInvoke => "not-invoke",
        Reason::NoFunction => "no-function",
        Reason::NotGuarded => "not-guarded",
        Reason::AccessDenied => "access-denied",
        Reason::Allowlisted => "allowlisted",
        Reason::CallerNotAllowlisted => "caller-not-allowlisted",
        Reason::SourceArnMismatch => "source-arn-mismatch",
        Reason::SourceAccountMismatch => "source-account-mismatch",
        Reason::SameAccountIam => "same-account-iam",
        Reason::UnknownCaller => "unknown-caller",
    }
}

/// At most `max` characters, cut on a character boundary.
fn clip(mut s: String, max: usize) -> String {
    if let Some((at, _)) = s.char_indices().nth(max) {
        s.truncate(at);
    }
    s
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use crate::record::CallerKind;

    const ARN: &str = "arn:aws:lambda:eu-west-1:444455556666:function:orders";

    fn home() -> Home {
        Home::new("aws", "eu-west-1", "111122223333").unwrap()
    }

    fn caller(principal: &str) -> Caller {
        Caller {
            kind: CallerKind::Account,
            principal: Some(principal.to_owned()),
            account: Some(principal.to_owned()),
            ..Caller::default()
        }
    }

    fn violation<'a>(
        home: &'a Home,
        c: &'a Caller,
        sids: &'a [String],
        w: Workflow,
    ) -> Violation<'a> {
        Violation {
            home,
            function_arn: ARN,
            qualifier: Some("live"),
            caller: c,
            reason: Reason::CallerNotAllowlisted,
            statements: sids,
            entries: 2,
            event_id: Some("e-1"),
            observed_at: "2026-12-06T10:00:00Z",
            now: "2026-12-06T10:00:05Z",
            workflow: w,
        }
    }

    #[test]
    fn the_required_fields_are_set_in_the_guards_account() {
        let (h, c, sids) = (home(), caller("999988887777"), vec!["rogue".to_owned()]);
        let f = build(&violation(&h, &c, &sids, Workflow::Resolved));
        assert_eq!(f.schema_version, "2018-10-08");
        assert_eq!(
            f.product_arn,
            "arn:aws:securityhub:eu-west-1:111122223333:product/111122223333/default"
        );
        assert_eq!(f.aws_account_id, "111122223333");
        assert!(f.types[0].starts_with("Software and Configuration Checks/"));
        assert_eq!(f.resource_type, "AwsLambdaFunction");
        assert_eq!(f.resource_id, ARN);
        assert_eq!(f.created_at, "2026-12-06T10:00:00Z");
        assert_eq!(f.updated_at, "2026-12-06T10:00:05Z");
        assert!(f.description.contains("999988887777"), "{}", f.description);
        assert!(f.description.contains("rogue"), "{}", f.description);
        assert!(f.recommendation_text.contains("docs/policies-file.md"));
        let field = |k: &str| {
            f.product_fields
                .iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.as_str())
        };
        assert_eq!(field("invokeguard/FunctionAccount"), Some("444455556666"));
        assert_eq!(field("invokeguard/Statements"), Some("rogue"));
        assert_eq!(field("invokeguard/Qualifier"), Some("live"));
        assert_eq!(field("invokeguard/AllowEntry"), Some("none"));
        assert!(!f.title.is_empty() && f.title.len() <= TITLE_MAX);
    }

    #[test]
    fn the_id_depends_on_function_qualifier_and_caller_only() {
        let (h, c, sids) = (home(), caller("999988887777"), Vec::new());
        let a = build(&violation(&h, &c, &sids, Workflow::New));
        let mut later = violation(&h, &c, &sids, Workflow::Resolved);
        later.event_id = Some("e-2");
        later.now = "2026-12-07T00:00:00Z";
        assert_eq!(a.id, build(&later).id);
        assert_eq!(a.id, format!("invokeguard/{ARN}:live/999988887777"));
        let other = caller("222233334444");
        assert_ne!(a.id, build(&violation(&h, &other, &sids, Workflow::New)).id);
        let mut unqualified = violation(&h, &c, &sids, Workflow::New);
        unqualified.qualifier = None;
        assert_eq!(
            build(&unqualified).id,
            format!("invokeguard/{ARN}/999988887777")
        );
    }

    #[test]
    fn the_status_follows_the_outcome() {
        let (h, c, sids) = (home(), caller("999988887777"), Vec::new());
        for (w, workflow, compliance, outcome) in [
            (Workflow::Resolved, "RESOLVED", "PASSED", "removed"),
            (Workflow::Notified, "NOTIFIED", "FAILED", "reported"),
            (Workflow::New, "NEW", "FAILED", "unfixed"),
        ] {
            let f = build(&violation(&h, &c, &sids, w));
            assert_eq!(f.workflow.as_str(), workflow);
            assert_eq!(f.compliance_status, compliance);
            let got = f
                .product_fields
                .iter()
                .find(|(k, _)| *k == "invokeguard/Outcome");
            assert_eq!(got.map(|(_, v)| v.as_str()), Some(outcome));
        }
    }

    #[test]
    fn texts_stay_within_asff_limits() {
        let h = home();
        let c = caller(&"x".repeat(2000));
        let sids: Vec<String> = (0..200).map(|i| format!("statement-{i}")).collect();
        let f = build(&violation(&h, &c, &sids, Workflow::New));
        assert!(f.id.chars().count() <= ID_MAX);
        assert!(f.description.chars().count() <= DESCRIPTION_MAX);
        assert!(f.recommendation_text.chars().count() <= RECOMMENDATION_MAX);
        assert!(f.title.chars().count() <= TITLE_MAX);
    }

    #[test]
    fn the_last_import_of_an_id_wins() {
        let (h, c, sids) = (home(), caller("999988887777"), Vec::new());
        let first = build(&violation(&h, &c, &sids, Workflow::New));
        let second = build(&violation(&h, &c, &sids, Workflow::Resolved));
        let other_caller = caller("222233334444");
        let other = build(&violation(&h, &other_caller, &sids, Workflow::New));
        let mut kept = Vec::new();
        for f in [first, other.clone(), second.clone()] {
            keep_latest(&mut kept, f);
        }
        assert_eq!(kept, vec![second, other]);
    }
}
