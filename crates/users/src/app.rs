//! Wiring: configuration in, a running service out. `build` connects to
//! Postgres and NATS (failing with an error that names the dependency and
//! the variable to fix), migrates, makes sure the streams and the start-up
//! admin exist, and prepares one router serving gRPC and the health
//! endpoints on the caller's listener. `run_until_stopped` serves until the
//! shutdown token fires, lets in-flight requests finish, and stops the
//! outbox relay.

use std::net::SocketAddr;

use anyhow::Context;
use sqlx::PgPool;
use syncchain_events::{JetStreamHealth, relay::Relay};
use syncchain_platform::{
    health::{self, Check},
    serve::{Background, serve},
    shutdown::Shutdown,
};
use tokio::net::TcpListener;
use tonic::service::Routes;

use crate::{
    accounts::Accounts,
    config::Config,
    db,
    grpc::{UsersApi, UsersServer},
    password::PasswordHasher,
};

pub struct Application {
    listener: TcpListener,
    local_addr: SocketAddr,
    router: axum::Router,
    relay: Relay,
    pool: PgPool,
    shutdown: Shutdown,
}

impl Application {
    pub async fn build(
        config: Config,
        listener: TcpListener,
        shutdown: Shutdown,
    ) -> anyhow::Result<Self> {
        let local_addr = listener
            .local_addr()
            .context("the listener has no local address")?;
        let pool = db::connect(&config.database).await?;
        db::migrate(&pool)
            .await
            .context("cannot migrate the users database")?;

        let (nats, jetstream) = syncchain_events::streams::connect(&config.events).await?;
        let jetstream_health = JetStreamHealth::new();
        let relay = Relay::new(pool.clone(), jetstream, config.events.namespace.clone())
            .with_health(jetstream_health.clone());

        let hasher =
            PasswordHasher::new(config.password_hash_concurrency, config.password_hash_queue)
                .await?;
        let accounts = Accounts::new(pool.clone(), hasher);
        if let Some(admin) = &config.bootstrap_admin {
            accounts
                .ensure_admin(&admin.email, &admin.password)
                .await
                .context("cannot create or promote the start-up admin (SYNCCHAIN_ADMIN_EMAIL)")?;
        }

        let api = UsersApi::new(accounts, config.token_keys());
        let router = Routes::new(UsersServer::new(api))
            .into_axum_router()
            .merge(health::router(vec![
                Check::postgres(pool.clone()),
                Check::nats(nats),
                jetstream_health.check(),
            ]));
        Ok(Self {
            listener,
            local_addr,
            router,
            relay,
            pool,
            shutdown,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Serves until the shutdown token is cancelled, then drains in-flight
    /// requests and stops the relay before returning.
    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        let Self {
            listener,
            router,
            relay,
            pool,
            shutdown,
            ..
        } = self;
        let mut background = Background::new();
        background.spawn("outbox relay", |stop| relay.run(stop));

        let served = serve("users", listener, router, shutdown).await;

        background.stop().await;
        pool.close().await;
        tracing::info!("users service stopped");
        served
    }
}
