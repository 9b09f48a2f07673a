//! The front door: parses the command line, runs the command, and turns its outcome into the
//! exit code of the contract.

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::Parser;

use super::args::{Cli, Command};
use super::check::CheckOptions;
use super::error::CliError;
use super::exit::Exit;
use super::format::Format;
use super::lines::LogFormat;
use super::runtime::block_on;

/// `invokeguard`'s `main`.
pub fn main() -> ExitCode {
    match run(Cli::parse().command) {
        Ok(code) => ExitCode::from(code as u8),
        // The reader has gone (`| head`): nothing is left to say to anyone, so stop as rg does.
        Err(CliError::Output(e)) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("invokeguard: error: {e}");
            ExitCode::from(Exit::BadInput as u8)
        }
    }
}

fn run(command: Command) -> Result<Exit, CliError> {
    let (mut out, mut err) = (std::io::stdout(), std::io::stderr());
    match command {
        Command::Validate {
            file,
            guard_function,
            home,
        } => super::validate::validate(&file, guard_function.as_deref(), &home, &mut err),
        Command::Check {
            policies,
            since,
            until,
            format,
            json,
            events,
        } => {
            let opts = CheckOptions {
                since,
                until,
                format: Format::chosen(format, json, out.is_terminal()),
                stderr_terminal: err.is_terminal(),
                region: None,
            };
            let mut out = std::io::BufWriter::with_capacity(1 << 16, out.lock());
            super::check::check(&policies, &events, &opts, &mut out, &mut err)
        }
        Command::Plan {
            policies,
            function,
            current,
        } => super::plan::plan_command(&policies, &function, &current, &mut out),
        Command::Lint {
            policies,
            format,
            function,
            templates,
        } => {
            let format = Format::chosen(format, false, out.is_terminal());
            super::lint::lint(&policies, &function, &templates, format, &mut out, &mut err)
        }
        Command::Schema { log_line } => super::schema::schema(log_line, &mut out),
        Command::Guardrails {
            policies,
            guard_role,
            exempt_role,
            max_policies,
            output,
            format,
        } => {
            let args = super::guardrails::GuardrailsArgs {
                exempt_roles: exempt_role,
                guard_role,
                max_policies,
                output,
                format,
            };
            super::guardrails::guardrails(&policies, &args, &mut out, &mut err)
        }
        Command::AthenaSql {
            policies,
            query,
            database,
            table,
        } => super::athena::athena_sql(&policies, query, &database, &table, &mut out, &mut err),
        Command::Reconcile {
            policies,
            report,
            format,
        } => {
            let format = LogFormat::chosen(format, out.is_terminal());
            block_on(super::reconcile::reconcile(
                &policies, report, format, &mut err,
            ))?
        }
        Command::Init {
            functions,
            home,
            output,
        } => block_on(super::init::init(
            &functions,
            &home,
            output.as_deref(),
            &mut out,
            &mut err,
        ))?,
        Command::Audit {
            policies,
            format,
            json,
        } => {
            let format = Format::chosen(format, json, out.is_terminal());
            block_on(super::audit::audit(&policies, format, &mut out, &mut err))?
        }
        Command::Remediate {
            policies,
            report,
            format,
            events,
        } => {
            let format = LogFormat::chosen(format, out.is_terminal());
            block_on(super::remediate::remediate(
                &policies, report, format, &events, &mut err,
            ))?
        }
    }
}
