//! What the products service runs on the service host: its gRPC service
//! over the catalogue, the session replica (see
//! [`syncchain_events::sessions`]), the two consumers (the saga and the
//! cache invalidation) and the cache's Redis connection. Redis is not
//! waited for: the cache connects in the background and the service serves
//! uncached meanwhile, so readiness reports Redis without depending on it.
//! Everything else (pool, NATS, relay, health, serving, drain) is the host's.

use anyhow::Context;
use sqlx::migrate::Migrator;
use syncchain_host::{Host, Service, ServiceDatabase};
use syncchain_platform::{
    health::Check,
    roles::{self, RoleSpec},
};
use tonic::service::Routes;

use crate::{
    cache::{ProductCache, RedisLink, invalidation},
    catalogue::Catalogue,
    config::{Config, ProductsDatabase},
    grpc::{ProductsApi, ProductsServer},
    saga,
};

impl Service for Config {
    const ROLE: RoleSpec = roles::PRODUCTS;
    type Database = ProductsDatabase;

    async fn declare(self, host: &mut Host) -> anyhow::Result<Routes> {
        let keys = self.tokens.keys();
        let sessions = host.sessions(keys.ttl());
        let cache = ProductCache::new(&self.cache)
            .context(
                "cannot set up the product cache (SYNCCHAIN_CACHE_REDIS_URL or SYNCCHAIN_REDIS_URL)",
            )?
            .with_metrics(host.metrics());
        host.consumer(
            "saga consumer",
            saga::consumer_config(),
            saga::StockKeeper::new(host.metrics()),
        )?;
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
