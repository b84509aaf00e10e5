//! The events orders emits, built from the order they describe, so the
//! placing, cancelling and settling code paths (and the compensation) all
//! describe an order the same way.

use syncchain_events::{
    Envelope,
    payloads::orders::{
        OrderCancelledV1, OrderLineV2, OrderPlacedV1, OrderPlacedV2, OrderSettledV1,
    },
};

use crate::domain::Order;

/// `orders.placed`: a PENDING order needs stock. An order of one line is
/// announced as version 1, which every products instance knows; one of
/// several lines as version 2.
pub fn placed(order: &Order) -> Result<Envelope, serde_json::Error> {
    if order.lines.len() > 1 {
        return Envelope::new(&OrderPlacedV2 {
            order_id: order.id.as_uuid(),
            user_id: order.user_id,
            lines: order
                .lines
                .iter()
                .map(|line| OrderLineV2 {
                    product_id: line.product_id.as_uuid(),
                    quantity: line.quantity,
                    unit_price: line.unit_price,
                })
                .collect(),
            total_amount: order.total_amount,
        });
    }
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
/// back, every line (products finds them by the order's id; the product and
/// quantity named are the first line's). Sent on a cancellation, and as the compensation for stock reserved
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
