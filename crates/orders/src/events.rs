//! The events orders emits, built from the order they describe, so the
//! placing, cancelling and settling code paths (and the compensation) all
//! describe an order the same way.

use syncchain_events::{
    Envelope,
    payloads::orders::{OrderCancelledV1, OrderPlacedV1, OrderSettledV1},
};

use crate::domain::Order;

/// `orders.placed`: a PENDING order needs stock.
pub fn placed(order: &Order) -> Result<Envelope, serde_json::Error> {
    Envelope::new(&OrderPlacedV1 {
        order_id: order.id.as_uuid(),
        user_id: order.user_id,
        product_id: order.product_id.as_uuid(),
        quantity: order.quantity,
        unit_price: order.unit_price,
        total_amount: order.total_amount,
    })
}

/// `orders.cancelled`: whatever stock products reserved for the order goes
/// back. Sent on a cancellation, and as the compensation for stock reserved
/// for an order that can no longer use it.
pub fn cancelled(order: &Order) -> Result<Envelope, serde_json::Error> {
    Envelope::new(&OrderCancelledV1 {
        order_id: order.id.as_uuid(),
        user_id: order.user_id,
        product_id: order.product_id.as_uuid(),
        quantity: order.quantity,
    })
}

/// `orders.settled`: the order reached CONFIRMED or REJECTED.
pub fn settled(order: &Order) -> Result<Envelope, serde_json::Error> {
    Envelope::new(&OrderSettledV1 {
        order_id: order.id.as_uuid(),
        user_id: order.user_id,
        product_id: order.product_id.as_uuid(),
        status: order.status.as_str().to_owned(),
        reason: order.rejection_reason.clone(),
    })
}
