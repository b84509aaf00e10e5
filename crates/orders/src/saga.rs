//! The order side of the saga: products' answers (`stock.reserved`,
//! `stock.rejected`) settle PENDING orders.
//!
//! The durable consumer `orders` reads the PRODUCTS stream filtered on
//! `stock.>` and runs [`StockOutcomes`] in its transaction, which also holds
//! the processed-event record: a redelivered answer is skipped before it
//! gets here, and whatever it changes commits together with that record,
//! the outgoing event and the change notification, or not at all.
//!
//! The order is locked, [`react`] decides, and the decision is applied:
//! a legal transition (CONFIRMED or REJECTED, announced as
//! `orders.settled`), a release of stock reserved for an order that can no
//! longer use it (`orders.cancelled`, the compensation), or nothing (a late
//! or repeated answer; logged and acknowledged). `stock.released` and any
//! other `stock.*` type need nothing here.

use sqlx::{PgConnection, Postgres, Transaction};
use syncchain_events::{
    Envelope, Event,
    consumer::{ConsumerConfig, Handler, HandlerError},
    outbox,
    payloads::products::{StockRejectedV1, StockRejection, StockReservedV1},
    streams,
};
use uuid::Uuid;

use crate::{
    domain::{OrderId, OrderStatus, Reaction, Trigger, react},
    events,
    metrics::OrderMetrics,
    storage,
};

/// The durable consumer's name, shared by every instance.
pub const CONSUMER: &str = "orders";

/// The consumer's binding: stream PRODUCTS, subjects `stock.>`.
pub fn consumer_config() -> ConsumerConfig {
    ConsumerConfig::new(CONSUMER, streams::PRODUCTS).subject("stock.>")
}

/// Applies products' answers to orders.
pub struct StockOutcomes {
    metrics: OrderMetrics,
}

impl StockOutcomes {
    pub fn new(metrics: OrderMetrics) -> Self {
        Self { metrics }
    }
}

/// Products' answer about one order, whichever it was.
struct Answer {
    order_id: Uuid,
    product_id: Uuid,
    quantity: i64,
    trigger: Trigger,
    /// Why, for a rejection.
    reason: Option<String>,
}

#[syncchain_events::async_trait]
impl Handler for StockOutcomes {
    fn wants(&self, event_type: &str) -> bool {
        matches!(event_type, StockReservedV1::TYPE | StockRejectedV1::TYPE)
    }

    async fn handle(
        &self,
        tx: &mut Transaction<'_, Postgres>,
        envelope: &Envelope,
    ) -> Result<(), HandlerError> {
        let answer = match envelope.event_type.as_str() {
            StockReservedV1::TYPE => {
                let e: StockReservedV1 = envelope.decode()?;
                Answer {
                    order_id: e.order_id,
                    product_id: e.product_id,
                    quantity: e.quantity,
                    trigger: Trigger::StockReserved,
                    reason: None,
                }
            }
            StockRejectedV1::TYPE => {
                let e: StockRejectedV1 = envelope.decode()?;
                Answer {
                    order_id: e.order_id,
                    product_id: e.product_id,
                    quantity: e.quantity,
                    trigger: Trigger::StockRejected,
                    reason: Some(rejection_reason(&e)),
                }
            }
            // stock.released and anything newer: nothing to do here.
            _ => return Ok(()),
        };
        settle(tx, answer, &self.metrics).await
    }
}

async fn settle(
    conn: &mut PgConnection,
    answer: Answer,
    metrics: &OrderMetrics,
) -> Result<(), HandlerError> {
    let id = OrderId::from(answer.order_id);
    let Some(order) = storage::lock(conn, id).await? else {
        return Err(HandlerError::permanent(format!(
            "{:?} for order {id}, which does not exist",
            answer.trigger
        )));
    };
    if order.product_id.as_uuid() != answer.product_id || order.quantity != answer.quantity {
        return Err(HandlerError::permanent(format!(
            "{:?} for order {id} names product {} x {}, the order is for {} x {}",
            answer.trigger, answer.product_id, answer.quantity, order.product_id, order.quantity
        )));
    }
    match react(order.status, answer.trigger) {
        Reaction::Apply(transition) => {
            let why = match transition.to() {
                OrderStatus::Confirmed => Some("stock reserved"),
                _ => answer.reason.as_deref(),
            };
            let Some(settled) = storage::apply(conn, id, transition, why).await? else {
                // The row is locked: only a bug gets here. Retry, then park.
                return Err(HandlerError::transient(anyhow::anyhow!(
                    "order {id} left {} while locked",
                    transition.from()
                )));
            };
            let event = events::settled(&settled).map_err(HandlerError::transient)?;
            outbox::enqueue(conn, &event).await?;
            metrics.entered(&settled);
            tracing::info!(order.id = %id, status = %settled.status, "order settled");
        }
        Reaction::Release => {
            let event = events::cancelled(&order).map_err(HandlerError::transient)?;
            outbox::enqueue(conn, &event).await?;
            tracing::warn!(order.id = %id, status = %order.status, "stock reserved for an order that cannot use it, releasing it");
        }
        Reaction::Ignore => {
            tracing::info!(order.id = %id, status = %order.status, trigger = ?answer.trigger, "stock answer ignored, the order has moved on");
        }
    }
    Ok(())
}

/// The reason a customer sees on a REJECTED order.
fn rejection_reason(event: &StockRejectedV1) -> String {
    match event.reason {
        StockRejection::InsufficientStock => format!(
            "insufficient stock: {} requested, {} available",
            event.quantity, event.available
        ),
        StockRejection::UnknownProduct => "unknown product".to_owned(),
    }
}
