//! Conversions from service messages to API values that can fail:
//! 64-bit amounts that the API's 32-bit `Int` must hold, and ids. The
//! services keep every amount within that range; if one ever is not, that
//! is our bug, so it is logged and answered as `INTERNAL`, never truncated.

use crate::errors::ApiError;

pub fn int(value: i64, what: &'static str) -> Result<i32, ApiError> {
    i32::try_from(value).map_err(|_| {
        tracing::error!(what, value, "amount out of the API's Int range");
        ApiError::Internal
    })
}

/// A UUID argument in its canonical form, or `BAD_USER_INPUT` naming it.
pub fn id(id: &async_graphql::ID, field: &str) -> Result<String, ApiError> {
    uuid(id, field).map(|u| u.to_string())
}

/// [`id`], as the id itself.
pub fn uuid(id: &async_graphql::ID, field: &str) -> Result<uuid::Uuid, ApiError> {
    uuid::Uuid::parse_str(id.as_str()).map_err(|_| ApiError::bad_input(field, "not a valid id"))
}
