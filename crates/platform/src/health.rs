//! `/healthz` answers while the process runs; `/readyz` answers 200 only
//! when every dependency the process needs answers too, and otherwise 503 with
//! the names of those that do not (never their addresses or errors). A
//! dependency the process can do without (a cache) is [`Check::optional`]:
//! reported, but never the reason the process is not ready.
//!
//! [`watch`] runs the same checks every few seconds for `/metrics`
//! (`syncchain_ready`, `syncchain_dependency_up`), so readiness can be
//! alerted on where nothing polls `/readyz`.

use std::{sync::Arc, time::Duration};

use axum::{Json, Router, extract::State, http::StatusCode, routing::get};
use futures::future::{BoxFuture, join_all};

/// One named dependency check.
#[derive(Clone)]
pub struct Check {
    name: &'static str,
    required: bool,
    probe: Arc<dyn Fn() -> BoxFuture<'static, bool> + Send + Sync>,
}

impl Check {
    pub fn new<F, Fut>(name: &'static str, probe: F) -> Self
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: std::future::Future<Output = bool> + Send + 'static,
    {
        Self {
            name,
            required: true,
            probe: Arc::new(move || Box::pin(probe())),
        }
    }

    /// Reported in `/readyz`, but a failure leaves the process ready.
    pub fn optional(mut self) -> Self {
        self.required = false;
        self
    }

    pub fn postgres(pool: sqlx::PgPool) -> Self {
        Self::new("postgres", move || {
            let pool = pool.clone();
            async move { sqlx::query("SELECT 1").execute(&pool).await.is_ok() }
        })
    }

    pub fn nats(client: async_nats::Client) -> Self {
        Self::new("nats", move || {
            let client = client.clone();
            async move {
                client.connection_state() == async_nats::connection::State::Connected
                    && client.flush().await.is_ok()
            }
        })
    }

    pub fn redis(conn: redis::aio::ConnectionManager) -> Self {
        Self::new("redis", move || {
            let mut conn = conn.clone();
            async move {
                redis::cmd("PING")
                    .query_async::<String>(&mut conn)
                    .await
                    .is_ok()
            }
        })
    }
}

/// Routes for `/healthz` and `/readyz`, to merge into a process's router.
pub fn router(checks: Vec<Check>) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(ready))
        .with_state(Arc::new(checks))
}

/// Runs `checks` every few seconds until `shutdown`, setting
/// `syncchain_ready{service}` (1 when every required check passes) and
/// `syncchain_dependency_up{service,dependency}`.
pub async fn watch(
    checks: Vec<Check>,
    metrics: &crate::metrics::Metrics,
    service: &'static str,
    shutdown: crate::shutdown::Shutdown,
) {
    let ready = metrics
        .gauges::<[(&str, &str); 1]>(
            "ready",
            "1 when every dependency a process needs answers its readiness check, else 0",
        )
        .get_or_create_owned(&[("service", service)]);
    let up = metrics.gauges::<[(&'static str, &'static str); 2]>(
        "dependency_up",
        "1 when a dependency answers its readiness check, else 0",
    );
    crate::shutdown::every(Duration::from_secs(5), &shutdown, || async {
        let results = evaluate(&checks).await;
        let all_ready = results.iter().all(|(_, ok, required)| *ok || !*required);
        ready.set(i64::from(all_ready));
        for (name, ok, _) in results {
            up.get_or_create(&[("service", service), ("dependency", name)])
                .set(i64::from(ok));
        }
    })
    .await;
}

/// Each check's name, whether it passed (within 2 s), and whether it is
/// required.
async fn evaluate(checks: &[Check]) -> Vec<(&'static str, bool, bool)> {
    join_all(checks.iter().map(|c| {
        let probe = (c.probe)();
        let (name, required) = (c.name, c.required);
        async move {
            let ok = tokio::time::timeout(Duration::from_secs(2), probe)
                .await
                .unwrap_or(false);
            (name, ok, required)
        }
    }))
    .await
}

async fn ready(State(checks): State<Arc<Vec<Check>>>) -> (StatusCode, Json<serde_json::Value>) {
    let results = evaluate(&checks).await;
    let failing: Vec<&str> = results
        .iter()
        .filter(|(_, ok, required)| !ok && *required)
        .map(|(n, _, _)| *n)
        .collect();
    let status = if failing.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let body = serde_json::json!({
        "status": if failing.is_empty() { "ready" } else { "not ready" },
        "checks": results.iter().map(|(n, ok, _)| (n.to_string(), serde_json::Value::from(if *ok { "up" } else { "down" }))).collect::<serde_json::Map<_, _>>(),
    });
    (status, Json(body))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(name: &'static str, up: bool) -> Check {
        Check::new(name, move || async move { up })
    }

    #[tokio::test]
    async fn a_required_dependency_that_is_down_makes_the_process_not_ready() {
        let checks = vec![check("postgres", true), check("nats", false)];
        let (status, Json(body)) = ready(State(Arc::new(checks))).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(body["checks"]["nats"], "down");
    }

    #[tokio::test]
    async fn an_optional_dependency_that_is_down_is_reported_but_not_fatal() {
        let checks = vec![check("postgres", true), check("redis", false).optional()];
        let (status, Json(body)) = ready(State(Arc::new(checks))).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body["status"], "ready");
        assert_eq!(body["checks"]["redis"], "down");
    }
}
