//! What the host measures for every service: each gRPC call by method and
//! status, and, sampled every few seconds from the service's database, the
//! outbox (rows waiting, age of the oldest), the dead letters held and the
//! connection pool in use.
//!
//! A gRPC call's status is read from the response headers, where tonic
//! puts it for every call that fails before or instead of answering (the
//! trailers-only form); a call whose headers carry none answered, and is
//! counted as `Ok`. A streaming call's duration is the time to its first
//! response, not the life of the stream. A path that names no method of
//! ours is counted as `unknown`, so a caller inventing paths adds no series.
//!
//! Each call is handled under the request id its `x-request-id` metadata
//! names (a fresh one when it names none, or none plausible): its log lines
//! carry it, and so do the calls it makes in turn
//! ([`syncchain_platform::request_id`]).

use std::time::{Duration, Instant};

use axum::{
    extract::{Request, State},
    middleware::Next,
    response::Response,
};
use sqlx::PgPool;
use syncchain_platform::{
    metrics::{Counters, FloatGauge, Gauge, Metrics, Seconds},
    request_id::{self, RequestId},
    shutdown::{self, Shutdown},
};
use tonic::Code;

/// How often the database is sampled.
const SAMPLE_EVERY: Duration = Duration::from_secs(5);

type MethodLabels = [(&'static str, String); 2];
type CallLabels = [(&'static str, String); 3];

/// The gRPC server's series.
#[derive(Clone)]
pub(crate) struct GrpcMetrics {
    service: &'static str,
    calls: Counters<CallLabels>,
    durations: Seconds<MethodLabels>,
}

impl GrpcMetrics {
    pub(crate) fn new(metrics: &Metrics, service: &'static str) -> Self {
        Self {
            service,
            calls: metrics.counters(
                "grpc_server_requests",
                "gRPC calls a service answered, by method and status code.",
            ),
            durations: metrics.seconds(
                "grpc_server_request_duration",
                "Time from a gRPC call's arrival to its response headers, by method.",
            ),
        }
    }
}

/// Middleware around the gRPC routes: counts and times each call.
pub(crate) async fn grpc_calls(
    State(metrics): State<GrpcMetrics>,
    request: Request,
    next: Next,
) -> Response {
    // "/syncchain.orders.v1.Orders/PlaceOrder" -> "orders.v1.Orders/PlaceOrder"
    let path = request.uri().path();
    let method = path.strip_prefix("/syncchain.").unwrap_or(path).to_owned();
    let id = RequestId::parse_or_generate(
        request
            .headers()
            .get(request_id::HEADER)
            .and_then(|value| value.to_str().ok()),
    );
    let started = Instant::now();
    let span = tracing::info_span!("grpc_call", request_id = %id, service = metrics.service, method = %method);
    syncchain_platform::trace::continue_from_headers(&span, request.headers());
    let response = request_id::scope(id, span, next.run(request)).await;
    let took = started.elapsed();
    let code = response
        .headers()
        .get("grpc-status")
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<i32>().ok())
        .map_or(Code::Ok, Code::from_i32);
    let method = if code == Code::Unimplemented {
        "unknown".to_owned()
    } else {
        method
    };
    metrics
        .calls
        .get_or_create(&[
            ("service", metrics.service.to_owned()),
            ("method", method.clone()),
            ("code", format!("{code:?}")),
        ])
        .inc();
    metrics
        .durations
        .get_or_create(&[("service", metrics.service.to_owned()), ("method", method)])
        .observe(took.as_secs_f64());
    response
}

/// The sampled gauges of one service's database.
pub(crate) struct Sampler {
    pool: PgPool,
    outbox_rows: Gauge,
    outbox_age: FloatGauge,
    dead_letters: Gauge,
    pool_busy: Gauge,
    pool_idle: Gauge,
    pool_max: Gauge,
}

impl Sampler {
    pub(crate) fn new(metrics: &Metrics, service: &'static str, pool: PgPool) -> Self {
        let labels = [("service", service)];
        let connections = metrics.gauges::<[(&'static str, &'static str); 2]>(
            "db_pool_connections",
            "Connections of a service's database pool, by state: busy (lent out) or idle.",
        );
        Self {
            outbox_rows: metrics
                .gauges(
                    "outbox_rows",
                    "Events committed to the outbox and not yet published.",
                )
                .get_or_create_owned(&labels),
            outbox_age: metrics
                .age_gauges(
                    "outbox_oldest_age",
                    "Age of the oldest event waiting in the outbox; 0 when it is empty.",
                )
                .get_or_create_owned(&labels),
            dead_letters: metrics
                .gauges(
                    "dead_letters",
                    "Messages parked in a service's dead_letters table.",
                )
                .get_or_create_owned(&labels),
            pool_busy: connections.get_or_create_owned(&[("service", service), ("state", "busy")]),
            pool_idle: connections.get_or_create_owned(&[("service", service), ("state", "idle")]),
            pool_max: metrics
                .gauges(
                    "db_pool_max_connections",
                    "The most connections a service's database pool opens.",
                )
                .get_or_create_owned(&labels),
            pool,
        }
    }

    /// Samples until `shutdown`; a failed sample keeps the last values.
    pub(crate) async fn run(self, shutdown: Shutdown) {
        shutdown::every(SAMPLE_EVERY, &shutdown, || async {
            self.sample_pool();
            if let Err(error) = self.sample_tables().await {
                tracing::debug!(error = %error, "cannot sample the outbox and dead letters");
            }
        })
        .await;
    }

    fn sample_pool(&self) {
        let size = i64::from(self.pool.size());
        let idle = i64::try_from(self.pool.num_idle()).unwrap_or(size);
        self.pool_busy.set((size - idle).max(0));
        self.pool_idle.set(idle);
        self.pool_max
            .set(i64::from(self.pool.options().get_max_connections()));
    }

    async fn sample_tables(&self) -> Result<(), sqlx::Error> {
        let (rows, age, parked): (i64, f64, i64) = sqlx::query_as(
            "SELECT (SELECT count(*) FROM outbox),
                    (SELECT coalesce(extract(epoch FROM now() - min(created_at)), 0)::float8 FROM outbox),
                    (SELECT count(*) FROM dead_letters
                     WHERE redriven_at IS NULL AND discarded_at IS NULL)",
        )
        .fetch_one(&self.pool)
        .await?;
        self.outbox_rows.set(rows);
        self.outbox_age.set(age.max(0.0));
        self.dead_letters.set(parked);
        Ok(())
    }
}
