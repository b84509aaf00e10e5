//! Conversions from service messages to API values that can fail: times,
//! and 64-bit amounts that the API's 32-bit `Int` must hold. The services
//! keep every amount within that range; if one ever is not, that is our
//! bug, so it is logged and answered as `INTERNAL`, never truncated.

use chrono::{DateTime, Utc};

use crate::errors::ApiError;

pub fn int(value: i64, what: &'static str) -> Result<i32, ApiError> {
    i32::try_from(value).map_err(|_| {
        tracing::error!(what, value, "amount out of the API's Int range");
        ApiError::Internal
    })
}

pub fn time(timestamp: Option<prost_types::Timestamp>) -> DateTime<Utc> {
    timestamp
        .and_then(|t| DateTime::from_timestamp(t.seconds, t.nanos.max(0) as u32))
        .unwrap_or_default()
}

/// A UUID argument in its canonical form, or `BAD_USER_INPUT` naming it.
pub fn id(id: &async_graphql::ID, field: &str) -> Result<String, ApiError> {
    uuid::Uuid::parse_str(id.as_str())
        .map(|u| u.to_string())
        .map_err(|_| ApiError::bad_input(field, "not a valid id"))
}
