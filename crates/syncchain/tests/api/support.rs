//! Starts the system for one test and speaks GraphQL to it.

use syncchain_platform::{config::Env, shutdown::Shutdown};
use tokio::net::TcpListener;

#[path = "../common/client.rs"]
mod client;

pub use client::{Client, ME, PASSWORD, REGISTER, code, registration, unique_email};

/// The system under test, in this process, and a client of it.
pub struct TestApp {
    pub env: Vec<(String, String)>,
    pub secret: String,
    client: Client,
    shutdown: Shutdown,
}

impl std::ops::Deref for TestApp {
    type Target = Client;
    fn deref(&self) -> &Client {
        &self.client
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

impl TestApp {
    pub async fn spawn() -> Self {
        Self::spawn_with(&[]).await
    }

    /// Starts every service and the gateway with these extra settings. Each
    /// service gets its own fresh database; an admin account
    /// (`admin_email`, [`PASSWORD`]) exists from the start.
    pub async fn spawn_with(extra: &[(&str, &str)]) -> Self {
        let (_, users_db) = syncchain_testkit::db::fresh_database().await;
        let (_, products_db) = syncchain_testkit::db::fresh_database().await;
        let (_, orders_db) = syncchain_testkit::db::fresh_database().await;
        let namespace = syncchain_testkit::namespace();
        let secret = format!("test-secret-{}", uuid::Uuid::new_v4().simple());
        let admin_email = format!("admin@{namespace}.example.com");
        let listener = || async { TcpListener::bind("127.0.0.1:0").await.expect("bind") };
        let (users_listener, products_listener, orders_listener, gateway_listener) = (
            listener().await,
            listener().await,
            listener().await,
            listener().await,
        );
        let url = |l: &TcpListener| format!("http://{}", l.local_addr().expect("bound"));
        let mut env: Vec<(String, String)> = [
            ("SYNCCHAIN_ENV", "production"),
            ("SYNCCHAIN_USERS_DATABASE_URL", users_db.as_str()),
            ("SYNCCHAIN_PRODUCTS_DATABASE_URL", products_db.as_str()),
            ("SYNCCHAIN_ORDERS_DATABASE_URL", orders_db.as_str()),
            ("SYNCCHAIN_NATS_URL", &syncchain_testkit::nats_url()),
            ("SYNCCHAIN_EVENTS_NAMESPACE", namespace.as_str()),
            ("SYNCCHAIN_REDIS_URL", &syncchain_testkit::redis_url()),
            ("SYNCCHAIN_REDIS_PREFIX", namespace.as_str()),
            ("SYNCCHAIN_JWT_SECRET", secret.as_str()),
            ("SYNCCHAIN_USERS_URL", &url(&users_listener)),
            ("SYNCCHAIN_PRODUCTS_URL", &url(&products_listener)),
            ("SYNCCHAIN_ORDERS_URL", &url(&orders_listener)),
            ("SYNCCHAIN_GRAPHIQL", "true"),
            ("SYNCCHAIN_PASSWORD_HASH_CONCURRENCY", "2"),
            ("SYNCCHAIN_ADMIN_EMAIL", admin_email.as_str()),
            ("SYNCCHAIN_ADMIN_PASSWORD", PASSWORD),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        for (k, v) in extra {
            env.retain(|(name, _)| name != k);
            env.push((k.to_string(), v.to_string()));
        }
        let config_env = Env::from_pairs(env.clone());
        let shutdown = Shutdown::new();

        let users = syncchain_users::Application::build(
            syncchain_users::Config::from_env(&config_env).expect("users config"),
            users_listener,
            shutdown.clone(),
        )
        .await
        .expect("users starts");
        tokio::spawn(users.run_until_stopped());
        let products = syncchain_products::Application::build(
            syncchain_products::Config::from_env(&config_env).expect("products config"),
            products_listener,
            shutdown.clone(),
        )
        .await
        .expect("products starts");
        tokio::spawn(products.run_until_stopped());
        let orders = syncchain_orders::Application::build(
            syncchain_orders::Config::from_env(&config_env).expect("orders config"),
            orders_listener,
            shutdown.clone(),
        )
        .await
        .expect("orders starts");
        tokio::spawn(orders.run_until_stopped());
        let gateway = syncchain_gateway::Application::build(
            syncchain_gateway::Config::from_env(&config_env).expect("gateway config"),
            gateway_listener,
            shutdown.clone(),
        )
        .await
        .expect("gateway starts");
        let base_url = format!("http://{}", gateway.local_addr());
        tokio::spawn(gateway.run_until_stopped());

        let app = Self {
            env,
            secret,
            client: Client::new(base_url, admin_email),
            shutdown,
        };
        app.wait_until_ready().await;
        app
    }

    /// Runs the `syncchain` binary against this app's database.
    pub async fn cli(&self, args: &[&str]) -> std::process::Output {
        tokio::process::Command::new(env!("CARGO_BIN_EXE_syncchain"))
            .args(args)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .output()
            .await
            .expect("syncchain runs")
    }
}
