//! What the orders service runs on the service host: its gRPC service over
//! the orders, the session replica (see [`syncchain_events::sessions`]),
//! the saga consumer, the sweep of stale PENDING orders and the change
//! listener. The products service is connected lazily: orders starts and
//! answers reads while products is away. Waiting requests and watch
//! streams are released when shutdown begins, so the host's drain is not
//! held up by them. Everything else (pool, NATS, relay, health, serving,
//! drain) is the host's.

use anyhow::Context;
use sqlx::migrate::Migrator;
use syncchain_events::EventsConfig;
use syncchain_host::{Host, Service, ServiceDatabase};
use syncchain_platform::{
    config::{ConfigError, Env},
    roles::{self, RoleSpec},
};
use tonic::service::Routes;

use crate::{
    catalog::Catalog,
    config::{Config, DatabaseConfig, OrdersDatabase, PRODUCTS_URL_VAR},
    grpc::{OrdersApi, OrdersServer},
    ordering::Orders,
    resend::Resender,
    saga::{self, StockOutcomes},
    watch::Changes,
};

/// The orders service, as the host starts it.
pub struct OrdersService;

/// The orders service built on its listener.
pub type Application = syncchain_host::Application<OrdersService>;

impl Service for OrdersService {
    const ROLE: RoleSpec = roles::ORDERS;
    type Config = Config;
    type Database = OrdersDatabase;

    fn settings(env: &Env) -> Result<Config, ConfigError> {
        Config::from_env(env)
    }

    fn database(config: &Config) -> &DatabaseConfig {
        &config.database
    }

    fn events(config: &Config) -> &EventsConfig {
        &config.events
    }

    async fn declare(config: Config, host: &mut Host) -> anyhow::Result<Routes> {
        let keys = config.tokens.keys();
        let sessions = host.sessions(keys.ttl());
        host.consumer("saga consumer", saga::consumer_config(), StockOutcomes)?;

        let catalog = Catalog::new(&config.products_url)
            .with_context(|| format!("{PRODUCTS_URL_VAR} is not a usable URL"))?;
        let resender = Resender::new(host.pool().clone(), config.resend_after);
        host.background("pending order sweep", |stop| resender.run(stop));
        let changes = Changes::new(host.shutdown().clone());
        let listened = host.pool().clone();
        let listener = changes.clone();
        host.background("change listener", |stop| listener.run(listened, stop));

        let orders = Orders::new(
            host.pool().clone(),
            catalog,
            changes,
            config.max_wait,
            config.limits,
        );
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
