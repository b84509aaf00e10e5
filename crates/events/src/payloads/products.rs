//! Events the products service emits: catalogue changes, and the stock side
//! of the order saga. Prices are minor units (cents), stock whole items.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::Event;

/// A product was added to the catalogue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ProductCreatedV1 {
    pub product_id: Uuid,
    pub name: String,
    pub price: i64,
    pub stock: i64,
}

impl Event for ProductCreatedV1 {
    const TYPE: &'static str = "products.created";
    const VERSION: u16 = 1;
}

/// A product's details or stock were changed by an admin (edit or restock);
/// the payload is the product as it now stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ProductUpdatedV1 {
    pub product_id: Uuid,
    pub name: String,
    pub price: i64,
    pub stock: i64,
    /// Items added by a restock; 0 for an edit.
    pub restocked: i64,
}

impl Event for ProductUpdatedV1 {
    const TYPE: &'static str = "products.updated";
    const VERSION: u16 = 1;
}

/// Stock was set aside for an order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct StockReservedV1 {
    pub order_id: Uuid,
    pub product_id: Uuid,
    pub quantity: i64,
    /// Stock left after the reservation.
    pub remaining: i64,
}

impl Event for StockReservedV1 {
    const TYPE: &'static str = "stock.reserved";
    const VERSION: u16 = 1;
}

/// Why stock could not be reserved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum StockRejection {
    InsufficientStock,
    UnknownProduct,
}

/// Stock could not be reserved for an order; nothing changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct StockRejectedV1 {
    pub order_id: Uuid,
    pub product_id: Uuid,
    pub quantity: i64,
    pub reason: StockRejection,
    /// Stock at the moment of the refusal (0 for an unknown product).
    pub available: i64,
}

impl Event for StockRejectedV1 {
    const TYPE: &'static str = "stock.rejected";
    const VERSION: u16 = 1;
}

/// Stock reserved for a cancelled order went back on the shelf.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct StockReleasedV1 {
    pub order_id: Uuid,
    pub product_id: Uuid,
    pub quantity: i64,
    pub remaining: i64,
}

impl Event for StockReleasedV1 {
    const TYPE: &'static str = "stock.released";
    const VERSION: u16 = 1;
}

/// One product's stock after a reservation or release of several lines.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct StockLineV2 {
    pub product_id: Uuid,
    /// Items reserved or released for the order.
    pub quantity: i64,
    /// Stock left after the change.
    pub remaining: i64,
}

/// Stock was set aside for every line of an order placed as
/// `orders.placed` version 2.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct StockReservedV2 {
    pub order_id: Uuid,
    pub lines: Vec<StockLineV2>,
}

impl Event for StockReservedV2 {
    const TYPE: &'static str = "stock.reserved";
    const VERSION: u16 = 2;
}

/// A line that could not be reserved, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct RejectedLineV2 {
    pub product_id: Uuid,
    pub quantity: i64,
    pub reason: StockRejection,
    /// Stock on hand when the request was refused; 0 for an unknown product.
    pub available: i64,
}

/// Some line of an order placed as `orders.placed` version 2 could not be
/// reserved, so none was: nothing changed. `lines` names each line that
/// could not be reserved.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct StockRejectedV2 {
    pub order_id: Uuid,
    pub lines: Vec<RejectedLineV2>,
}

impl Event for StockRejectedV2 {
    const TYPE: &'static str = "stock.rejected";
    const VERSION: u16 = 2;
}

/// Stock set aside for an order of several lines was put back, every line
/// at once (a reservation of one line is released as version 1).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct StockReleasedV2 {
    pub order_id: Uuid,
    pub lines: Vec<StockLineV2>,
}

impl Event for StockReleasedV2 {
    const TYPE: &'static str = "stock.released";
    const VERSION: u16 = 2;
}

/// The products whose state an event of the PRODUCTS stream changes, each
/// once, in the event's order: the product created or updated, or every
/// line's product of a reservation or release. A refusal changes nothing,
/// and neither does an event type this does not know. What keeps copies of
/// products (the products service's cache, the gateway's reads) drops
/// these.
pub fn changed_products(envelope: &crate::Envelope) -> Result<Vec<Uuid>, crate::DecodeError> {
    let several = envelope.version == StockReservedV2::VERSION;
    let lines = |lines: Vec<StockLineV2>| lines.into_iter().map(|line| line.product_id).collect();
    let ids: Vec<Uuid> = match envelope.event_type.as_str() {
        ProductCreatedV1::TYPE => vec![envelope.decode::<ProductCreatedV1>()?.product_id],
        ProductUpdatedV1::TYPE => vec![envelope.decode::<ProductUpdatedV1>()?.product_id],
        StockReservedV1::TYPE if several => lines(envelope.decode::<StockReservedV2>()?.lines),
        StockReservedV1::TYPE => vec![envelope.decode::<StockReservedV1>()?.product_id],
        StockReleasedV1::TYPE if several => lines(envelope.decode::<StockReleasedV2>()?.lines),
        StockReleasedV1::TYPE => vec![envelope.decode::<StockReleasedV1>()?.product_id],
        _ => Vec::new(),
    };
    let mut seen = std::collections::HashSet::with_capacity(ids.len());
    Ok(ids.into_iter().filter(|id| seen.insert(*id)).collect())
}
