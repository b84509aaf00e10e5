//! Wiring: configuration in, a running service out. `build` connects to
//! Postgres and NATS (failing with an error that names the dependency and
//! the variable to fix), migrates, makes sure the streams exist, and
//! prepares one router serving gRPC and the health endpoints on the
//! caller's listener. The products service is connected lazily: orders
//! starts and answers reads while products is away.
//!
//! `run_until_stopped` runs the outbox relay, the saga consumer and the
//! change listener beside the server. When the shutdown token fires they
//! stop (the consumer finishes the message in hand), waiting requests and
//! watch streams are released, in-flight requests finish, and then the pool
//! closes.

use std::net::SocketAddr;

use anyhow::Context;
use sqlx::PgPool;
use syncchain_events::{consumer::Consumer, relay::Relay, streams::ensure_streams};
use syncchain_platform::{
    deps::connect_nats,
    health::{self, Check},
    shutdown::Shutdown,
};
use tokio::{net::TcpListener, task::JoinHandle};
use tonic::service::Routes;

use crate::{
    catalog::Catalog,
    config::{Config, PRODUCTS_URL_VAR},
    db,
    grpc::{OrdersApi, OrdersServer},
    ordering::Orders,
    saga::{self, StockOutcomes},
    watch::Changes,
};

pub struct Application {
    listener: TcpListener,
    local_addr: SocketAddr,
    router: axum::Router,
    relay: Relay,
    consumer: Consumer,
    changes: Changes,
    pool: PgPool,
    shutdown: Shutdown,
    /// Stops the background tasks; a child of `shutdown`, also fired when
    /// serving fails.
    workers: Shutdown,
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

        let nats = connect_nats(&config.events.nats_url, "SYNCCHAIN_NATS_URL").await?;
        let jetstream = async_nats::jetstream::new(nats.clone());
        ensure_streams(&jetstream, &config.events.namespace).await?;
        let namespace = config.events.namespace.clone();
        let relay = Relay::new(pool.clone(), jetstream.clone(), namespace.clone());
        let consumer = Consumer::new(
            pool.clone(),
            jetstream,
            namespace,
            saga::consumer_config(),
            StockOutcomes,
        )?;

        let catalog = Catalog::new(&config.products_url)
            .with_context(|| format!("{PRODUCTS_URL_VAR} is not a usable URL"))?;
        let workers = shutdown.child_token();
        let changes = Changes::new(workers.clone());
        let orders = Orders::new(pool.clone(), catalog, changes.clone(), config.max_wait);
        let api = OrdersApi::new(orders, config.token_keys());
        let router = Routes::new(OrdersServer::new(api))
            .into_axum_router()
            .merge(health::router(vec![
                Check::postgres(pool.clone()),
                Check::nats(nats),
            ]));
        Ok(Self {
            listener,
            local_addr,
            router,
            relay,
            consumer,
            changes,
            pool,
            shutdown,
            workers,
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
            local_addr,
            router,
            relay,
            consumer,
            changes,
            pool,
            shutdown,
            workers,
        } = self;
        let tasks: [(&str, JoinHandle<()>); 3] = [
            ("outbox relay", tokio::spawn(relay.run(workers.clone()))),
            ("saga consumer", tokio::spawn(consumer.run(workers.clone()))),
            ("change listener", tokio::spawn(changes.run(pool.clone()))),
        ];

        tracing::info!(address = %local_addr, "orders service listening");
        let served = axum::serve(listener, router)
            .with_graceful_shutdown(shutdown.cancelled_owned())
            .await
            .context("the orders service stopped serving");

        workers.cancel();
        for (task, handle) in tasks {
            if let Err(error) = handle.await {
                tracing::error!(%error, task, "background task failed");
            }
        }
        pool.close().await;
        tracing::info!("orders service stopped");
        served
    }
}
