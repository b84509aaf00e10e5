//! What the products service runs on the service host: its gRPC service
//! over the catalogue, the session replica (see
//! [`syncchain_events::sessions`]), the two consumers (the saga and the
//! cache invalidation) and the cache's Redis connection. Redis is not
//! waited for: the cache connects in the background and the service serves
//! uncached meanwhile, so readiness reports Redis without depending on it.
//! Everything else (pool, NATS, relay, health, serving, drain) is the host's.

use anyhow::Context;
use sqlx::migrate::Migrator;
use syncchain_events::EventsConfig;
use syncchain_host::{Host, Service, ServiceDatabase};
use syncchain_platform::{
    config::{ConfigError, Env},
    health::Check,
    roles::{self, RoleSpec},
};
use tonic::service::Routes;

use crate::{
    cache::{ProductCache, RedisLink, invalidation},
    catalogue::Catalogue,
    config::{Config, DatabaseConfig, ProductsDatabase},
    grpc::{ProductsApi, ProductsServer},
    saga,
};

/// The products service, as the host starts it.
pub struct ProductsService;

/// The products service built on its listener.
pub type Application = syncchain_host::Application<ProductsService>;

impl Service for ProductsService {
    const ROLE: RoleSpec = roles::PRODUCTS;
    type Config = Config;
    type Database = ProductsDatabase;

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
        let cache = ProductCache::new(&config.cache).context(
            "cannot set up the product cache (SYNCCHAIN_CACHE_REDIS_URL or SYNCCHAIN_REDIS_URL)",
        )?;
        host.consumer("saga consumer", saga::consumer_config(), saga::StockKeeper)?;
        host.consumer(
            "cache invalidation consumer",
            invalidation::consumer_config(),
            invalidation::CacheInvalidation::new(cache.clone()),
        )?;
        let link = cache.link().clone();
        host.check(redis_check(link.clone()));
        host.background("redis cache", |stop| link.run(stop));

        let catalogue = Catalogue::new(host.pool().clone(), cache);
        let api = ProductsApi::new(catalogue, keys, sessions);
        Ok(Routes::new(ProductsServer::new(api)))
    }
}

impl ServiceDatabase for ProductsDatabase {
    const SERVICE: &'static str = "products";

    fn migrations() -> Migrator {
        sqlx::migrate!("./migrations")
    }
}

/// Redis answers a PING; reported, but the service is ready without it.
fn redis_check(link: RedisLink) -> Check {
    Check::new("redis", move || {
        let link = link.clone();
        async move {
            link.call(|mut conn| async move {
                redis::cmd("PING").query_async::<String>(&mut conn).await
            })
            .await
            .is_ok()
        }
    })
    .optional()
}
