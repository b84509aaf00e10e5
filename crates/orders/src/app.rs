//! What the orders service runs on the service host: its gRPC service over
//! the orders, the session replica (see [`syncchain_events::sessions`]),
//! the saga consumer, the sweep of stale PENDING orders, the purge of
//! expired idempotency keys and the change listener. The products service is connected lazily: orders starts and
//! answers reads while products is away. Waiting requests and watch
//! streams are released when shutdown begins, so the host's drain is not
//! held up by them. Everything else (pool, NATS, relay, health, serving,
//! drain) is the host's.

use anyhow::Context;
use sqlx::migrate::Migrator;
use syncchain_host::{Host, Service, ServiceDatabase};
use syncchain_platform::roles::{self, RoleSpec};
use tonic::service::Routes;

use crate::{
    config::{Config, OrdersDatabase, PRODUCTS_URL_VAR},
    grpc::{OrdersApi, OrdersServer},
    keys,
    metrics::OrderMetrics,
    ordering::Orders,
    prices::Prices,
    resend::Resender,
    saga::{self, StockOutcomes},
    watch::Changes,
};

impl Service for Config {
    const ROLE: RoleSpec = roles::ORDERS;
    type Database = OrdersDatabase;

    async fn declare(self, host: &mut Host) -> anyhow::Result<Routes> {
        let keys = self.tokens.keys();
        let sessions = host.sessions(keys.ttl());
        let metrics = OrderMetrics::new(host.metrics());
        host.consumer(
            "saga consumer",
            saga::consumer_config(),
            StockOutcomes::new(metrics.clone()),
        )?;

        let prices = Prices::new(&self.products_url)
            .with_context(|| format!("{PRODUCTS_URL_VAR} is not a usable URL"))?;
        let resender = Resender::new(host.pool().clone(), self.resend_after);
        host.background("pending order sweep", |stop| resender.run(stop));
        let purged = host.pool().clone();
        let kept = self.keys_kept;
        host.background("idempotency key purge", move |stop| {
            keys::purge(purged, kept, stop)
        });
        let changes = Changes::new(host.shutdown().clone());
        let listened = host.pool().clone();
        let listener = changes.clone();
        host.background("change listener", |stop| listener.run(listened, stop));

        let orders = Orders::new(
            host.pool().clone(),
            prices,
            changes,
            self.max_wait,
            self.limits,
        )
        .keeping_keys_for(self.keys_kept)
        .with_metrics(metrics);
        let api = OrdersApi::new(orders, keys, sessions);
        Ok(Routes::new(OrdersServer::new(api)))
    }
}

impl ServiceDatabase for OrdersDatabase {
    const SERVICE: &'static str = "orders";

    fn migrations() -> Migrator {
        sqlx::migrate!("./migrations")
    }
}
