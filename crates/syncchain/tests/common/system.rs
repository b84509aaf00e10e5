//! The settings of a system under test and starting its roles in this
//! process, shared by the test binaries. Each system gets fresh databases,
//! its own event namespace and Redis prefix, its own secret, and an admin
//! that exists from the start.

// Each test binary uses its own part of this module.
#![allow(dead_code)]

use syncchain::{cli::Role, serve};
use syncchain_platform::{config::Env, metrics::Metrics, shutdown::Shutdown};
use tokio::net::TcpListener;

use super::client::PASSWORD;

pub struct Settings {
    pub namespace: String,
    pub secret: String,
    pub admin_email: String,
    vars: Vec<(String, String)>,
}

impl Settings {
    /// Fresh databases for users, products and orders on the shared
    /// Postgres, and events on the NATS at `nats_url`.
    pub async fn fresh(nats_url: &str) -> Self {
        let namespace = syncchain_testkit::namespace();
        let mut settings = Self {
            secret: format!("test-secret-{}", uuid::Uuid::new_v4().simple()),
            admin_email: format!("admin@{namespace}.example.com"),
            namespace,
            vars: Vec::new(),
        };
        for service in ["USERS", "PRODUCTS", "ORDERS"] {
            let (_, url) = syncchain_testkit::db::fresh_database().await;
            settings.set(&format!("SYNCCHAIN_{service}_DATABASE_URL"), &url);
        }
        let (namespace, secret, admin) = (
            settings.namespace.clone(),
            settings.secret.clone(),
            settings.admin_email.clone(),
        );
        for (name, value) in [
            ("SYNCCHAIN_ENV", "production"),
            ("SYNCCHAIN_NATS_URL", nats_url),
            ("SYNCCHAIN_EVENTS_NAMESPACE", &namespace),
            ("SYNCCHAIN_REDIS_URL", &syncchain_testkit::redis_url()),
            ("SYNCCHAIN_REDIS_PREFIX", &namespace),
            ("SYNCCHAIN_JWT_SECRET", &secret),
            ("SYNCCHAIN_PASSWORD_HASH_CONCURRENCY", "2"),
            ("SYNCCHAIN_ADMIN_EMAIL", &admin),
            ("SYNCCHAIN_ADMIN_PASSWORD", PASSWORD),
        ] {
            settings.set(name, value);
        }
        settings
    }

    /// Sets a variable, replacing any earlier value.
    pub fn set(&mut self, name: &str, value: &str) {
        self.vars.retain(|(n, _)| n != name);
        self.vars.push((name.to_owned(), value.to_owned()));
    }

    pub fn get(&self, name: &str) -> &str {
        self.vars
            .iter()
            .find(|(n, _)| n == name)
            .map_or("", |(_, v)| v.as_str())
    }

    pub fn vars(&self) -> &[(String, String)] {
        &self.vars
    }

    pub fn env(&self) -> Env {
        Env::from_pairs(self.vars.clone())
    }
}

/// Starts a service role in this process on `listener`, running until
/// `shutdown`, its series in `metrics`.
pub async fn start_service(
    role: Role,
    env: &Env,
    listener: TcpListener,
    shutdown: &Shutdown,
    metrics: &Metrics,
) {
    let run = serve::start_service(role, env, listener, shutdown.clone(), metrics)
        .await
        .unwrap_or_else(|e| panic!("{role:?} starts: {e:#}"));
    tokio::spawn(run);
}

/// Starts the gateway in this process; returns where it listens.
pub async fn start_gateway(
    env: &Env,
    shutdown: &Shutdown,
    metrics: &Metrics,
) -> serve::GatewayAddrs {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let admin = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let (addrs, run) = serve::start_gateway(env, listener, admin, shutdown.clone(), metrics)
        .await
        .unwrap_or_else(|e| panic!("gateway starts: {e:#}"));
    tokio::spawn(run);
    addrs
}
