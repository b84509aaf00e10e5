//! Events the orders service emits: the order side of the saga.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::Event;

/// An order was accepted as PENDING and needs stock.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct OrderPlacedV1 {
    pub order_id: Uuid,
    pub user_id: Uuid,
    pub product_id: Uuid,
    pub quantity: i64,
    /// Price per item in minor units, taken from products at placement.
    pub unit_price: i64,
    pub total_amount: i64,
}

impl Event for OrderPlacedV1 {
    const TYPE: &'static str = "orders.placed";
    const VERSION: u16 = 1;
}

/// An order was cancelled (PENDING or CONFIRMED), or stock was reserved for
/// one that cannot use it: whatever was reserved for it is to be released.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct OrderCancelledV1 {
    pub order_id: Uuid,
    pub user_id: Uuid,
    pub product_id: Uuid,
    pub quantity: i64,
}

impl Event for OrderCancelledV1 {
    const TYPE: &'static str = "orders.cancelled";
    const VERSION: u16 = 1;
}

/// An order reached CONFIRMED or REJECTED.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct OrderSettledV1 {
    pub order_id: Uuid,
    pub user_id: Uuid,
    pub product_id: Uuid,
    /// `CONFIRMED` or `REJECTED`.
    pub status: String,
    /// Why it was rejected; absent when confirmed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl Event for OrderSettledV1 {
    const TYPE: &'static str = "orders.settled";
    const VERSION: u16 = 1;
}
