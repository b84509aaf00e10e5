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
    /// The order's first line's product; every line's reservation is
    /// released, found by the order's id.
    pub product_id: Uuid,
    /// The order's first line's quantity.
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
    /// The order's first line's product.
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

/// One line of an order: a product, how many, and at what price.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct OrderLineV2 {
    pub product_id: Uuid,
    pub quantity: i64,
    /// Price per item in minor units, taken from products at placement.
    pub unit_price: i64,
}

/// An order of one or more lines, each a different product, was accepted
/// as PENDING and needs stock for every line, all or nothing. An order of
/// one line is still announced as version 1, which every reader knows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct OrderPlacedV2 {
    pub order_id: Uuid,
    pub user_id: Uuid,
    pub lines: Vec<OrderLineV2>,
    /// The sum of the lines' quantity times unit price.
    pub total_amount: i64,
}

impl OrderPlacedV2 {
    /// The most lines an order may have; products refuses (parks) more.
    pub const MAX_LINES: usize = 100;
}

impl Event for OrderPlacedV2 {
    const TYPE: &'static str = "orders.placed";
    const VERSION: u16 = 2;
}
