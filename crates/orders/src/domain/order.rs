//! An order as stored, and a request for a new one.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::{OrderId, OrderStatus, ProductId, Quantity, ValidationError};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Order {
    pub id: OrderId,
    pub user_id: Uuid,
    pub product_id: ProductId,
    pub quantity: i64,
    /// Minor units per item, as products priced it at placement.
    pub unit_price: i64,
    pub total_amount: i64,
    pub status: OrderStatus,
    /// Why products refused it; only for REJECTED.
    pub rejection_reason: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// One status an order went through: when, and why (`placed`, `stock
/// reserved`, the rejection reason, who cancelled it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryEntry {
    pub status: OrderStatus,
    pub reason: Option<String>,
    pub at: DateTime<Utc>,
}

/// What a customer asks for, parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NewOrder {
    pub product_id: ProductId,
    pub quantity: Quantity,
}

impl NewOrder {
    pub fn parse(product_id: &str, quantity: i64) -> Result<Self, ValidationError> {
        Ok(Self {
            product_id: ProductId::parse("productId", product_id)?,
            quantity: Quantity::parse(quantity)?,
        })
    }
}
