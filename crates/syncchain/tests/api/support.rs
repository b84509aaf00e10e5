//! Starts the system for one test and speaks GraphQL to it.

use syncchain::cli::Role;
use syncchain_platform::{metrics::Metrics, shutdown::Shutdown};
use tokio::net::TcpListener;

#[path = "../common/client.rs"]
mod client;
#[path = "../common/system.rs"]
mod system;

use system::{Settings, start_gateway, start_service};

pub use client::{Client, ME, PASSWORD, REGISTER, SIGN_IN, code, registration, unique_email};

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
        let mut settings = Settings::fresh(&syncchain_testkit::nats_url()).await;
        settings.set("SYNCCHAIN_GRAPHIQL", "true");
        let mut listeners = Vec::new();
        for (role, var) in [
            (Role::Users, "SYNCCHAIN_USERS_URL"),
            (Role::Products, "SYNCCHAIN_PRODUCTS_URL"),
            (Role::Orders, "SYNCCHAIN_ORDERS_URL"),
        ] {
            let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
            let url = format!("http://{}", listener.local_addr().expect("bound"));
            settings.set(var, &url);
            listeners.push((role, listener));
        }
        for (name, value) in extra {
            settings.set(name, value);
        }
        let env = settings.env();
        let shutdown = Shutdown::new();
        // The app's own registry, as a process of its own would have.
        let metrics = Metrics::new();
        for (role, listener) in listeners {
            start_service(role, &env, listener, &shutdown, &metrics).await;
        }
        let gateway = start_gateway(&env, &shutdown, &metrics).await;

        let app = Self {
            env: settings.vars().to_vec(),
            secret: settings.secret.clone(),
            client: Client::new(
                format!("http://{}", gateway.public),
                format!("http://{}", gateway.admin),
                settings.admin_email.clone(),
            ),
            shutdown,
        };
        app.wait_until_ready().await;
        app
    }

    /// A client of a second gateway in front of the same services, with a
    /// registry of its own (as another process would have); it stops with
    /// the app.
    pub async fn another_gateway(&self) -> Client {
        let env = syncchain_platform::config::Env::from_pairs(self.env.clone());
        let gateway = start_gateway(&env, &self.shutdown, &Metrics::new()).await;
        let client = Client::new(
            format!("http://{}", gateway.public),
            format!("http://{}", gateway.admin),
            self.client.admin_email.clone(),
        );
        client.wait_until_ready().await;
        client
    }

    /// Runs the `syncchain` binary against this app's database.
    pub async fn cli(&self, args: &[&str]) -> std::process::Output {
        self.cli_with(args, &[]).await
    }

    /// [`Self::cli`] with `overrides` on top of the app's settings.
    pub async fn cli_with(
        &self,
        args: &[&str],
        overrides: &[(&str, &str)],
    ) -> std::process::Output {
        tokio::process::Command::new(env!("CARGO_BIN_EXE_syncchain"))
            .args(args)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .envs(overrides.iter().copied())
            .output()
            .await
            .expect("syncchain runs")
    }
}
