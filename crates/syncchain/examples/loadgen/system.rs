//! The whole system started in the load generator's own process, on the
//! Postgres, NATS and Redis that `syncchain dev` would use, with fresh
//! databases and a fresh event namespace; dropped again at the end.

use std::net::SocketAddr;

use syncchain_platform::{config::Env, roles, shutdown::Shutdown};

use crate::client::PASSWORD;

pub struct InProcess {
    pub gateway: SocketAddr,
    pub admin_email: String,
    server_url: String,
    databases: Vec<String>,
    shutdown: Shutdown,
    system: tokio::task::JoinHandle<anyhow::Result<()>>,
}

impl InProcess {
    /// Starts every role; `run_id` names the databases, the event
    /// namespace and the Redis prefix.
    pub async fn start(server_url: &str, run_id: &str) -> anyhow::Result<Self> {
        let admin_email = format!("admin@{run_id}.example.com");
        let secret = format!("{run_id}-benchmark-secret-0123456789abcdef");
        let mut env = Env::from_pairs([
            ("SYNCCHAIN_ENV", "production"),
            ("SYNCCHAIN_LOG", "error"),
            ("SYNCCHAIN_EVENTS_NAMESPACE", run_id),
            ("SYNCCHAIN_REDIS_PREFIX", run_id),
            ("SYNCCHAIN_JWT_SECRET", secret.as_str()),
            ("SYNCCHAIN_ADMIN_EMAIL", admin_email.as_str()),
            ("SYNCCHAIN_ADMIN_PASSWORD", PASSWORD),
            ("SYNCCHAIN_SIGNIN_MAX_PER_ACCOUNT", "1000000"),
            ("SYNCCHAIN_SIGNIN_MAX_PER_ACCOUNT_GLOBAL", "1000000"),
            ("SYNCCHAIN_SIGNIN_MAX_PER_ADDRESS", "1000000"),
            ("SYNCCHAIN_REGISTER_MAX_PER_ADDRESS", "1000000"),
            // Every client here is one address, and each customer places
            // hundreds of orders a minute: the per-customer bounds are for
            // abuse, not for measuring throughput, so they are lifted (0
            // turns the per-minute bound off).
            ("SYNCCHAIN_ORDER_MAX_PER_MINUTE", "0"),
            ("SYNCCHAIN_ORDER_MAX_PENDING_PER_CUSTOMER", "1000000"),
            ("SYNCCHAIN_USERS_DB_MAX_CONNECTIONS", "20"),
            ("SYNCCHAIN_PRODUCTS_DB_MAX_CONNECTIONS", "20"),
            ("SYNCCHAIN_ORDERS_DB_MAX_CONNECTIONS", "20"),
        ]);
        for role in roles::ALL {
            env.set(role.addr_var, "127.0.0.1:0");
        }
        let mut databases = Vec::new();
        for service in ["users", "products", "orders"] {
            let name = format!("{run_id}_{service}");
            crate::admin_statement(server_url, &format!("CREATE DATABASE \"{name}\"")).await?;
            env.set(
                format!("SYNCCHAIN_{}_DATABASE_URL", service.to_uppercase()),
                format!("{server_url}/{name}"),
            );
            databases.push(name);
        }
        let shutdown = Shutdown::new();
        let (ready_tx, ready_rx) = tokio::sync::oneshot::channel();
        let system = tokio::spawn(syncchain::serve::all(env, shutdown.clone(), move |addrs| {
            let _ = ready_tx.send(addrs.public);
        }));
        let gateway = ready_rx.await?;
        Ok(Self {
            gateway,
            admin_email,
            server_url: server_url.to_owned(),
            databases,
            shutdown,
            system,
        })
    }

    /// Stops every role and drops the run's databases.
    pub async fn stop(self) -> anyhow::Result<()> {
        self.shutdown.cancel();
        let _ = self.system.await;
        for name in &self.databases {
            crate::admin_statement(
                &self.server_url,
                &format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"),
            )
            .await?;
        }
        Ok(())
    }
}
