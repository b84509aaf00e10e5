//! Builds the gateway from its settings and runs it until shutdown.
//!
//! It listens twice: the public listener serves `/graphql` and a cheap
//! `/healthz`; the admin listener, meant to be reachable only from inside
//! the deployment, serves `/metrics` and `/readyz` (which fans out to every
//! service and Redis, so on the public port it would be an amplifier).

use std::net::SocketAddr;

use anyhow::Context as _;

use axum::{Router, middleware, routing::get};
use syncchain_platform::{config::Mode, deps, health, metrics::Metrics, shutdown::Shutdown};
use tokio::net::TcpListener;

use crate::{
    auth::Revocations,
    clients::Services,
    config::{Config, HttpLimits, Limits},
    metrics::GraphqlMetrics,
    order_feed::OrderFeed,
    product_reads::ProductReads,
    ratelimit::SignInLimiter,
    schema::{self, AppSchema, PlaceOrderWait},
    subscription_slots::{Recheck, Slots},
};

/// What the HTTP handlers share.
#[derive(Clone)]
pub struct AppState {
    pub schema: AppSchema,
    pub services: Services,
    pub limits: Limits,
    /// The whole request body must arrive within this.
    pub body_timeout: std::time::Duration,
    /// A WebSocket with no subscription running is closed after this.
    pub idle_timeout: std::time::Duration,
    pub graphiql: bool,
    pub trust_proxy: bool,
}

pub struct Application {
    listener: TcpListener,
    router: Router,
    admin_listener: TcpListener,
    admin_router: Router,
    http: HttpLimits,
    shutdown: Shutdown,
    checks: Vec<health::Check>,
    metrics: Metrics,
}

impl Application {
    /// Connects and builds the gateway; its series go into `metrics`, the
    /// registry of the process it runs in, served on the admin listener.
    pub async fn build(
        config: Config,
        listener: TcpListener,
        admin_listener: TcpListener,
        shutdown: Shutdown,
        metrics: &Metrics,
    ) -> anyhow::Result<Self> {
        let redis = deps::connect_redis(&config.redis_url, "SYNCCHAIN_REDIS_URL").await?;
        // Unary calls may take as long as placeOrder's wait, plus margin.
        let call_timeout = config.place_order_wait + std::time::Duration::from_secs(10);
        let services = Services::connect_lazy(&config.services, call_timeout, metrics)?;
        let revocations = Revocations::new(
            config.keys.clone(),
            redis.clone(),
            &config.redis_prefix,
            services.users.clone(),
        );
        let limiter = SignInLimiter::new(redis.clone(), &config.redis_prefix, config.signin);
        let openness = schema::Openness {
            introspection: config.introspection,
            suggestions: config.mode == Mode::Dev,
        };
        let feed = OrderFeed::start(
            services.order_watch.clone(),
            config.keys.clone(),
            shutdown.clone(),
        );
        let reads = product_reads(&config, &shutdown, metrics).await?;
        let schema = schema::builder(config.limits, openness)
            .extension(GraphqlMetrics::new(metrics))
            .data(services.clone())
            .data(revocations)
            .data(limiter)
            .data(PlaceOrderWait(config.place_order_wait))
            .data(feed)
            .data(reads)
            .data(Slots::new(config.subscriptions))
            .data(Recheck {
                every: config.subscriptions.recheck,
                shutdown: shutdown.clone(),
            })
            .finish();
        let state = AppState {
            schema,
            services: services.clone(),
            limits: config.limits,
            body_timeout: config.http.body_timeout,
            idle_timeout: config.http.idle_timeout,
            graphiql: config.graphiql,
            trust_proxy: config.trust_proxy,
        };
        let router = Router::new()
            .route("/graphql", get(crate::http::get).post(crate::http::graphql))
            .route("/graphql/ide.js", get(crate::ide::script))
            .route("/graphql/ide.css", get(crate::ide::style))
            .with_state(state)
            .route("/healthz", get(|| async { "ok" }))
            .layer(middleware::from_fn_with_state(
                config.http.request_timeout,
                crate::server::request_timeout,
            ))
            .layer(middleware::from_fn(crate::server::request_id));
        let checks: Vec<health::Check> = std::iter::once(health::Check::redis(redis))
            .chain(services.checks())
            .collect();
        let admin_router = syncchain_platform::metrics::router(metrics.clone())
            .merge(health::router(checks.clone()))
            .layer(middleware::from_fn_with_state(
                config.http.request_timeout,
                crate::server::request_timeout,
            ));
        tracing::info!(
            address = %listener.local_addr()?,
            admin_address = %admin_listener.local_addr()?,
            "gateway listening"
        );
        Ok(Self {
            listener,
            router,
            admin_listener,
            admin_router,
            http: config.http,
            shutdown,
            checks,
            metrics: metrics.clone(),
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        address(&self.listener)
    }

    /// Where `/metrics` and `/readyz` answer.
    pub fn admin_addr(&self) -> SocketAddr {
        address(&self.admin_listener)
    }

    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        tokio::join!(
            crate::server::serve(self.listener, self.router, self.http, self.shutdown.clone()),
            crate::server::serve(
                self.admin_listener,
                self.admin_router,
                self.http,
                self.shutdown.clone()
            ),
            health::watch(self.checks, &self.metrics, "gateway", self.shutdown.clone()),
        );
        tracing::info!("gateway stopped");
        Ok(())
    }
}

fn address(listener: &TcpListener) -> SocketAddr {
    listener
        .local_addr()
        .unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], 0)))
}

/// The gateway's copy of product reads, with the feed that keeps it true
/// running until `shutdown`. NATS is connected in the background: until
/// the feed has subscribed, reads go to the products service.
async fn product_reads(
    config: &Config,
    shutdown: &Shutdown,
    metrics: &Metrics,
) -> anyhow::Result<ProductReads> {
    let reads = ProductReads::new(config.product_reads, metrics);
    if config.product_reads == 0 {
        return Ok(reads);
    }
    let watched = reads.clone();
    let nats = deps::nats_options()
        .event_callback(move |event| {
            let reads = watched.clone();
            async move {
                match event {
                    async_nats::Event::Connected => reads.connected(),
                    async_nats::Event::Disconnected => reads.disconnected(),
                    _ => {}
                }
            }
        })
        .connect(&config.events.nats_url)
        .await
        .with_context(|| {
            format!(
                "cannot use SYNCCHAIN_NATS_URL {:?} for the gateway's product reads",
                config.events.nats_url
            )
        })?;
    let feed = reads.feed(
        async_nats::jetstream::new(nats),
        config.events.namespace.clone(),
    );
    tokio::spawn(feed.run(shutdown.clone()));
    Ok(reads)
}
