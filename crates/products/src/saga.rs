//! The stock side of the order saga: the `products` consumer of `orders.>`.
//!
//! Everything happens inside the consumer's transaction, which also holds
//! the processed-event record, so an event's effect, its record and the
//! event it emits commit together or not at all:
//!
//! - `orders.placed` takes the stock with one conditional decrement (two
//!   orders can never both take the last item), records the reservation
//!   under the order's id, and emits `stock.reserved`; or, changing nothing,
//!   `stock.rejected` with the reason.
//! - `orders.cancelled` releases the order's reservation if it still holds
//!   one, and emits `stock.released`; otherwise nothing happens.
//!
//! Redelivery of the same event is stopped by the consumer's record; the
//! reservation row keyed by order also stops a second `orders.placed` for
//! the same order (another event id), so an order reserves at most once and
//! is released at most once.
//!
//! A second `orders.placed` is how orders asks again when an answer never
//! reached it (its sweep of stale PENDING orders), so it is answered: a
//! reservation still held is announced again as `stock.reserved`, with what
//! was reserved. A refusal is not recorded, so it is simply decided again
//! (and may now succeed; orders gives back stock reserved for an order it
//! already rejected). A reservation already released needs no answer: only
//! an order orders has settled is ever cancelled.

use sqlx::{PgConnection, Postgres, Transaction};
use syncchain_events::{
    Envelope, Event, async_trait,
    consumer::{ConsumerConfig, Handler, HandlerError, after_commit},
    outbox,
    payloads::{
        orders::{OrderCancelledV1, OrderPlacedV1},
        products::{StockRejectedV1, StockRejection, StockReleasedV1, StockReservedV1},
    },
    streams,
};

use syncchain_platform::metrics::{Counters, Metrics};

use crate::{
    domain::ProductId,
    storage::{self, Reservation},
};

/// The durable consumer's name, shared by every instance.
pub const CONSUMER: &str = "products";

/// Order events; the types this side does not handle (`orders.settled`)
/// are acknowledged without a transaction ([`Handler::wants`]).
pub fn consumer_config() -> ConsumerConfig {
    ConsumerConfig::new(CONSUMER, streams::ORDERS).subject("orders.>")
}

/// Applies order events to the stock.
pub struct StockKeeper {
    reservations: Counters<[(&'static str, &'static str); 2]>,
}

impl StockKeeper {
    /// Counts what it decides in `metrics`, once each decision commits.
    pub fn new(metrics: &Metrics) -> Self {
        Self {
            reservations: metrics.counters(
                "stock_reservations",
                "Orders' stock requests products decided, by result (reserved, rejected, released) and reason (insufficient_stock, unknown_product; none when reserved or released).",
            ),
        }
    }

    /// Adds one to `result`/`reason` once the transaction commits.
    fn count(&self, result: &'static str, reason: &'static str) {
        let counter = self
            .reservations
            .get_or_create_owned(&[("result", result), ("reason", reason)]);
        after_commit(move || {
            counter.inc();
        });
    }
}

#[async_trait]
impl Handler for StockKeeper {
    fn wants(&self, event_type: &str) -> bool {
        matches!(event_type, OrderPlacedV1::TYPE | OrderCancelledV1::TYPE)
    }

    async fn handle(
        &self,
        tx: &mut Transaction<'_, Postgres>,
        envelope: &Envelope,
    ) -> Result<(), HandlerError> {
        match envelope.event_type.as_str() {
            OrderPlacedV1::TYPE => {
                let (event, decided) = reserve(tx, &envelope.decode()?).await?;
                if let Some((result, reason)) = decided {
                    self.count(result, reason);
                }
                emit(tx, event, envelope).await
            }
            OrderCancelledV1::TYPE => {
                let event = release(tx, &envelope.decode()?).await?;
                if event.is_some() {
                    self.count("released", "none");
                }
                emit(tx, event, envelope).await
            }
            _ => Ok(()),
        }
    }
}

#[tracing::instrument(skip_all, fields(order.id = %order.order_id, product.id = %order.product_id, quantity = order.quantity))]
async fn reserve(
    conn: &mut PgConnection,
    order: &OrderPlacedV1,
) -> Result<(Option<Outgoing>, Option<Decided>), HandlerError> {
    if order.quantity < 1 {
        return Err(HandlerError::permanent(format!(
            "orders.placed for order {} asks for {} items; at least 1 is required",
            order.order_id, order.quantity
        )));
    }
    if let Some(reservation) = storage::reservation(&mut *conn, order.order_id).await? {
        // Decided before: answered again, not counted again.
        return Ok((answer_again(conn, order, reservation).await?, None));
    }
    let product = ProductId::from(order.product_id);
    let (event, decided) = match storage::take_stock(conn, product, order.quantity).await? {
        Some(remaining) => {
            storage::insert_reservation(conn, order.order_id, product, order.quantity).await?;
            tracing::info!(remaining, "stock reserved");
            let event = Envelope::new(&StockReservedV1 {
                order_id: order.order_id,
                product_id: order.product_id,
                quantity: order.quantity,
                remaining,
            });
            (event, ("reserved", "none"))
        }
        None => {
            let available = storage::stock_of(&mut *conn, product).await?;
            let reason = match available {
                Some(_) => StockRejection::InsufficientStock,
                None => StockRejection::UnknownProduct,
            };
            tracing::info!(?reason, available, "stock refused");
            let event = Envelope::new(&StockRejectedV1 {
                order_id: order.order_id,
                product_id: order.product_id,
                quantity: order.quantity,
                reason,
                available: available.unwrap_or(0),
            });
            let reason = match reason {
                StockRejection::InsufficientStock => "insufficient_stock",
                StockRejection::UnknownProduct => "unknown_product",
            };
            (event, ("rejected", reason))
        }
    };
    Ok((Some(event), Some(decided)))
}

/// A decision to count: result and reason.
type Decided = (&'static str, &'static str);

/// The answer to an order placed again that already has its reservation.
async fn answer_again(
    conn: &mut PgConnection,
    order: &OrderPlacedV1,
    reservation: Reservation,
) -> Result<Option<Outgoing>, HandlerError> {
    if !reservation.held {
        tracing::info!("order placed again after its reservation was released, nothing to do");
        return Ok(None);
    }
    let remaining = storage::stock_of(&mut *conn, reservation.product_id)
        .await?
        .unwrap_or(0);
    tracing::info!(
        reserved = reservation.quantity,
        "order placed again, stock.reserved sent again"
    );
    Ok(Some(Envelope::new(&StockReservedV1 {
        order_id: order.order_id,
        product_id: reservation.product_id.as_uuid(),
        quantity: reservation.quantity,
        remaining,
    })))
}

#[tracing::instrument(skip_all, fields(order.id = %order.order_id))]
async fn release(
    conn: &mut PgConnection,
    order: &OrderCancelledV1,
) -> Result<Option<Outgoing>, HandlerError> {
    let Some(released) = storage::release(conn, order.order_id).await? else {
        tracing::info!("no reservation held for the order, nothing to release");
        return Ok(None);
    };
    tracing::info!(product.id = %released.product_id, quantity = released.quantity, remaining = released.remaining, "stock released");
    let event = Envelope::new(&StockReleasedV1 {
        order_id: order.order_id,
        product_id: released.product_id.as_uuid(),
        quantity: released.quantity,
        remaining: released.remaining,
    });
    Ok(Some(event))
}

/// An event to emit, still to be checked for encoding.
type Outgoing = Result<Envelope, serde_json::Error>;

/// Enqueues the outcome of `cause`, in the same trace.
async fn emit(
    conn: &mut PgConnection,
    outcome: Option<Outgoing>,
    cause: &Envelope,
) -> Result<(), HandlerError> {
    let Some(event) = outcome else { return Ok(()) };
    let mut event =
        event.map_err(|e| HandlerError::permanent(format!("cannot encode the outcome: {e}")))?;
    // Made inside the consumer's span, it continues the cause's trace;
    // without an exporter it still names the cause's context, if any.
    if event.traceparent.is_none() {
        event.traceparent.clone_from(&cause.traceparent);
    }
    outbox::enqueue(conn, &event).await?;
    Ok(())
}
