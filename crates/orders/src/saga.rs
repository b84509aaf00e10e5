//! The order side of the saga: products' answers (`stock.reserved`,
//! `stock.rejected`, version 1 for an order of one line and 2 for several)
//! settle PENDING orders.
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

use std::collections::{HashMap, HashSet};

use sqlx::{PgConnection, Postgres, Transaction};
use syncchain_events::{
    Envelope, Event,
    consumer::{ConsumerConfig, Handler, HandlerError},
    outbox,
    payloads::products::{
        StockRejectedV1, StockRejectedV2, StockRejection, StockReservedV1, StockReservedV2,
    },
    streams,
};
use uuid::Uuid;

use crate::{
    domain::{Order, OrderId, OrderStatus, Reaction, Trigger, react},
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
    /// The lines it names, `(product, quantity)`: every line for a
    /// reservation; for a refusal, the lines that could not be had.
    lines: Vec<(Uuid, i64)>,
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
        let several = envelope.version == StockReservedV2::VERSION;
        let answer = match envelope.event_type.as_str() {
            StockReservedV1::TYPE if several => {
                let e: StockReservedV2 = envelope.decode()?;
                Answer {
                    order_id: e.order_id,
                    lines: e.lines.iter().map(|l| (l.product_id, l.quantity)).collect(),
                    trigger: Trigger::StockReserved,
                    reason: None,
                }
            }
            StockReservedV1::TYPE => {
                let e: StockReservedV1 = envelope.decode()?;
                Answer {
                    order_id: e.order_id,
                    lines: vec![(e.product_id, e.quantity)],
                    trigger: Trigger::StockReserved,
                    reason: None,
                }
            }
            StockRejectedV1::TYPE if several => {
                let e: StockRejectedV2 = envelope.decode()?;
                Answer {
                    order_id: e.order_id,
                    lines: e.lines.iter().map(|l| (l.product_id, l.quantity)).collect(),
                    trigger: Trigger::StockRejected,
                    reason: Some(lines_rejection_reason(&e)),
                }
            }
            StockRejectedV1::TYPE => {
                let e: StockRejectedV1 = envelope.decode()?;
                Answer {
                    order_id: e.order_id,
                    lines: vec![(e.product_id, e.quantity)],
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
    if !names_the_order(&answer, &order) {
        return Err(HandlerError::permanent(format!(
            "{:?} for order {id} names {:?}, the order's lines are {:?}",
            answer.trigger,
            answer.lines,
            order
                .lines
                .iter()
                .map(|l| (l.product_id.as_uuid(), l.quantity))
                .collect::<Vec<_>>()
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

/// Whether the answer is about this order's lines: a reservation names
/// every line, a refusal some of them (at least one), each as ordered.
fn names_the_order(answer: &Answer, order: &Order) -> bool {
    let ordered: HashMap<Uuid, i64> = order
        .lines
        .iter()
        .map(|l| (l.product_id.as_uuid(), l.quantity))
        .collect();
    let each_ordered = answer
        .lines
        .iter()
        .all(|(product, quantity)| ordered.get(product) == Some(quantity));
    let distinct: HashSet<Uuid> = answer.lines.iter().map(|(product, _)| *product).collect();
    let enough = match answer.trigger {
        Trigger::StockReserved => distinct.len() == ordered.len(),
        _ => !distinct.is_empty(),
    };
    each_ordered && distinct.len() == answer.lines.len() && enough
}

/// The reason a customer sees on a REJECTED order of several lines: each
/// line that could not be had, and why.
fn lines_rejection_reason(event: &StockRejectedV2) -> String {
    event
        .lines
        .iter()
        .map(|line| match line.reason {
            StockRejection::InsufficientStock => format!(
                "insufficient stock for product {}: {} requested, {} available",
                line.product_id, line.quantity, line.available
            ),
            StockRejection::UnknownProduct => format!("unknown product {}", line.product_id),
        })
        .collect::<Vec<_>>()
        .join("; ")
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

#[cfg(test)]
mod tests {
    use chrono::Utc;

    use super::*;
    use crate::domain::{OrderLine, ProductId};

    fn order(lines: &[(Uuid, i64)]) -> Order {
        let lines: Vec<OrderLine> = lines
            .iter()
            .map(|(product, quantity)| OrderLine {
                product_id: ProductId::from(*product),
                quantity: *quantity,
                unit_price: 100,
            })
            .collect();
        Order {
            id: OrderId::generate(),
            user_id: Uuid::now_v7(),
            product_id: lines[0].product_id,
            quantity: lines[0].quantity,
            unit_price: 100,
            total_amount: lines.iter().map(OrderLine::total).sum(),
            lines,
            status: OrderStatus::Pending,
            rejection_reason: None,
            created_at: Utc::now(),
            updated_at: Utc::now(),
        }
    }

    fn answer(trigger: Trigger, lines: &[(Uuid, i64)]) -> Answer {
        Answer {
            order_id: Uuid::now_v7(),
            lines: lines.to_vec(),
            trigger,
            reason: None,
        }
    }

    #[test]
    fn a_reservation_must_name_every_line_as_ordered() {
        let (a, b) = (Uuid::now_v7(), Uuid::now_v7());
        let order = order(&[(a, 2), (b, 1)]);
        let reserved =
            |lines: &[(Uuid, i64)]| names_the_order(&answer(Trigger::StockReserved, lines), &order);
        assert!(reserved(&[(a, 2), (b, 1)]));
        assert!(reserved(&[(b, 1), (a, 2)]));
        assert!(!reserved(&[(a, 2)]), "a line missing");
        assert!(!reserved(&[(a, 2), (b, 2)]), "a quantity not ordered");
        assert!(!reserved(&[(a, 2), (a, 2)]), "a line twice");
        assert!(
            !reserved(&[(a, 2), (b, 1), (Uuid::now_v7(), 1)]),
            "a product not ordered"
        );
    }

    #[test]
    fn a_refusal_must_name_some_lines_as_ordered_and_nothing_else() {
        let (a, b) = (Uuid::now_v7(), Uuid::now_v7());
        let order = order(&[(a, 2), (b, 1)]);
        let refused =
            |lines: &[(Uuid, i64)]| names_the_order(&answer(Trigger::StockRejected, lines), &order);
        assert!(refused(&[(b, 1)]));
        assert!(refused(&[(a, 2), (b, 1)]));
        assert!(!refused(&[]), "no line");
        assert!(!refused(&[(b, 3)]), "a quantity not ordered");
        assert!(!refused(&[(Uuid::now_v7(), 1)]), "a product not ordered");
    }
}
