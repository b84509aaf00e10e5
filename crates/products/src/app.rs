//! Wiring: configuration in, a running service out. `build` connects to
//! Postgres and NATS (failing with an error that names the dependency and
//! the variable to fix), migrates, makes sure the streams exist, and
//! prepares one router serving gRPC and the health endpoints on the
//! caller's listener. Redis is not waited for: the cache connects in the
//! background and the service serves uncached meanwhile, so readiness
//! reports Redis without depending on it.
//!
//! `run_until_stopped` runs the outbox relay, the session feed (see
//! [`syncchain_events::sessions`]; `/readyz` waits for its replay), the two
//! consumers (the saga and the cache invalidation) and the cache's
//! connection beside the server until the shutdown token fires, lets in-flight requests and the
//! message in hand finish, and then stops them all.

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
    cache::{ProductCache, RedisLink, invalidation},
    catalogue::Catalogue,
    config::Config,
    db,
    grpc::{ProductsApi, ProductsServer},
    saga,
};

pub struct Application {
    listener: TcpListener,
    local_addr: SocketAddr,
    router: axum::Router,
    relay: Relay,
    sessions: SessionFeed,
    consumers: Vec<Consumer>,
    cache: RedisLink,
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
        let pool = config.database.connect().await?;
        db::migrate(&pool)
            .await
            .context("cannot migrate the products database")?;

        let (nats, jetstream) = syncchain_events::streams::connect(&config.events).await?;
        let namespace = &config.events.namespace;
        let jetstream_health = JetStreamHealth::new();
        let relay = Relay::new(pool.clone(), jetstream.clone(), namespace.clone())
            .with_health(jetstream_health.clone());
        let keys = config.token_keys();
        let sessions = Sessions::new(keys.ttl());
        let feed = sessions.feed(jetstream.clone(), namespace.clone());

        let cache = ProductCache::new(&config.cache).context(
            "cannot set up the product cache (SYNCCHAIN_CACHE_REDIS_URL or SYNCCHAIN_REDIS_URL)",
        )?;
        let consumers = vec![
            Consumer::new(
                pool.clone(),
                jetstream.clone(),
                namespace.clone(),
                saga::consumer_config(),
                saga::StockKeeper,
            )?
            .with_health(jetstream_health.clone()),
            Consumer::new(
                pool.clone(),
                jetstream,
                namespace.clone(),
                invalidation::consumer_config(),
                invalidation::CacheInvalidation::new(cache.clone()),
            )?
            .with_health(jetstream_health.clone()),
        ];

        let link = cache.link().clone();
        let api = ProductsApi::new(Catalogue::new(pool.clone(), cache), keys, sessions.clone());
        let router = Routes::new(ProductsServer::new(api))
            .into_axum_router()
            .merge(health::router(vec![
                Check::postgres(pool.clone()),
                Check::nats(nats),
                jetstream_health.check(),
                sessions.check(),
                redis_check(link.clone()),
            ]));
        Ok(Self {
            listener,
            local_addr,
            router,
            relay,
            sessions: feed,
            consumers,
            cache: link,
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
            consumers,
            cache,
            pool,
            shutdown,
            ..
        } = self;
        let mut background = Background::new();
        background.spawn("outbox relay", |stop| relay.run(stop));
        background.spawn("session feed", |stop| sessions.run(stop));
        background.spawn("redis cache", |stop| cache.run(stop));
        for consumer in consumers {
            background.spawn("consumer", |stop| consumer.run(stop));
        }

        let served = serve("products", listener, router, shutdown).await;

        background.stop().await;
        pool.close().await;
        tracing::info!("products service stopped");
        served
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
