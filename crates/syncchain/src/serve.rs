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

use anyhow::Context;
use futures::{FutureExt, future::BoxFuture};
use syncchain_platform::{
    auth::JwtSecret,
    config::{ConfigError, Env},
    metrics::Metrics,
    roles::{self, RoleSpec},
    shutdown::{self, Shutdown},
};
use tokio::net::TcpListener;

use crate::cli::Role;

/// Where a started gateway listens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GatewayAddrs {
    /// `/graphql` and `/healthz`.
    pub public: SocketAddr,
    /// `/metrics` and `/readyz`.
    pub admin: SocketAddr,
}

/// The gateway's two listeners, bound from the environment.
pub async fn bind_gateway(env: &Env) -> anyhow::Result<(TcpListener, TcpListener)> {
    let public = bind(env, &roles::GATEWAY).await?;
    let admin = bind(env, &roles::GATEWAY_ADMIN).await?;
    Ok((public, admin))
}

/// A gRPC service role: its name, where it listens, where others reach it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Service {
    Users,
    Products,
    Orders,
}

impl Service {
    /// In start-up order: orders calls products, the gateway calls all.
    const ALL: [Service; 3] = [Service::Users, Service::Products, Service::Orders];

    fn name(self) -> &'static str {
        match self {
            Service::Users => "users service",
            Service::Products => "products service",
            Service::Orders => "orders service",
        }
    }

    fn role(self) -> &'static RoleSpec {
        match self {
            Service::Users => &roles::USERS,
            Service::Products => &roles::PRODUCTS,
            Service::Orders => &roles::ORDERS,
        }
    }

    async fn bind(self, env: &Env) -> anyhow::Result<TcpListener> {
        bind(env, self.role()).await
    }

    /// Builds the service on `listener`; the future runs it until shutdown.
    async fn build(
        self,
        env: &Env,
        listener: TcpListener,
        shutdown: Shutdown,
        metrics: &Metrics,
    ) -> anyhow::Result<BoxFuture<'static, anyhow::Result<()>>> {
        match self {
            Service::Users => {
                start::<syncchain_users::Config>(env, listener, shutdown, metrics).await
            }
            Service::Products => {
                start::<syncchain_products::Config>(env, listener, shutdown, metrics).await
            }
            Service::Orders => {
                start::<syncchain_orders::Config>(env, listener, shutdown, metrics).await
            }
        }
    }
}

/// Builds service `S` (named by its settings) from the environment on `listener`; the future runs
/// it until shutdown.
async fn start<S: syncchain_host::Service>(
    env: &Env,
    listener: TcpListener,
    shutdown: Shutdown,
    metrics: &Metrics,
) -> anyhow::Result<Running> {
    let app = syncchain_host::Application::<S>::build(env, listener, shutdown, metrics)
        .await
        .with_context(|| format!("cannot start the {} service", S::ROLE.name))?;
    Ok(app.run_until_stopped().boxed())
}

/// The row of the listener that answers `role`'s `/readyz`: the gateway's
/// admin listener, or the service's own.
pub fn readiness_listener(role: Role) -> &'static RoleSpec {
    match role {
        Role::Gateway | Role::All => &roles::GATEWAY_ADMIN,
        Role::Users => &roles::USERS,
        Role::Products => &roles::PRODUCTS,
        Role::Orders => &roles::ORDERS,
    }
}

/// A run-until-shutdown future of one started role.
pub type Running = BoxFuture<'static, anyhow::Result<()>>;

/// Starts one service role (not the gateway, not `all`) on `listener`; the
/// future runs it until `shutdown`; its series go into `metrics`, the
/// process's registry. Tests start roles in-process with it.
pub async fn start_service(
    role: Role,
    env: &Env,
    listener: TcpListener,
    shutdown: Shutdown,
    metrics: &Metrics,
) -> anyhow::Result<Running> {
    let service = match role {
        Role::Users => Service::Users,
        Role::Products => Service::Products,
        Role::Orders => Service::Orders,
        Role::Gateway | Role::All => anyhow::bail!("{role:?} is not a service role"),
    };
    service.build(env, listener, shutdown, metrics).await
}

/// Starts the gateway on `listener` (public) and `admin_listener`
/// (operational endpoints); returns where it listens and the future that
/// runs it until `shutdown`.
pub async fn start_gateway(
    env: &Env,
    listener: TcpListener,
    admin_listener: TcpListener,
    shutdown: Shutdown,
    metrics: &Metrics,
) -> anyhow::Result<(GatewayAddrs, Running)> {
    let config = syncchain_gateway::Config::from_env(env)?;
    let app =
        syncchain_gateway::Application::build(config, listener, admin_listener, shutdown, metrics)
            .await
            .context("cannot start the gateway")?;
    let addrs = GatewayAddrs {
        public: app.local_addr(),
        admin: app.admin_addr(),
    };
    Ok((addrs, app.run_until_stopped().boxed()))
}

pub async fn run(role: Role, env: Env) -> anyhow::Result<()> {
    require_secret(&env)?;
    let shutdown = shutdown::on_signal();
    let service = match role {
        Role::Gateway => return gateway(env, shutdown).await,
        Role::All => {
            return all(env, shutdown, |addrs| {
                tracing::info!(url = %graphql_url(addrs.public), admin = %reachable(addrs.admin), "syncchain is serving");
            })
            .await;
        }
        Role::Users => Service::Users,
        Role::Products => Service::Products,
        Role::Orders => Service::Orders,
    };
    let listener = service.bind(&env).await?;
    let run = service
        .build(&env, listener, shutdown.clone(), &Metrics::new())
        .await?;
    until_stopped(service.name(), run, &shutdown).await
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
    let (listener, admin) = bind_gateway(&env).await?;
    let (addrs, run) =
        start_gateway(&env, listener, admin, shutdown.clone(), &Metrics::new()).await?;
    tracing::info!(url = %graphql_url(addrs.public), admin = %reachable(addrs.admin), "gateway serving");
    until_stopped("gateway", run, &shutdown).await
}

/// How long `all` waits for the gateway to be ready before announcing it.
const ANNOUNCE_WITHIN: std::time::Duration = std::time::Duration::from_secs(30);

/// Runs every service and the gateway together; `on_ready` gets the
/// gateway's addresses once its /readyz answers ready (every role is up and
/// connected). Where a service's URL variable is unset, the others call it
/// where it was actually bound (so `SYNCCHAIN_USERS_ADDR=127.0.0.1:0` works).
pub async fn all(
    mut env: Env,
    shutdown: Shutdown,
    on_ready: impl FnOnce(GatewayAddrs) + Send + 'static,
) -> anyhow::Result<()> {
    let mut listeners = Vec::new();
    for service in Service::ALL {
        let listener = service.bind(&env).await?;
        let url_var = service.role().called_at();
        if env.raw(url_var).is_none() {
            env.set(
                url_var,
                format!("http://{}", reachable(listener.local_addr()?)),
            );
        }
        listeners.push((service, listener));
    }
    let (gateway_listener, admin_listener) = bind_gateway(&env).await?;

    // One process, one registry: every role's /metrics shows all of it.
    let metrics = Metrics::new();
    let mut running = Vec::new();
    let mut failure = None;
    for (service, listener) in listeners {
        match service
            .build(&env, listener, shutdown.clone(), &metrics)
            .await
        {
            Ok(run) => running.push(until_stopped(service.name(), run, &shutdown).boxed()),
            Err(error) => {
                failure = Some(error);
                break;
            }
        }
    }
    if failure.is_none() {
        match start_gateway(
            &env,
            gateway_listener,
            admin_listener,
            shutdown.clone(),
            &metrics,
        )
        .await
        {
            Ok((addrs, run)) => {
                running.push(until_stopped("gateway", run, &shutdown).boxed());
                // Announced once the gateway answers ready, so the roles'
                // start-up lines come before the address instead of burying
                // it; or when it never does, after a while, announced anyway.
                let waited = shutdown.clone();
                running.push(
                    async move {
                        let ready = crate::health::wait_ready(
                            reachable(addrs.admin),
                            ANNOUNCE_WITHIN,
                            &waited,
                        );
                        if ready.await || !waited.is_cancelled() {
                            on_ready(addrs);
                        }
                        Ok(())
                    }
                    .boxed(),
                );
            }
            Err(error) => failure = Some(error),
        }
    }
    if let Some(error) = failure {
        shutdown.cancel();
        futures::future::join_all(running).await;
        return Err(error);
    }
    futures::future::join_all(running)
        .await
        .into_iter()
        .collect::<anyhow::Result<Vec<()>>>()
        .map(|_| ())
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

/// Binds `role`'s listener where its address variable says, else at its
/// default address.
async fn bind(env: &Env, role: &RoleSpec) -> anyhow::Result<TcpListener> {
    let addr = env.string(role.addr_var, role.default_addr);
    TcpListener::bind(&addr)
        .await
        .with_context(|| format!("cannot listen on {addr} (set by {})", role.addr_var))
}

/// An address to connect to for a listener bound to `addr`.
pub fn reachable(addr: SocketAddr) -> SocketAddr {
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
