use std::path::PathBuf;

use clap::{Parser, Subcommand};

use super::error::CliError;
use crate::allowlist::Allowlist;
use crate::aws::home::Home;

// What `--account`/`--region` mean depends on the command: offline ones only narrow what a name
// matches; online ones need a home and find it themselves.
const OFFLINE_ACCOUNT: &str = "Home account id (12 digits); without it and --region, a function \
     name in the policies file matches in any account and region";
const OFFLINE_REGION: &str =
    "Home region; without it and --account, a function name matches in any account and region";
const LINT_ACCOUNT: &str = "Home account id (12 digits): the stacks' AWS::AccountId; with --region, \
     a function name in the policies file means the function there";
const LINT_REGION: &str = "Home region: the stacks' AWS::Region (and AWS::Partition)";
const ONLINE_ACCOUNT: &str =
    "Home account id (12 digits); without it, the credentials' account (STS GetCallerIdentity)";
const ONLINE_REGION: &str =
    "Home region; without it, the configured region (AWS_REGION or the profile's)";

/// Keeps AWS Lambda resource policies to an allowlist of expected invokers.
#[derive(Debug, Parser)]
#[command(name = "invokeguard", version, about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check a policies file; exit 0 when valid, 2 when not.
    #[command(mut_arg("account", |a| a.help(OFFLINE_ACCOUNT)), mut_arg("region", |a| a.help(OFFLINE_REGION)))]
    Validate {
        /// The policies file.
        #[arg(default_value = "policies/invokers.json")]
        file: PathBuf,
        /// The guard's own function name, which the file must not guard.
        #[arg(long)]
        guard_function: Option<String>,
        /// With both: the home a name key means, so a function keyed by its name and by its ARN
        /// there, or the guard's own ARN, is an error here rather than in the Lambda.
        #[command(flatten)]
        home: HomeArgs,
    },
    /// Judge CloudTrail records, one JSON verdict per line (a summary of the violations on a
    /// terminal). Exit 1 when any is a violation.
    #[command(mut_arg("account", |a| a.help(OFFLINE_ACCOUNT)), mut_arg("region", |a| a.help(OFFLINE_REGION)))]
    Check {
        #[command(flatten)]
        policies: PoliciesArgs,
        /// Read only trail files whose path (`.../YYYY/MM/DD/`) is on or after this day.
        #[arg(long, value_name = "YYYY-MM-DD", value_parser = super::check::sources::parse_day)]
        since: Option<super::check::sources::Day>,
        /// Read only trail files whose path (`.../YYYY/MM/DD/`) is on or before this day.
        #[arg(long, value_name = "YYYY-MM-DD", value_parser = super::check::sources::parse_day)]
        until: Option<super::check::sources::Day>,
        /// table: the violations per function and caller (a terminal's default); json: one
        /// verdict per record (the default when piped); csv: the table's rows; sarif: SARIF 2.1.0
        /// for code scanning.
        #[arg(long, value_enum, value_name = "FORMAT")]
        format: Option<super::format::Format>,
        /// The same as `--format json`.
        #[arg(long, conflicts_with = "format")]
        json: bool,
        /// Files of records (EventBridge events, records, {"Records":[...]}, arrays, .gz), `-` or
        /// none for stdin, directory trees of trail files (`AWSLogs/...`, every *.json.gz) and
        /// `s3://BUCKET/PREFIX`.
        #[arg(value_name = "SOURCES")]
        events: Vec<PathBuf>,
    },
    /// The reconcile plan for one resource policy, as JSON. Exit 1 when it changes something.
    #[command(mut_arg("account", |a| a.help(OFFLINE_ACCOUNT)), mut_arg("region", |a| a.help(OFFLINE_REGION)))]
    Plan {
        #[command(flatten)]
        policies: PoliciesArgs,
        /// NAME, NAME:QUALIFIER or a function ARN (qualified or not).
        #[arg(long)]
        function: String,
        /// A GetPolicy response or a bare policy document.
        #[arg(long)]
        current: PathBuf,
    },
    /// Judge records and reconcile the policies of violated functions, against AWS (or AWS_ENDPOINT_URL).
    #[command(mut_arg("account", |a| a.help(ONLINE_ACCOUNT)), mut_arg("region", |a| a.help(ONLINE_REGION)))]
    Remediate {
        #[command(flatten)]
        policies: PoliciesArgs,
        /// Report only: log and notify the plans, change nothing.
        #[arg(long)]
        report: bool,
        /// table: one readable line per decision and action and a recap (a terminal's default);
        /// json: the guard's JSON log lines and the run's JSON report (the default when piped).
        #[arg(long, value_enum, value_name = "FORMAT")]
        format: Option<super::lines::LogFormat>,
        events: Vec<PathBuf>,
    },
    /// What a reconcile of every guarded policy (functions, aliases, listed qualifiers) would
    /// remove and add, and why; reads only. Exit 1 when something would change.
    #[command(mut_arg("account", |a| a.help(ONLINE_ACCOUNT)), mut_arg("region", |a| a.help(ONLINE_REGION)))]
    Audit {
        #[command(flatten)]
        policies: PoliciesArgs,
        /// table (a terminal's default); json: one plan per policy and line (the default when
        /// piped); csv: one row per statement to remove or add; sarif: SARIF 2.1.0 for code
        /// scanning.
        #[arg(long, value_enum, value_name = "FORMAT")]
        format: Option<super::format::Format>,
        /// The same as `--format json`.
        #[arg(long, conflicts_with = "format")]
        json: bool,
    },
    /// Reconcile every guarded policy (functions, aliases, listed qualifiers) now, in each
    /// function's mode; exit 1 when grants outside the allowlist are left.
    #[command(mut_arg("account", |a| a.help(ONLINE_ACCOUNT)), mut_arg("region", |a| a.help(ONLINE_REGION)))]
    Reconcile {
        #[command(flatten)]
        policies: PoliciesArgs,
        /// Report only: log the plans, change nothing.
        #[arg(long)]
        report: bool,
        /// table: one readable line per decision and action and a recap (a terminal's default);
        /// json: the guard's JSON log lines and the sweep's JSON report (the default when piped).
        #[arg(long, value_enum, value_name = "FORMAT")]
        format: Option<super::lines::LogFormat>,
    },
    /// Write a starting policies file (report mode) from today's grants; public, foreign and
    /// unconstrained service grants are left out with a warning.
    #[command(mut_arg("account", |a| a.help(ONLINE_ACCOUNT)), mut_arg("region", |a| a.help(ONLINE_REGION)))]
    Init {
        /// Functions to include; none: every function of the account and region.
        #[arg(long, num_args = 1..)]
        functions: Vec<String>,
        #[command(flatten)]
        home: HomeArgs,
        /// Where to write it (never overwritten); stdout when not given.
        #[arg(long)]
        output: Option<PathBuf>,
    },
    /// Print an Athena (Trino) query over the CloudTrail table, generated from the policies file:
    /// by default, invocations of guarded functions by callers outside the allowlist.
    #[command(mut_arg("account", |a| a.help(OFFLINE_ACCOUNT)), mut_arg("region", |a| a.help(OFFLINE_REGION)))]
    AthenaSql {
        #[command(flatten)]
        policies: PoliciesArgs,
        /// Which query.
        #[arg(long, value_enum, default_value = "outside-allowlist")]
        query: crate::athena::Query,
        /// The Glue/Athena database of the CloudTrail table.
        #[arg(long, default_value = crate::athena::DEFAULT_DATABASE)]
        database: String,
        /// The CloudTrail table.
        #[arg(long, default_value = crate::athena::DEFAULT_TABLE)]
        table: String,
    },
    /// Print a service control policy, generated from the policies file, that denies creating
    /// grants outside the allowlist on the guarded functions (all but the exempt roles); its
    /// size on stderr. Exit 1 when a guarded function fits in no policy.
    #[command(mut_arg("account", |a| a.help(OFFLINE_ACCOUNT)), mut_arg("region", |a| a.help(OFFLINE_REGION)))]
    Guardrails {
        #[command(flatten)]
        policies: PoliciesArgs,
        /// The guard's role ARN: it may still write whole documents and re-add allowlisted grants.
        #[arg(long, value_name = "ARN")]
        guard_role: Option<String>,
        /// A deployer role (or user) ARN that may still make any grant; `*` and `?` allowed.
        /// Repeatable.
        #[arg(long, value_name = "ARN")]
        exempt_role: Vec<String>,
        /// Spread the functions over up to this many SCPs (1 to 5) before leaving any out.
        #[arg(long, default_value_t = 1, value_name = "N")]
        max_policies: usize,
        /// Write the document(s) here (FILE, then FILE-2, ...) instead of stdout.
        #[arg(long, value_name = "FILE")]
        output: Option<PathBuf>,
        /// document: the minified SCP(s); json: a report with sizes and what was left out.
        #[arg(long, value_enum, default_value = "document")]
        format: GuardrailsFormat,
    },
    /// Judge CloudFormation templates (JSON or YAML: cdk.out, SAM, Serverless Framework) before
    /// deploy: each grant on a guarded function the guard would remove is an error. Exit 1 when
    /// any is, 2 when a template cannot be read.
    #[command(mut_arg("account", |a| a.help(LINT_ACCOUNT)), mut_arg("region", |a| a.help(LINT_REGION)))]
    Lint {
        #[command(flatten)]
        policies: PoliciesArgs,
        /// table (a terminal's default); json: one finding per line (the default when piped);
        /// csv; sarif: SARIF 2.1.0 at the templates' lines, for code scanning.
        #[arg(long, value_enum, value_name = "FORMAT")]
        format: Option<super::format::Format>,
        /// The name a function without a literal FunctionName will have, so the policies file
        /// can name it (repeatable).
        #[arg(long, value_name = "LOGICALID=NAME", value_parser = crate::template::function_mapping)]
        function: Vec<(String, String)>,
        /// Template files, `-` for stdin.
        #[arg(required = true, value_name = "TEMPLATE")]
        templates: Vec<PathBuf>,
    },
    /// Print the JSON Schema of the policies file.
    Schema {
        /// Print the JSON Schema of a log line the guard writes instead.
        #[arg(long)]
        log_line: bool,
    },
}

/// What `guardrails` writes on stdout.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum GuardrailsFormat {
    /// Each SCP document, minified, one per line (nothing with `--output`).
    #[default]
    Document,
    /// One JSON report: the policies with their sizes and functions, what was left out, notes.
    Json,
}

/// The home account and region a function name in the policies file means.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct HomeArgs {
    /// Home account id (12 digits).
    #[arg(long)]
    pub account: Option<String>,
    /// Home region.
    #[arg(long)]
    pub region: Option<String>,
}

impl HomeArgs {
    /// Offline, a name matches anywhere unless both `--account` and `--region` are given.
    pub fn set_offline(&self, allowlist: &Allowlist) -> Result<(), CliError> {
        match (&self.account, &self.region) {
            (Some(account), Some(region)) => {
                let home = Home::new(Home::partition_of_region(region), region, account)
                    .map_err(|e| CliError::Home(e.to_string()))?;
                allowlist.set_home(home)?;
                Ok(())
            }
            (None, None) => Ok(()),
            _ => Err(CliError::Home(
                "give both --account and --region, or neither".into(),
            )),
        }
    }

    /// Online: `--account`/`--region`, else the AWS configuration's region and STS's account.
    #[cfg(feature = "aws")]
    pub async fn resolve(&self) -> Result<Home, CliError> {
        crate::sdk::env::resolve_home(self.account.as_deref(), self.region.as_deref())
            .await
            .map_err(CliError::Home)
    }
}

/// The policies file and the home its function names mean: what every command that judges or
/// reconciles against the allowlist is given.
#[derive(Debug, Clone, clap::Args)]
pub struct PoliciesArgs {
    /// The policies file: the guarded functions and the callers each allows.
    #[arg(long, default_value = "policies/invokers.json")]
    pub policies: PathBuf,
    #[command(flatten)]
    pub home: HomeArgs,
}

impl PoliciesArgs {
    /// The validated allowlist, its home set when both `--account` and `--region` are given.
    pub fn load_offline(&self) -> Result<Allowlist, CliError> {
        let allowlist = Allowlist::load(&self.policies, None)?;
        self.home.set_offline(&allowlist)?;
        Ok(allowlist)
    }

    /// The validated allowlist (every function in report mode with `report_only`) and its home,
    /// resolved with the AWS configuration and STS where the flags leave it open.
    #[cfg(feature = "aws")]
    pub async fn load_online(&self, report_only: bool) -> Result<(Allowlist, Home), CliError> {
        let allowlist = Allowlist::load(&self.policies, None)?
            .with_mode_override(report_only.then_some(crate::allowlist::Mode::Report));
        let home = self.home.resolve().await?;
        allowlist.set_home(home.clone())?;
        Ok((allowlist, home))
    }
}
