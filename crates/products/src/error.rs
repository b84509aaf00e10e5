//! The failures of the products service that callers branch on, plus
//! catch-alls that keep their cause. The gRPC layer maps each to a status
//! exactly once; nothing below it knows about statuses.

use crate::domain::ValidationError;

#[derive(Debug, thiserror::Error)]
pub enum ProductsError {
    #[error(transparent)]
    Invalid(#[from] ValidationError),
    #[error("no such product")]
    NotFound,
    #[error("only admins may change the catalogue")]
    Forbidden,
    #[error("database failure")]
    Database(#[from] sqlx::Error),
    #[error("cannot encode an event")]
    Event(#[from] serde_json::Error),
}
