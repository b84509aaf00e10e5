//! The orders' own series: each status an order enters, and how long an
//! order took from being placed to being settled (CONFIRMED or REJECTED).
//! A settlement made in the saga consumer's transaction is counted once
//! that transaction commits ([`after_commit`]).

use chrono::Utc;
use syncchain_events::consumer::after_commit;
use syncchain_platform::metrics::{Counters, Metrics, Seconds};

use crate::domain::{Order, OrderStatus};

type Status = [(&'static str, &'static str); 1];

#[derive(Clone)]
pub struct OrderMetrics {
    transitions: Counters<Status>,
    settle_duration: Seconds<Status>,
}

/// Series in a registry of their own, which nothing renders.
impl Default for OrderMetrics {
    fn default() -> Self {
        Self::new(&Metrics::new())
    }
}

impl OrderMetrics {
    pub fn new(metrics: &Metrics) -> Self {
        Self {
            transitions: metrics.counters(
                "order_transitions",
                "Orders entering a status: PENDING when placed, then CONFIRMED, REJECTED or CANCELLED.",
            ),
            settle_duration: metrics.seconds(
                "order_settle_duration",
                "Time from an order being placed to it being CONFIRMED or REJECTED, by that status.",
            ),
        }
    }

    /// `order` entered its status now; for a settlement, also its time
    /// since it was placed. Counted after the commit of the consumer's
    /// transaction it is in, if any.
    pub fn entered(&self, order: &Order) {
        let status = order.status;
        let counter = self
            .transitions
            .get_or_create_owned(&[("status", status.as_str())]);
        let settled = matches!(status, OrderStatus::Confirmed | OrderStatus::Rejected).then(|| {
            let waited = (Utc::now() - order.created_at).to_std().unwrap_or_default();
            (
                self.settle_duration
                    .get_or_create_owned(&[("status", status.as_str())]),
                waited.as_secs_f64(),
            )
        });
        after_commit(move || {
            counter.inc();
            if let Some((histogram, seconds)) = settled {
                histogram.observe(seconds);
            }
        });
    }
}
