//! Builds the gateway from its settings and runs it until shutdown.

use std::net::SocketAddr;

use axum::{Router, routing::get};
use syncchain_platform::{config::Mode, deps, health, shutdown::Shutdown};
use tokio::net::TcpListener;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};

use crate::{
    auth::Revocations,
    clients::Services,
    config::{Config, Limits},
    metrics::Metrics,
    ratelimit::SignInLimiter,
    schema::{self, AppSchema, PlaceOrderWait},
};

/// What the HTTP handlers share.
#[derive(Clone)]
pub struct AppState {
    pub schema: AppSchema,
    pub services: Services,
    pub metrics: Metrics,
    pub limits: Limits,
    pub graphiql: bool,
    pub trust_proxy: bool,
}

pub struct Application {
    listener: TcpListener,
    router: Router,
    shutdown: Shutdown,
}

impl Application {
    pub async fn build(
        config: Config,
        listener: TcpListener,
        shutdown: Shutdown,
    ) -> anyhow::Result<Self> {
        let redis = deps::connect_redis(&config.redis_url, "SYNCCHAIN_REDIS_URL").await?;
        // Unary calls may take as long as placeOrder's wait, plus margin.
        let call_timeout = config.place_order_wait + std::time::Duration::from_secs(10);
        let metrics = Metrics::default();
        let services = Services::connect_lazy(&config.services, call_timeout, &metrics)?;
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
        let schema = schema::builder(config.limits, openness)
            .data(services.clone())
            .data(revocations)
            .data(limiter)
            .data(PlaceOrderWait(config.place_order_wait))
            .finish();
        let state = AppState {
            schema,
            services: services.clone(),
            metrics: metrics.clone(),
            limits: config.limits,
            graphiql: config.graphiql,
            trust_proxy: config.trust_proxy,
        };
        let router = Router::new()
            .route("/graphql", get(crate::http::get).post(crate::http::graphql))
            .route("/graphql/ide.js", get(crate::ide::script))
            .route("/graphql/ide.css", get(crate::ide::style))
            .with_state(state)
            .route(
                "/metrics",
                get(crate::metrics::endpoint).with_state(metrics),
            )
            .merge(health::router(
                std::iter::once(health::Check::redis(redis))
                    .chain(services.checks())
                    .collect(),
            ))
            .layer(PropagateRequestIdLayer::x_request_id())
            .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid));
        tracing::info!(address = %listener.local_addr()?, "gateway listening");
        Ok(Self {
            listener,
            router,
            shutdown,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], 0)))
    }

    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        let shutdown = self.shutdown.clone();
        axum::serve(
            self.listener,
            self.router
                .into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(async move { shutdown.cancelled().await })
        .await?;
        tracing::info!("gateway stopped");
        Ok(())
    }
}
