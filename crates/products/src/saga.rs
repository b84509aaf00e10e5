//! The stock side of the order saga: the `products` consumer of `orders.>`.
//!
//! Everything happens inside the consumer's transaction, which also holds
//! the processed-event record, so an event's effect, its record and the
//! event it emits commit together or not at all:
//!
//! - `orders.placed` version 1 (one line) takes the stock and records the
//!   reservation in one statement, a conditional decrement (two orders can
//!   never both take the last item), and emits `stock.reserved`; or,
//!   changing nothing, `stock.rejected` with the reason.
//! - `orders.placed` version 2 (one or more lines) locks the lines'
//!   products in id order, and reserves every line or none: `stock.reserved`
//!   version 2 with each line's stock left, or `stock.rejected` version 2
//!   naming each line that could not be had, and why.
//! - `orders.cancelled` releases every line the order still holds, and
//!   emits `stock.released`; otherwise nothing happens.
//!
//! Redelivery of the same event is stopped by the consumer's record; the
//! reservation rows keyed by order and product also stop a second
//! `orders.placed` for the same order (another event id), so an order
//! reserves at most once and is released at most once.
//!
//! A second `orders.placed` is how orders asks again when an answer never
//! reached it (its sweep of stale PENDING orders), so it is answered: a
//! reservation still held is announced again as `stock.reserved`, with what
//! was reserved. A refusal is not recorded, so it is simply decided again
//! (and may now succeed; orders gives back stock reserved for an order it
//! already rejected). A reservation already released needs no answer: only
//! an order orders has settled is ever cancelled.

use std::collections::HashSet;

use sqlx::{PgConnection, Postgres, Transaction};
use syncchain_events::{
    Envelope, Event, async_trait,
    consumer::{ConsumerConfig, Handler, HandlerError, after_commit},
    outbox,
    payloads::{
        orders::{OrderCancelledV1, OrderPlacedV1, OrderPlacedV2},
        products::{
            RejectedLineV2, StockLineV2, StockRejectedV1, StockRejectedV2, StockRejection,
            StockReleasedV1, StockReleasedV2, StockReservedV1, StockReservedV2,
        },
    },
    streams,
};
use uuid::Uuid;

use syncchain_platform::metrics::{Counters, Metrics};

use crate::{
    domain::ProductId,
    storage::{self, Line, Reservation},
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
                let placement = Placement::decode(envelope)?;
                let (event, decided) = reserve(tx, &placement).await?;
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

/// An order's request for stock, whichever version announced it: the
/// answers take the same version, so an orders instance that knows only
/// version 1 is answered in version 1.
struct Placement {
    order_id: Uuid,
    lines: Vec<Line>,
    version: u16,
}

impl Placement {
    /// A version 1 placement of one line.
    fn one(order_id: Uuid, line: Line) -> Self {
        Self {
            order_id,
            lines: vec![line],
            version: OrderPlacedV1::VERSION,
        }
    }

    /// Refuses (to be parked) a placement no orders service would send: no
    /// line, too many, a product twice or a quantity below 1.
    fn decode(envelope: &Envelope) -> Result<Self, HandlerError> {
        let (order_id, lines) = if envelope.version == OrderPlacedV2::VERSION {
            let order: OrderPlacedV2 = envelope.decode()?;
            let lines = order
                .lines
                .iter()
                .map(|line| Line {
                    product_id: ProductId::from(line.product_id),
                    quantity: line.quantity,
                })
                .collect();
            (order.order_id, lines)
        } else {
            let order: OrderPlacedV1 = envelope.decode()?;
            let line = Line {
                product_id: ProductId::from(order.product_id),
                quantity: order.quantity,
            };
            (order.order_id, vec![line])
        };
        let refuse = |why: String| {
            HandlerError::permanent(format!("orders.placed for order {order_id} {why}"))
        };
        if lines.is_empty() || lines.len() > OrderPlacedV2::MAX_LINES {
            return Err(refuse(format!(
                "has {} lines; 1 to {} are allowed",
                lines.len(),
                OrderPlacedV2::MAX_LINES
            )));
        }
        if let Some(line) = lines.iter().find(|line| line.quantity < 1) {
            return Err(refuse(format!(
                "asks for {} items of product {}; at least 1 is required",
                line.quantity, line.product_id
            )));
        }
        let distinct: HashSet<ProductId> = lines.iter().map(|line| line.product_id).collect();
        if distinct.len() != lines.len() {
            return Err(refuse("names a product on more than one line".to_owned()));
        }
        Ok(Self {
            order_id,
            lines,
            version: envelope.version,
        })
    }
}

#[tracing::instrument(skip_all, fields(order.id = %placement.order_id, lines = placement.lines.len()))]
async fn reserve(
    conn: &mut PgConnection,
    placement: &Placement,
) -> Result<(Option<Outgoing>, Option<Decided>), HandlerError> {
    let reservations = storage::reservations(&mut *conn, placement.order_id).await?;
    if !reservations.is_empty() {
        // Decided before: answered again, not counted again.
        return Ok((answer_again(placement, &reservations), None));
    }
    let order_id = placement.order_id;
    if let [line] = placement.lines.as_slice()
        && placement.version == OrderPlacedV1::VERSION
    {
        return reserve_one(conn, order_id, *line).await;
    }
    let ids: Vec<ProductId> = placement.lines.iter().map(|l| l.product_id).collect();
    let stock = storage::lock_stock(&mut *conn, &ids).await?;
    // A copy of this placement (another event id, on another instance) may
    // have held the locks first and committed its reservations meanwhile:
    // this statement sees them, and they are answered, not refused.
    if let Some(answer) = decided_meanwhile(conn, placement).await? {
        return Ok(answer);
    }
    let refused: Vec<RejectedLineV2> = placement
        .lines
        .iter()
        .filter_map(|line| {
            let (reason, available) = match stock.get(&line.product_id) {
                None => (StockRejection::UnknownProduct, 0),
                Some(&on_hand) if on_hand < line.quantity => {
                    (StockRejection::InsufficientStock, on_hand)
                }
                Some(_) => return None,
            };
            Some(RejectedLineV2 {
                product_id: line.product_id.as_uuid(),
                quantity: line.quantity,
                reason,
                available,
            })
        })
        .collect();
    if !refused.is_empty() {
        tracing::info!(
            refused = refused.len(),
            "stock refused for some lines, none reserved"
        );
        let decided = ("rejected", counted_reason(&refused));
        let event = Envelope::new(&StockRejectedV2 {
            order_id,
            lines: refused,
        });
        return Ok((Some(event), Some(decided)));
    }
    let remaining = storage::reserve_lines(&mut *conn, order_id, &placement.lines).await?;
    if remaining.len() != placement.lines.len() {
        // Every product was locked above: only a bug gets here.
        return Err(HandlerError::transient(anyhow::anyhow!(
            "reserved {} of the {} lines of order {order_id}",
            remaining.len(),
            placement.lines.len()
        )));
    }
    tracing::info!("stock reserved for every line");
    let lines = placement
        .lines
        .iter()
        .zip(remaining)
        .map(|(line, remaining)| StockLineV2 {
            product_id: line.product_id.as_uuid(),
            quantity: line.quantity,
            remaining,
        })
        .collect();
    let event = Envelope::new(&StockReservedV2 { order_id, lines });
    Ok((Some(event), Some(("reserved", "none"))))
}

/// A version 1 placement: one statement takes the stock and records it.
async fn reserve_one(
    conn: &mut PgConnection,
    order_id: Uuid,
    line: Line,
) -> Result<(Option<Outgoing>, Option<Decided>), HandlerError> {
    if let Some(remaining) = storage::reserve_one(&mut *conn, order_id, line).await? {
        tracing::info!(remaining, "stock reserved");
        let event = Envelope::new(&StockReservedV1 {
            order_id,
            product_id: line.product_id.as_uuid(),
            quantity: line.quantity,
            remaining,
        });
        return Ok((Some(event), Some(("reserved", "none"))));
    }
    // Too little stock, maybe because a copy of this placement took it
    // (its update went first, this one waited for it to commit).
    if let Some(answer) = decided_meanwhile(conn, &Placement::one(order_id, line)).await? {
        return Ok(answer);
    }
    let available = storage::stock_of(&mut *conn, line.product_id).await?;
    let reason = match available {
        Some(_) => StockRejection::InsufficientStock,
        None => StockRejection::UnknownProduct,
    };
    tracing::info!(?reason, available, "stock refused");
    let event = Envelope::new(&StockRejectedV1 {
        order_id,
        product_id: line.product_id.as_uuid(),
        quantity: line.quantity,
        reason,
        available: available.unwrap_or(0),
    });
    Ok((Some(event), Some(("rejected", reason_label(reason)))))
}

/// The answer again when the order's reservations exist after all.
async fn decided_meanwhile(
    conn: &mut PgConnection,
    placement: &Placement,
) -> Result<Option<(Option<Outgoing>, Option<Decided>)>, HandlerError> {
    let reservations = storage::reservations(&mut *conn, placement.order_id).await?;
    if reservations.is_empty() {
        return Ok(None);
    }
    Ok(Some((answer_again(placement, &reservations), None)))
}

/// A decision to count: result and reason.
type Decided = (&'static str, &'static str);

fn reason_label(reason: StockRejection) -> &'static str {
    match reason {
        StockRejection::InsufficientStock => "insufficient_stock",
        StockRejection::UnknownProduct => "unknown_product",
    }
}

/// The reason a refusal of several lines is counted under: too little
/// stock when any line had too little, else an unknown product.
fn counted_reason(refused: &[RejectedLineV2]) -> &'static str {
    if refused
        .iter()
        .any(|line| line.reason == StockRejection::InsufficientStock)
    {
        reason_label(StockRejection::InsufficientStock)
    } else {
        reason_label(StockRejection::UnknownProduct)
    }
}

/// The answer to an order placed again that already has its reservation:
/// what was reserved, in the placement's version, while it is still held.
fn answer_again(placement: &Placement, reservations: &[Reservation]) -> Option<Outgoing> {
    if !reservations.iter().any(|r| r.held) {
        tracing::info!("order placed again after its reservation was released, nothing to do");
        return None;
    }
    tracing::info!(
        lines = reservations.len(),
        "order placed again, stock.reserved sent again"
    );
    let order_id = placement.order_id;
    match reservations {
        [one] if placement.version == OrderPlacedV1::VERSION => {
            Some(Envelope::new(&StockReservedV1 {
                order_id,
                product_id: one.product_id.as_uuid(),
                quantity: one.quantity,
                remaining: one.stock,
            }))
        }
        _ => {
            // In the placement's order, as the first answer listed them.
            let position = |r: &&Reservation| {
                placement
                    .lines
                    .iter()
                    .position(|line| line.product_id == r.product_id)
            };
            let mut listed: Vec<&Reservation> = reservations.iter().collect();
            listed.sort_by_key(position);
            Some(Envelope::new(&StockReservedV2 {
                order_id,
                lines: listed
                    .into_iter()
                    .map(|r| StockLineV2 {
                        product_id: r.product_id.as_uuid(),
                        quantity: r.quantity,
                        remaining: r.stock,
                    })
                    .collect(),
            }))
        }
    }
}

/// Gives back every line the order holds: `stock.released` version 1 for
/// one line (as every reader knows it), version 2 for several.
#[tracing::instrument(skip_all, fields(order.id = %order.order_id))]
async fn release(
    conn: &mut PgConnection,
    order: &OrderCancelledV1,
) -> Result<Option<Outgoing>, HandlerError> {
    let released = storage::release(conn, order.order_id).await?;
    let event = match released.as_slice() {
        [] => {
            tracing::info!("no reservation held for the order, nothing to release");
            return Ok(None);
        }
        [one] => {
            tracing::info!(product.id = %one.product_id, quantity = one.quantity, remaining = one.remaining, "stock released");
            Envelope::new(&StockReleasedV1 {
                order_id: order.order_id,
                product_id: one.product_id.as_uuid(),
                quantity: one.quantity,
                remaining: one.remaining,
            })
        }
        several => {
            tracing::info!(lines = several.len(), "stock released for every line");
            Envelope::new(&StockReleasedV2 {
                order_id: order.order_id,
                lines: several
                    .iter()
                    .map(|r| StockLineV2 {
                        product_id: r.product_id.as_uuid(),
                        quantity: r.quantity,
                        remaining: r.remaining,
                    })
                    .collect(),
            })
        }
    };
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
