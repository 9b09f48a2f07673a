//! What the generator works on and hands back.

use std::collections::BTreeSet;

use serde::Serialize;
use serde_json::Value;

/// AWS Organizations' maximum size of a service control policy: 5,120 characters, every
/// character counted, whitespace included ("Quotas for AWS Organizations"; "SCP syntax").
pub const MAX_SCP_CHARS: usize = 5120;

/// The generated policies, what did not fit, and what the reader must know.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Guardrails {
    pub policies: Vec<Scp>,
    pub left_out: Vec<LeftOut>,
    /// What the policy leaves open because of how it was asked for (no home, no exempt role).
    pub warnings: Vec<String>,
    /// What no condition key can express, per function.
    pub notes: Vec<String>,
    pub limit: usize,
}

/// One service control policy document.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Scp {
    /// The guarded functions (the policies file's keys) it covers.
    pub functions: Vec<String>,
    /// Characters of the minified document, which is what AWS counts.
    pub size: usize,
    pub content: Value,
}

impl Scp {
    /// The document as it is to be uploaded: minified, so its size is the one reported.
    pub fn minified(&self) -> String {
        self.content.to_string()
    }
}

/// A guarded function no generated policy covers, and why.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct LeftOut {
    pub function: String,
    pub reason: String,
}

/// One guarded function as the policy sees it.
#[derive(Debug, Clone)]
pub struct Target {
    pub key: String,
    /// Its unqualified ARN (or ARN pattern) and every qualifier's.
    pub resources: [String; 2],
    /// Exactly the `lambda:Principal` values the allowlist names.
    pub principals: BTreeSet<String>,
    pub public_url: bool,
}
