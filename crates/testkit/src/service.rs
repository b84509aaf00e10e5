//! One service per test, started through the service host in this process
//! exactly as `syncchain serve` starts it, on a port of its own, with a
//! fresh database, event namespace and JWT secret unless the test names
//! them (to run a second instance on the same ones, or to restart on them).
//! What is particular to a service (its gRPC client, its defaults) stays
//! in that service's test helpers.

use std::{net::SocketAddr, time::Duration};

use syncchain_events::Namespace;
use syncchain_host::{Application, Service};
use syncchain_platform::{
    auth::{JwtSecret, TokenKeys},
    config::Env,
    database::DatabaseVars,
    metrics::Metrics,
    shutdown::Shutdown,
};
use tokio::task::JoinHandle;

const SECRET_VAR: &str = "SYNCCHAIN_JWT_SECRET";
const NAMESPACE_VAR: &str = "SYNCCHAIN_EVENTS_NAMESPACE";

/// A running service and what a test needs to reach and inspect it.
pub struct TestService {
    pub addr: SocketAddr,
    /// A small pool on the service's own database.
    pub pool: sqlx::PgPool,
    pub database_url: String,
    pub namespace: Namespace,
    pub secret: String,
    /// Issues tokens as the gateway would, with the service's secret.
    pub keys: TokenKeys,
    /// The settings the service was started with.
    pub env: Env,
    shutdown: Shutdown,
    task: JoinHandle<anyhow::Result<()>>,
}

impl TestService {
    /// Starts `S` with `vars` over the test defaults (a fresh database,
    /// namespace and secret, the shared NATS); a later pair overrides an
    /// earlier one. Panics when it does not start.
    pub async fn spawn<S: Service>(vars: &[(&str, &str)]) -> Self {
        let given = |name: &str| vars.iter().rev().find(|(k, _)| *k == name).map(|(_, v)| *v);
        let url_var = <S::Database as DatabaseVars>::URL_VAR;
        let (pool, database_url) = match given(url_var) {
            Some(url) => (
                sqlx::PgPool::connect(url)
                    .await
                    .unwrap_or_else(|e| panic!("cannot connect to the given database {url}: {e}")),
                url.to_owned(),
            ),
            None => crate::db::fresh_database().await,
        };
        let namespace = given(NAMESPACE_VAR).map_or_else(crate::namespace, str::to_owned);
        let secret = given(SECRET_VAR).map_or_else(new_secret, str::to_owned);
        let mut env = Env::from_pairs([
            (SECRET_VAR, secret.as_str()),
            (url_var, database_url.as_str()),
            ("SYNCCHAIN_NATS_URL", crate::nats_url().as_str()),
            (NAMESPACE_VAR, namespace.as_str()),
        ]);
        for (name, value) in vars {
            env.set(*name, *value);
        }
        let keys = TokenKeys::new(
            &JwtSecret::new(secret.clone().into_bytes()).expect("secret is long enough"),
            Duration::from_secs(300),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind a port");
        let shutdown = Shutdown::new();
        let app = Application::<S>::build(&env, listener, shutdown.clone(), &Metrics::new())
            .await
            .unwrap_or_else(|e| panic!("the {} service starts: {e:#}", S::ROLE.name));
        let addr = app.local_addr();
        let task = tokio::spawn(app.run_until_stopped());
        Self {
            addr,
            pool,
            database_url,
            namespace: Namespace::new(namespace).expect("a valid namespace"),
            secret,
            keys,
            env,
            shutdown,
            task,
        }
    }

    /// Where a gRPC client reaches the service.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Asks the service to stop and waits until it has.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        self.shutdown.cancel();
        (&mut self.task).await?
    }
}

/// A service dropped with its test is asked to stop rather than left
/// running unowned.
impl Drop for TestService {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// A fresh JWT secret of 64 characters.
pub fn new_secret() -> String {
    format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    )
}
