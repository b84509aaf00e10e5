//! Counters in the Prometheus text format on `GET /metrics`: GraphQL
//! requests, and calls to each service method. The per-method count is
//! what shows the DataLoaders at work: a list of orders with their users
//! and products costs one `GetUsers` and one `GetProducts`, however long
//! the list.

use std::{
    collections::BTreeMap,
    sync::{Arc, Mutex},
    task::{Context, Poll},
};

use axum::{extract::State, http::header, response::IntoResponse};
use tonic::{body::Body, transport::Channel};

#[derive(Clone, Default)]
pub struct Metrics {
    counters: Arc<Mutex<BTreeMap<String, u64>>>,
}

impl Metrics {
    /// Adds one to the counter `series` (a name with its labels).
    pub fn inc(&self, series: String) {
        if let Ok(mut counters) = self.counters.lock() {
            *counters.entry(series).or_default() += 1;
        }
    }

    pub fn render(&self) -> String {
        let counters = self.counters.lock().map(|c| c.clone()).unwrap_or_default();
        let mut text = String::from(
            "# TYPE syncchain_gateway_graphql_requests_total counter\n\
             # TYPE syncchain_gateway_service_calls_total counter\n",
        );
        for (series, value) in counters {
            text.push_str(&format!("{series} {value}\n"));
        }
        text
    }
}

pub async fn endpoint(State(metrics): State<Metrics>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        metrics.render(),
    )
}

/// A channel that counts each call by its gRPC method.
#[derive(Clone)]
pub struct CountedChannel {
    inner: Channel,
    metrics: Metrics,
}

impl CountedChannel {
    pub fn new(inner: Channel, metrics: Metrics) -> Self {
        Self { inner, metrics }
    }
}

impl tower::Service<http::Request<Body>> for CountedChannel {
    type Response = <Channel as tower::Service<http::Request<Body>>>::Response;
    type Error = <Channel as tower::Service<http::Request<Body>>>::Error;
    type Future = <Channel as tower::Service<http::Request<Body>>>::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<Body>) -> Self::Future {
        // "/syncchain.users.v1.Users/GetUsers" -> "users.v1.Users/GetUsers"
        let path = request.uri().path();
        let method = path.trim_start_matches("/syncchain.");
        self.metrics.inc(format!(
            "syncchain_gateway_service_calls_total{{method=\"{method}\"}}"
        ));
        self.inner.call(request)
    }
}
