//! A simulated AWS Organization in moto: member accounts (moto's multi-account support: calls
//! made with credentials from `sts:AssumeRole` land in the assumed account's backend), each with
//! an execution role for CreateFunction and guarded functions carrying an allowed grant and,
//! for some, a drifted public one. Accounts are set up side by side (a bounded number at a
//! time), so an organization of a thousand functions takes seconds, not minutes.

use std::collections::BTreeMap;

use aws_sdk_lambda::config::{Credentials, SharedCredentialsProvider};
use futures_util::StreamExt;
use serde_json::{Value, json};

use super::http;
use super::moto::{self, REGION};

/// The execution role every member function runs as (moto's CreateFunction wants it in IAM).
pub const EXEC_ROLE: &str = "exec";
/// The Sid of every function's allowed grant.
pub const ALLOWED_SID: &str = "partner";
/// The Sid of the drifted public grant.
pub const DRIFT_SID: &str = "public";

/// The unqualified ARN of `name` in `account` (the home region).
pub fn function_arn(account: &str, name: &str) -> String {
    format!("arn:aws:lambda:{REGION}:{account}:function:{name}")
}

/// The account of a Lambda function ARN (qualified or not, URL-decoded), if it is one.
pub fn account_of_arn(arn: &str) -> Option<&str> {
    match arn.split(':').collect::<Vec<_>>().as_slice() {
        ["arn", _, "lambda", _, account, "function", ..] => Some(account),
        _ => None,
    }
}

/// `count` distinct 12-digit member account ids, starting after `base`.
pub fn account_ids(base: u64, count: usize) -> Vec<String> {
    (1..=count as u64)
        .map(|i| format!("{:012}", base + i))
        .collect()
}

/// Creates IAM role `role` in `account` (IAM Query API with moto's `x-moto-account-id`
/// header: no IAM SDK dependency); returns its ARN. An existing role is fine.
pub async fn create_role_in(endpoint: &str, account: &str, role: &str) -> String {
    let trust = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
        "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]});
    let body = format!(
        "Action=CreateRole&Version=2010-05-08&RoleName={role}&AssumeRolePolicyDocument={}",
        http::url_encode(&trust.to_string())
    );
    let auth = format!(
        "AWS4-HMAC-SHA256 Credential=testing/20250101/{REGION}/iam/aws4_request, SignedHeaders=host, Signature=0000"
    );
    let headers = [
        ("Content-Type", "application/x-www-form-urlencoded"),
        ("Authorization", auth.as_str()),
        ("x-moto-account-id", account),
    ];
    let resp = http::request(endpoint, "POST", "/", &headers, body.as_bytes())
        .await
        .unwrap_or_else(|e| panic!("IAM CreateRole {role} in {account}: {e}"));
    let text = resp.text();
    assert!(
        resp.status == 200 || text.contains("EntityAlreadyExists"),
        "IAM CreateRole {role} in {account}: {} {text}",
        resp.status
    );
    format!("arn:aws:iam::{account}:role/{role}")
}

/// A Lambda client acting in `account` at `endpoint` (moto itself, or a proxy in front of it),
/// with credentials from an AssumeRole sent to `sts_endpoint` (moto does not check that the
/// role exists or trusts anyone).
pub async fn member_lambda_via(
    sts_endpoint: &str,
    endpoint: &str,
    account: &str,
) -> aws_sdk_lambda::Client {
    let base = moto::sdk_config(sts_endpoint).await;
    let creds = aws_sdk_sts::Client::new(&base)
        .assume_role()
        .role_arn(format!("arn:aws:iam::{account}:role/setup"))
        .role_session_name("test-setup")
        .send()
        .await
        .unwrap_or_else(|e| panic!("AssumeRole into {account}: {e:?}"))
        .credentials
        .unwrap_or_else(|| panic!("AssumeRole into {account} returned no credentials"));
    let config = base
        .to_builder()
        .endpoint_url(endpoint)
        .credentials_provider(SharedCredentialsProvider::new(Credentials::new(
            creds.access_key_id(),
            creds.secret_access_key(),
            Some(creds.session_token().to_owned()),
            None,
            "moto-member",
        )))
        .build();
    aws_sdk_lambda::Client::new(&config)
}

/// A Lambda client acting in `account`, straight against moto.
pub async fn member_lambda(endpoint: &str, account: &str) -> aws_sdk_lambda::Client {
    member_lambda_via(endpoint, endpoint, account).await
}

/// One member account: its id and a Lambda client acting in it (straight against moto).
#[derive(Clone)]
pub struct Member {
    pub account: String,
    pub lambda: aws_sdk_lambda::Client,
}

/// Sets up `account`: the execution role, and a client acting in it.
pub async fn member_account(endpoint: &str, account: &str) -> Member {
    create_role_in(endpoint, account, EXEC_ROLE).await;
    Member {
        account: account.to_owned(),
        lambda: member_lambda(endpoint, account).await,
    }
}

/// Creates `name` in the member's account with one allowed grant (`ALLOWED_SID` to
/// `allowed_account`) and, if `drifted`, a public one (`DRIFT_SID` to `*`); returns its ARN.
pub async fn guarded_function(
    member: &Member,
    name: &str,
    allowed_account: &str,
    drifted: bool,
) -> String {
    let role = format!("arn:aws:iam::{}:role/{EXEC_ROLE}", member.account);
    let arn = moto::create_function(&member.lambda, name, &role).await;
    moto::grant(
        &member.lambda,
        name,
        ALLOWED_SID,
        allowed_account,
        None,
        None,
    )
    .await;
    if drifted {
        moto::grant(&member.lambda, name, DRIFT_SID, "*", None, None).await;
    }
    arn
}

/// The shape of a simulated organization.
#[derive(Debug, Clone)]
pub struct OrgSpec {
    /// Member account ids (see `account_ids`).
    pub accounts: Vec<String>,
    pub functions_per_account: usize,
    /// Every `drift_every`-th function of an account (the 1st, the (n+1)-th, …) also has a
    /// public grant; 0: none does.
    pub drift_every: usize,
    /// The account every function's allowed grant names.
    pub allowed_account: String,
    /// Function names are `{prefix}{index:04}` in every account.
    pub name_prefix: String,
    /// Functions created at the same time, across accounts.
    pub concurrency: usize,
}

/// One function of the organization.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrgFunction {
    pub account: String,
    pub name: String,
    pub arn: String,
    pub drifted: bool,
}

pub struct Org {
    pub members: Vec<Member>,
    /// Account by account, in `OrgSpec::accounts` order, then by name.
    pub functions: Vec<OrgFunction>,
}

impl Org {
    pub fn member(&self, account: &str) -> Option<&Member> {
        self.members.iter().find(|m| m.account == account)
    }

    pub fn drifted(&self) -> impl Iterator<Item = &OrgFunction> {
        self.functions.iter().filter(|f| f.drifted)
    }

    /// `policies_json` written to a temporary file.
    pub fn policies_file(&self, allowed_account: &str) -> tempfile::NamedTempFile {
        let file = tempfile::NamedTempFile::new().expect("a temporary file");
        std::fs::write(file.path(), self.policies_json(allowed_account).to_string())
            .expect("the policies file written");
        file
    }

    /// A policies file keying every function by its ARN, each allowing `allowed_account` only.
    pub fn policies_json(&self, allowed_account: &str) -> serde_json::Value {
        let functions: serde_json::Map<String, serde_json::Value> = self
            .functions
            .iter()
            .map(|f| {
                (
                    f.arn.clone(),
                    json!({"allow": [{"account": allowed_account}]}),
                )
            })
            .collect();
        json!({"version": 1, "functions": functions})
    }
}

/// A benchmark's organization: created, announced on stdout with its setup time, and every
/// policy read (`statements`) for the check after the sweep. Returns the setup time too.
pub async fn create_org_for_bench(
    endpoint: &str,
    spec: &OrgSpec,
) -> (Org, BTreeMap<String, Vec<Value>>, std::time::Duration) {
    let t = std::time::Instant::now();
    let org = create_org(endpoint, spec).await;
    let setup = t.elapsed();
    println!(
        "Simulated organization in moto: {} accounts × {} functions = {} functions, {} drifted (a public grant); set up in {:.1} s",
        spec.accounts.len(),
        spec.functions_per_account,
        org.functions.len(),
        org.drifted().count(),
        setup.as_secs_f64()
    );
    let before = statements(endpoint, endpoint, &org, spec.concurrency).await;
    (org, before, setup)
}

/// Creates the organization in moto (accounts, roles, functions, grants); at most
/// `spec.concurrency` requests are in flight at a time.
pub async fn create_org(endpoint: &str, spec: &OrgSpec) -> Org {
    let width = spec.concurrency.max(1);
    let mut members: Vec<Member> = futures_util::stream::iter(&spec.accounts)
        .map(|account| member_account(endpoint, account))
        .buffered(width)
        .collect()
        .await;
    members.sort_by(|a, b| a.account.cmp(&b.account));
    let mut planned = Vec::new();
    for account in &spec.accounts {
        for i in 0..spec.functions_per_account {
            let name = format!("{}{i:04}", spec.name_prefix);
            planned.push(OrgFunction {
                arn: function_arn(account, &name),
                account: account.clone(),
                name,
                drifted: spec.drift_every > 0 && i % spec.drift_every == 0,
            });
        }
    }
    let members_ref = &members;
    let created: Vec<String> = futures_util::stream::iter(&planned)
        .map(|f| async move {
            let member = members_ref
                .iter()
                .find(|m| m.account == f.account)
                .unwrap_or_else(|| panic!("no member {}", f.account));
            guarded_function(member, &f.name, &spec.allowed_account, f.drifted).await
        })
        .buffer_unordered(width)
        .collect()
        .await;
    assert_eq!(created.len(), planned.len());
    Org {
        members,
        functions: planned,
    }
}

/// The Sids of `function`'s unqualified policy as `client` reads it (empty: no policy).
pub async fn sids(client: &aws_sdk_lambda::Client, function: &str) -> Vec<String> {
    moto::stored_policy(client, function, None)
        .await
        .map(|p| p["Statement"].as_array().cloned().unwrap_or_default())
        .unwrap_or_default()
        .iter()
        .filter_map(|s| s["Sid"].as_str().map(str::to_owned))
        .collect()
}

/// Every function's unqualified policy statements (none: no policy), read through `endpoint`
/// as each member account, `width` reads at a time.
pub async fn statements(
    moto_endpoint: &str,
    endpoint: &str,
    org: &Org,
    width: usize,
) -> BTreeMap<String, Vec<Value>> {
    let mut clients = BTreeMap::new();
    for m in &org.members {
        let client = member_lambda_via(moto_endpoint, endpoint, &m.account).await;
        clients.insert(m.account.clone(), client);
    }
    let clients = &clients;
    futures_util::stream::iter(&org.functions)
        .map(|f| async move {
            let doc = moto::stored_policy(&clients[&f.account], &f.name, None).await;
            let statements = doc
                .map(|d| d["Statement"].as_array().cloned().unwrap_or_default())
                .unwrap_or_default();
            (f.arn.clone(), statements)
        })
        .buffer_unordered(width)
        .collect()
        .await
}

/// Against `before` (see `statements`): (drifted policies fixed, with their allowed grant kept;
/// clean policies unchanged; problems, one line per policy that is neither).
pub fn check(
    functions: &[OrgFunction],
    before: &BTreeMap<String, Vec<Value>>,
    after: &BTreeMap<String, Vec<Value>>,
) -> (usize, usize, Vec<String>) {
    let (mut fixed, mut untouched, mut problems) = (0, 0, Vec::new());
    for f in functions {
        let was = &before[&f.arn];
        let now = &after[&f.arn];
        let expected: Vec<Value> = was
            .iter()
            .filter(|s| !(f.drifted && s["Sid"] == DRIFT_SID))
            .cloned()
            .collect();
        if *now != expected {
            problems.push(format!("{}: was {was:?}, now {now:?}", f.arn));
        } else if f.drifted {
            fixed += 1;
        } else {
            untouched += 1;
        }
    }
    (fixed, untouched, problems)
}
