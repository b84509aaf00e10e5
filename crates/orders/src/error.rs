//! The failures of the orders service that callers branch on, plus
//! catch-alls that keep their cause. The gRPC layer maps each to a status
//! exactly once; nothing below it knows about statuses.

use crate::{
    domain::{OrderStatus, ValidationError},
    prices::PriceError,
};

#[derive(Debug, thiserror::Error)]
pub enum OrdersError {
    #[error(transparent)]
    Invalid(#[from] ValidationError),
    #[error("no such order")]
    NotFound,
    #[error("no such product")]
    ProductNotFound,
    #[error("you may not do this")]
    Forbidden,
    #[error("you have {0} orders waiting for their outcome; wait for one to settle")]
    TooManyPending(i64),
    #[error("you placed {0} orders in the last minute; wait a little")]
    TooManyPerMinute(i64),
    #[error("this idempotency key was used for a different order; use a new key for a new order")]
    KeyReused,
    #[error("the order is {0} and cannot be cancelled; only a PENDING or CONFIRMED order can")]
    NotCancellable(OrderStatus),
    #[error("the products service is unavailable; try again shortly")]
    ProductsUnavailable(#[source] PriceError),
    #[error("cannot look the product up")]
    Products(#[source] PriceError),
    #[error("database failure")]
    Database(#[from] sqlx::Error),
    #[error("cannot encode an event")]
    Event(#[from] serde_json::Error),
}

impl From<PriceError> for OrdersError {
    fn from(e: PriceError) -> Self {
        match e {
            PriceError::NotFound => Self::ProductNotFound,
            PriceError::Unavailable(_) => Self::ProductsUnavailable(e),
            PriceError::Failed(_) | PriceError::InvalidPrice(..) => Self::Products(e),
        }
    }
}
