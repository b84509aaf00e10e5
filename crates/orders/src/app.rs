//! Wiring: configuration in, a running service out. `build` connects to
//! Postgres and NATS (failing with an error that names the dependency and
//! the variable to fix), migrates, makes sure the streams exist, and
//! prepares one router serving gRPC and the health endpoints on the
//! caller's listener. The products service is connected lazily: orders
//! starts and answers reads while products is away.
//!
//! `run_until_stopped` runs the outbox relay, the session feed (see
//! [`syncchain_events::sessions`]; `/readyz` waits for its replay), the
//! saga consumer, the sweep of stale PENDING orders and the change listener
//! beside the server. When
//! the shutdown token fires, waiting requests and watch streams are
//! released and in-flight requests finish; only then do the background
//! tasks stop (the consumer finishes the message in hand), so the events of
//! the last requests still go out, and then the pool closes.

use std::net::SocketAddr;

use anyhow::Context;
use sqlx::PgPool;
use syncchain_events::{
    JetStreamHealth,
    consumer::Consumer,
    relay::Relay,
    sessions::{SessionFeed, Sessions},
};
use syncchain_platform::{
    health::{self, Check},
    serve::{Background, serve},
    shutdown::Shutdown,
};
use tokio::net::TcpListener;
use tonic::service::Routes;

use crate::{
    catalog::Catalog,
    config::{Config, PRODUCTS_URL_VAR},
    db,
    grpc::{OrdersApi, OrdersServer},
    ordering::Orders,
    resend::Resender,
    saga::{self, StockOutcomes},
    watch::Changes,
};

pub struct Application {
    listener: TcpListener,
    local_addr: SocketAddr,
    router: axum::Router,
    relay: Relay,
    sessions: SessionFeed,
    consumer: Consumer,
    resender: Resender,
    changes: Changes,
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
            .context("cannot migrate the orders database")?;

        let (nats, jetstream) = syncchain_events::streams::connect(&config.events).await?;
        let namespace = config.events.namespace.clone();
        let jetstream_health = JetStreamHealth::new();
        let relay = Relay::new(pool.clone(), jetstream.clone(), namespace.clone())
            .with_health(jetstream_health.clone());
        let keys = config.token_keys();
        let sessions = Sessions::new(keys.ttl());
        let feed = sessions.feed(jetstream.clone(), namespace.clone());
        let consumer = Consumer::new(
            pool.clone(),
            jetstream,
            namespace,
            saga::consumer_config(),
            StockOutcomes,
        )?
        .with_health(jetstream_health.clone());

        let catalog = Catalog::new(&config.products_url)
            .with_context(|| format!("{PRODUCTS_URL_VAR} is not a usable URL"))?;
        let resender = Resender::new(pool.clone(), config.resend_after);
        // Waiters are released when shutdown begins, so the server can drain.
        let changes = Changes::new(shutdown.clone());
        let orders = Orders::new(
            pool.clone(),
            catalog,
            changes.clone(),
            config.max_wait,
            config.limits,
        );
        let api = OrdersApi::new(orders, keys, sessions.clone());
        let router = Routes::new(OrdersServer::new(api))
            .into_axum_router()
            .merge(health::router(vec![
                Check::postgres(pool.clone()),
                Check::nats(nats),
                jetstream_health.check(),
                sessions.check(),
            ]));
        Ok(Self {
            listener,
            local_addr,
            router,
            relay,
            sessions: feed,
            consumer,
            resender,
            changes,
            pool,
            shutdown,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Serves until the shutdown token is cancelled, then drains in-flight
    /// requests and stops the background tasks before returning.
    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        let Self {
            listener,
            router,
            relay,
            sessions,
            consumer,
            resender,
            changes,
            pool,
            shutdown,
            ..
        } = self;
        let mut background = Background::new();
        background.spawn("outbox relay", |stop| relay.run(stop));
        background.spawn("session feed", |stop| sessions.run(stop));
        background.spawn("saga consumer", |stop| consumer.run(stop));
        background.spawn("pending order sweep", |stop| resender.run(stop));
        let listened = pool.clone();
        background.spawn("change listener", |stop| changes.run(listened, stop));

        let served = serve("orders", listener, router, shutdown).await;

        background.stop().await;
        pool.close().await;
        tracing::info!("orders service stopped");
        served
    }
}
