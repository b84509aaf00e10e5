//! `syncchain dev`: the whole system on one machine. It uses the Postgres,
//! NATS and Redis already listening on their usual ports, or starts private
//! ones with their data in the dev folder; generates the JWT secret once;
//! runs every service in this process (each creates and migrates its own
//! database as it starts); prints the GraphQL URL; and on Ctrl-C, SIGTERM or
//! SIGHUP stops the services, then the servers it started, leaving alone
//! those it found. The servers it starts are recorded with it as their
//! owner, so that after a hard kill the next run restarts them as its own
//! (and `syncchain infra down` can stop them).

pub mod config;
pub mod infra;
pub mod nats;
pub mod postgres;
pub mod process;
pub mod redis;
pub mod secret;

use anyhow::anyhow;
use syncchain_platform::{config::Env, shutdown};

pub use config::DevConfig;
use infra::Infra;
use process::Launch;

use crate::serve;

/// Runs the dev system until Ctrl-C, SIGTERM or SIGHUP (the terminal
/// closing). `env` already has the dev
/// settings applied (see [`DevConfig::apply`]).
pub async fn run(config: DevConfig, env: Env) -> anyhow::Result<()> {
    let shutdown = shutdown::on_signal_or_hangup();
    infra::create_dir(&config.dir)?;
    ensure_dev_secret(&config, &env)?;
    let mut infra = match Infra::ensure(&config, Launch::Attached, &shutdown).await {
        Ok(infra) => infra,
        Err(_) if shutdown.is_cancelled() => return Ok(()),
        Err(error) => return Err(error),
    };
    let serving = serve::all(env, shutdown.clone(), announce);
    tokio::pin!(serving);
    let result = tokio::select! {
        result = &mut serving => result,
        (name, log, status) = infra.unexpected_exit() => {
            tracing::error!(server = name, %status, "local server stopped unexpectedly");
            shutdown.cancel();
            let _ = (&mut serving).await;
            Err(anyhow!("the local {name} stopped unexpectedly ({status}); see {}", log.display()))
        }
    };
    infra.stop().await;
    result
}

/// Generates the dev secret when the environment points at it.
pub fn ensure_dev_secret(config: &DevConfig, env: &Env) -> anyhow::Result<()> {
    let file = config::secret_file(&config.dir);
    if env.raw("SYNCCHAIN_JWT_SECRET_FILE") == Some(file.display().to_string().as_str()) {
        secret::ensure(&file)?;
    }
    Ok(())
}

fn announce(gateway: serve::GatewayAddrs) {
    let url = serve::graphql_url(gateway.public);
    let admin = serve::reachable(gateway.admin);
    println!(
        "\nsyncchain is running: GraphQL at {url}\n\
         Readiness and metrics (this machine only) at http://{admin}/readyz and http://{admin}/metrics\n\
         Press Ctrl-C to stop.\n"
    );
}
