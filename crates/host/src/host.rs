//! [`Application::build`] connects what every service needs (failing with
//! an error that names the dependency and the variable to fix), hands the
//! [`Host`] to the service's [`Service::declare`], and prepares one router
//! serving its gRPC routes beside the health endpoints on the caller's
//! listener. [`Application::run_until_stopped`] starts the background
//! (the outbox relay first, then what the service declared), serves until
//! the shutdown token fires, lets in-flight requests finish, and only then
//! stops the background (a consumer finishes the message in hand), so the
//! events of the last requests still go out; then the pool closes.

use std::{future::Future, marker::PhantomData, net::SocketAddr, time::Duration};

use anyhow::Context;
use async_nats::jetstream;
use futures::{FutureExt, future::BoxFuture};
use sqlx::PgPool;
use syncchain_events::{
    EventsConfig, JetStreamHealth, Namespace,
    consumer::{Consumer, ConsumerConfig, Handler},
    relay::{Relay, RelayMetrics},
    sessions::Sessions,
};
use syncchain_platform::{
    config::{Env, FromEnv},
    database::DatabaseConfig,
    health::{self, Check},
    metrics::{self, Metrics},
    roles::RoleSpec,
    serve::{Background, serve},
    shutdown::Shutdown,
};
use tokio::net::TcpListener;
use tonic::service::Routes;

use crate::{
    database::{self, ServiceDatabase},
    observe::{self, GrpcMetrics, Sampler},
};

/// What a service declares to be started through the host, implemented
/// by its settings: read from the environment before anything connects,
/// then handed to [`Service::declare`].
pub trait Service: FromEnv + Send + 'static {
    /// Its row in the roles table; its name is the one logs carry.
    const ROLE: RoleSpec;
    /// The variables and migrations of its own database.
    type Database: ServiceDatabase;

    /// Adds the service's consumers, background tasks and readiness checks
    /// to `host`, and returns its gRPC routes.
    fn declare(self, host: &mut Host) -> impl Future<Output = anyhow::Result<Routes>> + Send;
}

type Task = Box<dyn FnOnce(Shutdown) -> BoxFuture<'static, ()> + Send>;

/// What the host has connected, offered to [`Service::declare`], and what
/// the service adds to it.
pub struct Host {
    pool: PgPool,
    jetstream: jetstream::Context,
    namespace: Namespace,
    stream_replicas: usize,
    jetstream_health: JetStreamHealth,
    shutdown: Shutdown,
    metrics: Metrics,
    checks: Vec<Check>,
    tasks: Vec<(&'static str, Task)>,
}

impl Host {
    /// The service's own database, migrated.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    pub fn jetstream(&self) -> &jetstream::Context {
        &self.jetstream
    }

    pub fn namespace(&self) -> &Namespace {
        &self.namespace
    }

    /// The process's metrics registry, for the service's own series.
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// The token that ends serving; what waits on a request (a long poll, a
    /// stream) watches it so the server can drain.
    pub fn shutdown(&self) -> &Shutdown {
        &self.shutdown
    }

    /// Adds a readiness check to `/readyz`, after the database, NATS and
    /// JetStream ones.
    pub fn check(&mut self, check: Check) {
        self.checks.push(check);
    }

    /// Runs `task` beside the server, from start until after the drain.
    pub fn background<F, Fut>(&mut self, name: &'static str, task: F)
    where
        F: FnOnce(Shutdown) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        self.tasks
            .push((name, Box::new(move |stop| task(stop).boxed())));
    }

    /// Consumes the durable consumer `config` with `handler`, in the
    /// service's database, reporting its pulls to `/readyz`. It applies at
    /// most a quarter of the pool's connections' worth of messages at once,
    /// so requests and the other consumers keep connections too.
    pub fn consumer(
        &mut self,
        name: &'static str,
        mut config: ConsumerConfig,
        handler: impl Handler + 'static,
    ) -> anyhow::Result<()> {
        let share = usize::try_from(self.pool.options().get_max_connections() / 4).unwrap_or(1);
        config.concurrency = config.concurrency.min(share.max(1));
        let consumer = Consumer::new(
            self.pool.clone(),
            self.jetstream.clone(),
            self.namespace.clone(),
            config,
            handler,
        )?
        .with_health(self.jetstream_health.clone())
        .with_stream_replicas(self.stream_replicas)
        .with_metrics(&self.metrics);
        self.background(name, |stop| consumer.run(stop));
        Ok(())
    }

    /// The replica of sign-outs and role cut-offs, fed from the users
    /// stream; `/readyz` waits for its replay. `token_ttl` is how long a
    /// cut-off matters.
    pub fn sessions(&mut self, token_ttl: Duration) -> Sessions {
        let sessions = Sessions::new(token_ttl);
        let feed = sessions.feed(self.jetstream.clone(), self.namespace.clone());
        self.check(sessions.check());
        self.background("session feed", |stop| feed.run(stop));
        sessions
    }
}

/// A service built on its listener, ready to run until shutdown.
pub struct Application<S> {
    service: &'static str,
    listener: TcpListener,
    local_addr: SocketAddr,
    router: axum::Router,
    tasks: Vec<(&'static str, Task)>,
    pool: PgPool,
    shutdown: Shutdown,
    declared: PhantomData<fn() -> S>,
}

impl<S: Service> Application<S> {
    /// Reads the service's settings from `env` (all of them, before
    /// anything connects), then connects, migrates and declares it. Its
    /// series go into `metrics`, the registry of the process it runs in.
    pub async fn build(
        env: &Env,
        listener: TcpListener,
        shutdown: Shutdown,
        metrics: &Metrics,
    ) -> anyhow::Result<Self> {
        let settings = S::from_env(env)?;
        let database = DatabaseConfig::<S::Database>::from_env(env)?;
        let events = EventsConfig::from_env(env)?;
        let local_addr = listener
            .local_addr()
            .context("the listener has no local address")?;
        let pool = database::open(&database).await?;

        let (nats, jetstream) = syncchain_events::streams::connect(&events).await?;
        let namespace = events.namespace.clone();
        let jetstream_health = JetStreamHealth::new();
        let relay = Relay::new(pool.clone(), jetstream.clone(), namespace.clone())
            .with_health(jetstream_health.clone())
            .with_stream_replicas(events.stream_replicas)
            .with_metrics(RelayMetrics::new(metrics, S::ROLE.name));
        let sampler = Sampler::new(metrics, S::ROLE.name, pool.clone());
        let mut host = Host {
            checks: vec![
                Check::postgres(pool.clone()),
                Check::nats(nats),
                jetstream_health.check(),
            ],
            pool,
            jetstream,
            namespace,
            stream_replicas: events.stream_replicas,
            jetstream_health,
            shutdown,
            metrics: metrics.clone(),
            tasks: Vec::new(),
        };
        host.background("outbox relay", |stop| relay.run(stop));
        host.background("metrics sampler", |stop| sampler.run(stop));

        let routes = settings.declare(&mut host).await?;
        let grpc = routes
            .into_axum_router()
            .layer(axum::middleware::from_fn_with_state(
                GrpcMetrics::new(metrics, S::ROLE.name),
                observe::grpc_calls,
            ));
        let (checks, watched, name) = (host.checks.clone(), metrics.clone(), S::ROLE.name);
        host.background("readiness gauge", move |stop| async move {
            health::watch(checks, &watched, name, stop).await;
        });
        let router = grpc
            .merge(health::router(host.checks))
            .merge(metrics::router(host.metrics));
        Ok(Self {
            service: S::ROLE.name,
            listener,
            local_addr,
            router,
            tasks: host.tasks,
            pool: host.pool,
            shutdown: host.shutdown,
            declared: PhantomData,
        })
    }
}

impl<S> Application<S> {
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Serves until the shutdown token is cancelled, then drains in-flight
    /// requests and stops the background tasks before returning.
    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        let mut background = Background::new();
        for (name, task) in self.tasks {
            background.spawn(name, task);
        }

        let served = serve(self.service, self.listener, self.router, self.shutdown).await;

        background.stop().await;
        self.pool.close().await;
        tracing::info!(service = self.service, "service stopped");
        served
    }
}
