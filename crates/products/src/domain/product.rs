//! A product as stored. It is also what the read cache keeps, hence serde.
//! `stock` is read back as the database holds it: creation and restocks
//! keep it within the API's `Int`, and releases only return what was
//! reserved before.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::ProductId;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Product {
    pub id: ProductId,
    pub name: String,
    pub description: String,
    pub price: i64,
    pub stock: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}
