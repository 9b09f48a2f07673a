use std::process::ExitCode;

use clap::Parser;
use invokeguard::cli::{Cli, Command, Exit, check, plan_command, schema, validate};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let (mut out, mut err) = (std::io::stdout().lock(), std::io::stderr());
    let result = match cli.command {
        Command::Validate {
            file,
            guard_function,
        } => validate(&file, guard_function.as_deref(), &mut err),
        Command::Check { policies, events } => check(&policies, &events, &mut out, &mut err),
        Command::Plan {
            policies,
            function,
            current,
        } => plan_command(&policies, &function, &current, &mut out),
        Command::Schema => schema(&mut out),
        Command::Remediate { .. } => Err(invokeguard::cli::CliError::Remediation(
            "remediate is not built yet".into(),
        )),
    };
    match result {
        Ok(code) => ExitCode::from(code as u8),
        Err(e) => {
            eprintln!("invokeguard: error: {e}");
            ExitCode::from(Exit::BadInput as u8)
        }
    }
}
