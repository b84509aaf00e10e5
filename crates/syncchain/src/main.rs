//! `syncchain`: parse the command line, read the environment once, set up
//! logging, run the command. Any failure ends as one line on stderr (the
//! error with its causes) and exit code 1.

use std::process::ExitCode;

use clap::Parser;
use syncchain::{cli::Cli, prepare};
use syncchain_platform::{config::Env, telemetry};

fn main() -> ExitCode {
    let cli = Cli::parse();
    match start(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn start(cli: Cli) -> anyhow::Result<()> {
    let prepared = prepare(cli.command, Env::from_process()?)?;
    let telemetry = telemetry::init(&prepared.log_config()?, prepared.trace_config()?.as_ref())?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let ran = runtime.block_on(prepared.run());
    telemetry.shutdown();
    ran
}
