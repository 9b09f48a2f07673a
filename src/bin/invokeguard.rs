use std::process::ExitCode;

use clap::Parser;
use invokeguard::cli::{
    Cli, CliError, Command, Exit, athena_sql, audit, check, init, plan_command, reconcile,
    remediate, schema, validate,
};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let (mut out, mut err) = (std::io::stdout(), std::io::stderr());
    let result = match cli.command {
        Command::Validate {
            file,
            guard_function,
            home,
        } => validate(&file, guard_function.as_deref(), &home, &mut err),
        Command::Check {
            policies,
            home,
            since,
            until,
            json,
            events,
        } => {
            use std::io::IsTerminal;
            let opts = invokeguard::cli::check::CheckOptions {
                since,
                until,
                json,
                stdout_terminal: out.is_terminal(),
                stderr_terminal: err.is_terminal(),
                region: None,
            };
            let mut out = std::io::BufWriter::with_capacity(1 << 16, out.lock());
            check(&policies, &home, &events, &opts, &mut out, &mut err)
        }
        Command::Plan {
            policies,
            home,
            function,
            current,
        } => plan_command(&policies, &home, &function, &current, &mut out),
        Command::Schema { log_line } => schema(log_line, &mut out),
        Command::AthenaSql {
            policies,
            home,
            query,
            database,
            table,
        } => athena_sql(
            &policies, &home, query, &database, &table, &mut out, &mut err,
        ),
        Command::Reconcile {
            policies,
            report,
            home,
        } => tokio::runtime::Runtime::new()
            .map_err(|e| CliError::Remediation(format!("cannot start the async runtime: {e}")))
            .and_then(|rt| rt.block_on(reconcile(&policies, report, &home, &mut err))),
        Command::Init {
            functions,
            home,
            output,
        } => tokio::runtime::Runtime::new()
            .map_err(|e| CliError::Remediation(format!("cannot start the async runtime: {e}")))
            .and_then(|rt| {
                rt.block_on(init(
                    &functions,
                    &home,
                    output.as_deref(),
                    &mut out,
                    &mut err,
                ))
            }),
        Command::Audit {
            policies,
            home,
            json,
        } => tokio::runtime::Runtime::new()
            .map_err(|e| CliError::Remediation(format!("cannot start the async runtime: {e}")))
            .and_then(|rt| rt.block_on(audit(&policies, &home, json, &mut out, &mut err))),
        Command::Remediate {
            policies,
            report,
            home,
            events,
        } => tokio::runtime::Runtime::new()
            .map_err(|e| CliError::Remediation(format!("cannot start the async runtime: {e}")))
            .and_then(|rt| rt.block_on(remediate(&policies, report, &home, &events, &mut err))),
    };
    match result {
        Ok(code) => ExitCode::from(code as u8),
        Err(e) => {
            eprintln!("invokeguard: error: {e}");
            ExitCode::from(Exit::BadInput as u8)
        }
    }
}
