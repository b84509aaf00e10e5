//! One Prometheus registry per process, rendered on `GET /metrics` of its
//! internal listener (a service's own port, the gateway's admin port).
//!
//! Every part that measures something asks [`Metrics`] for its family by
//! name: the first ask registers it, later asks (the same relay code in
//! three services of one `serve all` process) get the same family, so a
//! name appears once in the exposition. Names follow Prometheus' rules:
//! everything under `syncchain_`, counters end in `_total`, durations are
//! histograms in seconds, and label values come from closed sets (method
//! and field names of our own schema, consumer names, outcome words), never
//! from what a client sends, so a hostile client cannot grow the registry.
//!
//! A registry is a value, not a global: each test application has its own,
//! so tests running side by side in one process read their own counts.

use std::{
    any::Any,
    collections::HashMap,
    fmt::Debug,
    hash::Hash,
    sync::{Arc, Mutex, atomic::AtomicU64},
    time::Duration,
};

use axum::{Router, extract::State, http::header, response::IntoResponse, routing::get};
pub use prometheus_client::metrics::{counter::Counter, gauge::Gauge, histogram::Histogram};
use prometheus_client::{
    encoding::{EncodeLabelSet, prometheus_text},
    metrics::family::{Family, MetricConstructor},
    registry::{Metric, Registry, Unit},
};

/// A fractional gauge (an age in seconds).
pub type FloatGauge = Gauge<f64, AtomicU64>;

/// Bucket bounds of every duration histogram, in seconds: half a
/// millisecond (a cached read) to thirty seconds (an ack wait).
const SECONDS: [f64; 16] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 15.0,
    30.0,
];

/// A set of labels a family can be keyed by.
pub trait Labels: EncodeLabelSet + Clone + Hash + Eq + Debug + Send + Sync + 'static {}
impl<T: EncodeLabelSet + Clone + Hash + Eq + Debug + Send + Sync + 'static> Labels for T {}

/// Makes the histograms of a [`Seconds`] family.
#[derive(Clone, Copy, Debug, Default)]
pub struct SecondsBuckets;

impl MetricConstructor<Histogram> for SecondsBuckets {
    fn new_metric(&self) -> Histogram {
        Histogram::new(SECONDS)
    }
}

/// Counters keyed by `L`; rendered with `_total`.
pub type Counters<L> = Family<L, Counter>;
/// Whole-number gauges keyed by `L`.
pub type Gauges<L> = Family<L, Gauge>;
/// Fractional gauges keyed by `L` (an age in seconds).
pub type FloatGauges<L> = Family<L, FloatGauge>;
/// Duration histograms keyed by `L`, in seconds.
pub type Seconds<L> = Family<L, Histogram, SecondsBuckets>;

/// The process's registry. Cheap to clone; clones share it.
#[derive(Clone)]
pub struct Metrics {
    inner: Arc<Mutex<Inner>>,
}

struct Inner {
    registry: Registry,
    families: HashMap<&'static str, Box<dyn Any + Send>>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        Self {
            inner: Arc::new(Mutex::new(Inner {
                registry: Registry::with_prefix("syncchain"),
                families: HashMap::new(),
            })),
        }
    }

    /// The counter family `syncchain_<name>_total`.
    pub fn counters<L: Labels>(&self, name: &'static str, help: &str) -> Counters<L> {
        self.family(name, help, None, Counters::<L>::default)
    }

    /// The gauge family `syncchain_<name>`.
    pub fn gauges<L: Labels>(&self, name: &'static str, help: &str) -> Gauges<L> {
        self.family(name, help, None, Gauges::<L>::default)
    }

    /// The gauge family `syncchain_<name>_seconds`, for ages.
    pub fn age_gauges<L: Labels>(&self, name: &'static str, help: &str) -> FloatGauges<L> {
        self.family(name, help, Some(Unit::Seconds), FloatGauges::<L>::default)
    }

    /// The histogram family `syncchain_<name>_seconds`.
    pub fn seconds<L: Labels>(&self, name: &'static str, help: &str) -> Seconds<L> {
        self.family(name, help, Some(Unit::Seconds), || {
            Seconds::<L>::new_with_constructor(SecondsBuckets)
        })
    }

    /// The family registered under `name`, registered now if it is new.
    /// Asking for a name with another type of family is a programming
    /// error: debug builds stop there, release builds hand out a family
    /// that is measured but not rendered.
    fn family<M>(
        &self,
        name: &'static str,
        help: &str,
        unit: Option<Unit>,
        make: impl FnOnce() -> M,
    ) -> M
    where
        M: Metric + Clone + Any + Send,
    {
        let Ok(mut inner) = self.inner.lock() else {
            return make();
        };
        if let Some(existing) = inner.families.get(name) {
            let found = existing.downcast_ref::<M>().cloned();
            debug_assert!(found.is_some(), "metric {name} asked for with two types");
            return found.unwrap_or_else(make);
        }
        let family = make();
        // The encoder ends every help text with a full stop of its own.
        let help = help.trim_end_matches('.');
        match unit {
            Some(unit) => inner
                .registry
                .register_with_unit(name, help, unit, family.clone()),
            None => inner.registry.register(name, help, family.clone()),
        }
        inner.families.insert(name, Box::new(family.clone()));
        family
    }

    /// The Prometheus text exposition of everything registered.
    pub fn render(&self) -> String {
        let mut text = String::new();
        if let Ok(inner) = self.inner.lock() {
            // Writing into a String cannot fail.
            let _ = prometheus_text::encode(&mut text, &inner.registry);
        }
        text
    }
}

/// `GET /metrics`, to merge into a process's internal router.
pub fn router(metrics: Metrics) -> Router {
    Router::new()
        .route("/metrics", get(render))
        .with_state(metrics)
}

async fn render(State(metrics): State<Metrics>) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        metrics.render(),
    )
}

/// A duration as the seconds a histogram observes.
pub fn seconds(duration: Duration) -> f64 {
    duration.as_secs_f64()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_family_asked_for_twice_is_one_series_in_the_exposition() {
        let metrics = Metrics::new();
        let first = metrics.counters::<[(&str, &str); 1]>("outbox_published", "Events published.");
        let second = metrics.counters::<[(&str, &str); 1]>("outbox_published", "Events published.");
        first.get_or_create(&[("service", "orders")]).inc();
        second.get_or_create(&[("service", "orders")]).inc();
        let text = metrics.render();
        assert_eq!(
            text.matches("# TYPE syncchain_outbox_published_total counter")
                .count(),
            1,
            "{text}"
        );
        assert!(
            text.contains("syncchain_outbox_published_total{service=\"orders\"} 2"),
            "{text}"
        );
        assert!(
            text.contains("# HELP syncchain_outbox_published_total Events published.\n"),
            "{text}"
        );
    }

    #[test]
    fn durations_are_histograms_in_seconds() {
        let metrics = Metrics::new();
        let handled = metrics
            .seconds::<[(&str, &str); 1]>("consumer_handle_duration", "Time to apply one message.");
        handled
            .get_or_create(&[("consumer", "orders")])
            .observe(0.003);
        let text = metrics.render();
        assert!(
            text.contains("# TYPE syncchain_consumer_handle_duration_seconds histogram"),
            "{text}"
        );
        assert!(
            text.contains("syncchain_consumer_handle_duration_seconds_bucket{le=\"0.005\",consumer=\"orders\"} 1")
                || text.contains("syncchain_consumer_handle_duration_seconds_bucket{consumer=\"orders\",le=\"0.005\"} 1"),
            "{text}"
        );
    }

    #[test]
    fn separate_registries_count_separately() {
        let (a, b) = (Metrics::new(), Metrics::new());
        a.counters::<[(&str, &str); 0]>("graphql_requests", "Requests.")
            .get_or_create(&[])
            .inc();
        assert!(!b.render().contains("graphql_requests_total 1"));
        assert!(
            a.render().contains("syncchain_graphql_requests_total 1"),
            "{}",
            a.render()
        );
    }
}
