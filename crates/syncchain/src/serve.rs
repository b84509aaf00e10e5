//! `syncchain serve`: one role, or all of them, in this process. Each role
//! is a library `Application` built from its typed settings and a listener
//! bound here; every role shares one shutdown token, cancelled by Ctrl-C or
//! SIGTERM, and each drains its in-flight work before returning. When one
//! role stops on its own, the others are stopped too: a half-running process
//! would look healthy to an orchestrator while it is not.

use std::{
    future::Future,
    net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr},
};

use anyhow::{Context, bail};
use syncchain_platform::{
    auth::JwtSecret,
    config::{ConfigError, Env},
    shutdown::{self, Shutdown},
};
use tokio::net::TcpListener;

use crate::cli::Role;

const GATEWAY_ADDR_VAR: &str = "SYNCCHAIN_GATEWAY_ADDR";
const DEFAULT_GATEWAY_ADDR: &str = "0.0.0.0:8000";
const USERS_ADDR_VAR: &str = "SYNCCHAIN_USERS_ADDR";
const USERS_URL_VAR: &str = "SYNCCHAIN_USERS_URL";

pub async fn run(role: Role, env: Env) -> anyhow::Result<()> {
    match role {
        Role::Products => bail!(not_yet_available("products")),
        Role::Orders => bail!(not_yet_available("orders")),
        Role::Gateway | Role::Users | Role::All => {}
    }
    require_secret(&env)?;
    let shutdown = shutdown::on_signal();
    match role {
        Role::Gateway => gateway(env, shutdown).await,
        Role::Users => users(env, shutdown).await,
        _ => {
            all(env, shutdown, |addr| {
                tracing::info!(url = %graphql_url(addr), "syncchain is serving");
            })
            .await
        }
    }
}

fn not_yet_available(service: &str) -> String {
    format!(
        "the {service} service is not yet available (it arrives with the order saga); \
         `syncchain serve` can run gateway, users or all"
    )
}

/// Every role refuses to start without a signing secret. Checked before
/// anything else so the message is the same whichever role runs, and says
/// what to do.
fn require_secret(env: &Env) -> Result<(), ConfigError> {
    if JwtSecret::from_env(env)?.is_none() {
        return Err(ConfigError::new(
            "SYNCCHAIN_JWT_SECRET",
            "not set. syncchain serve refuses to start without a token signing secret of at least 32 bytes: \
             set SYNCCHAIN_JWT_SECRET, or SYNCCHAIN_JWT_SECRET_FILE naming a file that holds one \
             (e.g. made with `openssl rand -base64 48`); only dev mode generates its own",
        ));
    }
    Ok(())
}

async fn gateway(env: Env, shutdown: Shutdown) -> anyhow::Result<()> {
    let config = syncchain_gateway::Config::from_env(&env)?;
    let listener = bind(
        &env.string(GATEWAY_ADDR_VAR, DEFAULT_GATEWAY_ADDR),
        GATEWAY_ADDR_VAR,
    )
    .await?;
    let app = syncchain_gateway::Application::build(config, listener, shutdown.clone())
        .await
        .context("cannot start the gateway")?;
    tracing::info!(url = %graphql_url(app.local_addr()), "gateway serving");
    until_stopped("gateway", app.run_until_stopped(), &shutdown).await
}

async fn users(env: Env, shutdown: Shutdown) -> anyhow::Result<()> {
    let config = syncchain_users::Config::from_env(&env)?;
    let listener = bind(&config.addr, USERS_ADDR_VAR).await?;
    let app = syncchain_users::Application::build(config, listener, shutdown.clone())
        .await
        .context("cannot start the users service")?;
    until_stopped("users service", app.run_until_stopped(), &shutdown).await
}

/// Runs users and the gateway together; `on_ready` gets the gateway's
/// address once both are up. When `SYNCCHAIN_USERS_URL` is unset the
/// gateway calls the users service where it was actually bound (so
/// `SYNCCHAIN_USERS_ADDR=127.0.0.1:0` works).
pub async fn all(
    mut env: Env,
    shutdown: Shutdown,
    on_ready: impl FnOnce(SocketAddr),
) -> anyhow::Result<()> {
    let users_config = syncchain_users::Config::from_env(&env)?;
    let users_listener = bind(&users_config.addr, USERS_ADDR_VAR).await?;
    if env.raw(USERS_URL_VAR).is_none() {
        env.set(
            USERS_URL_VAR,
            format!("http://{}", reachable(users_listener.local_addr()?)),
        );
    }
    let gateway_config = syncchain_gateway::Config::from_env(&env)?;
    let gateway_listener = bind(
        &env.string(GATEWAY_ADDR_VAR, DEFAULT_GATEWAY_ADDR),
        GATEWAY_ADDR_VAR,
    )
    .await?;

    let users = syncchain_users::Application::build(users_config, users_listener, shutdown.clone())
        .await
        .context("cannot start the users service")?;
    let gateway = match syncchain_gateway::Application::build(
        gateway_config,
        gateway_listener,
        shutdown.clone(),
    )
    .await
    {
        Ok(gateway) => gateway,
        Err(error) => {
            shutdown.cancel();
            let _ = users.run_until_stopped().await;
            return Err(error.context("cannot start the gateway"));
        }
    };
    on_ready(gateway.local_addr());
    let (users, gateway) = tokio::join!(
        until_stopped("users service", users.run_until_stopped(), &shutdown),
        until_stopped("gateway", gateway.run_until_stopped(), &shutdown),
    );
    users.and(gateway)
}

/// Runs one role; when it stops before shutdown was asked for, asks the
/// other roles to stop as well.
async fn until_stopped(
    name: &'static str,
    run: impl Future<Output = anyhow::Result<()>>,
    shutdown: &Shutdown,
) -> anyhow::Result<()> {
    let result = run.await;
    if !shutdown.is_cancelled() {
        tracing::error!(role = name, "stopped on its own; stopping the others");
        shutdown.cancel();
    }
    result.with_context(|| format!("the {name} failed"))
}

async fn bind(addr: &str, var: &str) -> anyhow::Result<TcpListener> {
    TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr} (set by {var})"))
}

/// An address to connect to for a listener bound to `addr`.
fn reachable(addr: SocketAddr) -> SocketAddr {
    match addr.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => {
            SocketAddr::new(Ipv4Addr::LOCALHOST.into(), addr.port())
        }
        IpAddr::V6(ip) if ip.is_unspecified() => {
            SocketAddr::new(Ipv6Addr::LOCALHOST.into(), addr.port())
        }
        _ => addr,
    }
}

/// The GraphQL URL a person on this machine opens for a gateway bound to `addr`.
pub fn graphql_url(addr: SocketAddr) -> String {
    let addr = reachable(addr);
    if addr.ip().is_loopback() {
        format!("http://localhost:{}/graphql", addr.port())
    } else {
        format!("http://{addr}/graphql")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_gateway_on_every_interface_is_announced_as_localhost() {
        let addr: SocketAddr = "0.0.0.0:8000".parse().unwrap();
        assert_eq!(graphql_url(addr), "http://localhost:8000/graphql");
    }

    #[test]
    fn a_gateway_on_one_address_is_announced_with_it() {
        let addr: SocketAddr = "10.1.2.3:9000".parse().unwrap();
        assert_eq!(graphql_url(addr), "http://10.1.2.3:9000/graphql");
    }

    #[test]
    fn a_missing_secret_names_the_variable_and_the_remedy() {
        let error = require_secret(&Env::default()).unwrap_err();
        assert_eq!(error.var, "SYNCCHAIN_JWT_SECRET");
        assert!(error.to_string().contains("SYNCCHAIN_JWT_SECRET_FILE"));
    }
}
