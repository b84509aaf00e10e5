//! The state of one running `orderUpdated` subscription.
//!
//! It wakes when the gateway's change feed says its order changed, reads
//! the order with `GetOrder` under the subscriber's own token (so the
//! orders service still decides who may see it) and sends it when it is
//! different. It checks the token again on every wake and on a timer, so a
//! subscription ends with `UNAUTHENTICATED` soon after `signOut` or a role
//! change, and when the token expires. It holds its [`Slot`] for as
//! long as it runs.
//!
//! A read that fails on the way (the orders service restarting, its
//! connection broken mid-call) does not end the subscription: it is tried
//! again after a short backoff, and only [`MAX_FAILED_READS`] failures in a
//! row end it with the error. The change feed opening again wakes it too.

use std::time::Duration;

use futures::{Stream, stream};
use syncchain_platform::grpc::request;
use syncchain_proto::orders::v1::{self as pb, orders_client::OrdersClient};
use tokio::time::{Interval, MissedTickBehavior};

use super::orders::{Order, OrderStatus};
use crate::{
    auth::{RequestAuth, Revocations},
    errors::ApiError,
    metrics::CountedChannel,
    order_feed::OrderWatch,
    subscription_slots::{Recheck, Slot},
};

/// Failed reads in a row after which a subscription ends with the error.
const MAX_FAILED_READS: u32 = 8;

/// The wait before reading again after a failed read; doubles each time.
const READ_RETRY_MIN: Duration = Duration::from_millis(100);
const READ_RETRY_MAX: Duration = Duration::from_secs(5);

pub(crate) struct OrderUpdates {
    pub id: String,
    /// When the token that opened the subscription expires.
    pub expires: tokio::time::Instant,
    pub token: Option<String>,
    pub auth: RequestAuth,
    pub revocations: Revocations,
    pub orders: OrdersClient<CountedChannel>,
    pub watch: OrderWatch,
    /// Held, not read: freed when the subscription ends.
    pub _slot: Slot,
    pub recheck: Recheck,
}

/// What a stream does next.
struct Running {
    updates: OrderUpdates,
    ticks: Interval,
    /// What to send without waiting.
    next: Option<Order>,
    /// What was sent last; `None` once the stream is over.
    last: Option<Order>,
}

impl OrderUpdates {
    /// The order as it stands now.
    pub async fn read(&mut self) -> Result<Order, ApiError> {
        let message = pb::GetOrderRequest {
            id: self.id.clone(),
        };
        self.orders
            .get_order(request(message, self.token.as_deref()))
            .await
            .map_err(|s| ApiError::from_status(s, "orders.GetOrder"))?
            .into_inner()
            .try_into()
    }

    /// `first`, then every change of the order.
    pub fn stream(self, first: Order) -> impl Stream<Item = async_graphql::Result<Order>> + use<> {
        let mut ticks = tokio::time::interval_at(
            tokio::time::Instant::now() + self.recheck.every,
            self.recheck.every.max(Duration::from_millis(1)),
        );
        ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let running = Running {
            updates: self,
            ticks,
            next: Some(first),
            last: None,
        };
        stream::unfold(running, |mut running| async move {
            let item = running.step().await?;
            Some((item.map_err(async_graphql::Error::from), running))
        })
    }
}

fn is_final(status: OrderStatus) -> bool {
    matches!(status, OrderStatus::Rejected | OrderStatus::Cancelled)
}

impl Running {
    async fn step(&mut self) -> Option<Result<Order, ApiError>> {
        if let Some(order) = self.next.take() {
            self.last = Some(order.clone());
            return Some(Ok(order));
        }
        let last = self.last.take()?;
        if is_final(last.status) {
            return None;
        }
        // Set after a failed read: when to read again without a wake.
        let mut retry: Option<tokio::time::Instant> = None;
        let mut failed_reads: u32 = 0;
        loop {
            let changed = tokio::select! {
                biased;
                () = self.updates.recheck.shutdown.cancelled() => return None,
                () = tokio::time::sleep_until(self.updates.expires) => {
                    return Some(Err(ApiError::Unauthenticated(
                        "the token has expired; sign in again".into(),
                    )));
                }
                () = self.updates.watch.changed() => true,
                () = sleep_until(retry) => true,
                _ = self.ticks.tick() => false,
            };
            if let Err(error) = self.updates.auth.caller(&self.updates.revocations).await {
                return Some(Err(error));
            }
            if !changed {
                continue;
            }
            let order = match self.updates.read().await {
                Ok(order) => order,
                Err(ApiError::Unavailable | ApiError::Internal)
                    if failed_reads + 1 < MAX_FAILED_READS =>
                {
                    let delay = READ_RETRY_MIN
                        .saturating_mul(2u32.saturating_pow(failed_reads))
                        .min(READ_RETRY_MAX);
                    failed_reads += 1;
                    retry = Some(tokio::time::Instant::now() + delay);
                    continue;
                }
                Err(error) => return Some(Err(error)),
            };
            retry = None;
            failed_reads = 0;
            if order.status != last.status || order.updated_at != last.updated_at {
                self.last = Some(order.clone());
                return Some(Ok(order));
            }
        }
    }
}

/// Sleeps until `deadline`, or forever without one.
async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}
