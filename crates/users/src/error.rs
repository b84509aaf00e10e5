//! The failures of the users service that callers branch on, plus
//! catch-alls that keep their cause. The gRPC layer maps each to a status
//! exactly once; nothing below it knows about statuses.

use crate::{domain::ValidationError, password::PasswordError, storage::StoreError};

#[derive(Debug, thiserror::Error)]
pub enum UsersError {
    #[error(transparent)]
    Invalid(#[from] ValidationError),
    #[error("an account with this email already exists")]
    EmailTaken,
    #[error("no such user")]
    NotFound,
    #[error("you may not do this")]
    Forbidden,
    /// One answer for an unknown email and a wrong password alike.
    #[error("invalid email or password")]
    InvalidCredentials,
    #[error("database failure")]
    Database(#[from] sqlx::Error),
    #[error("password hashing failure")]
    Password(#[from] PasswordError),
    #[error("cannot encode an event")]
    Event(#[from] serde_json::Error),
}

impl From<StoreError> for UsersError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::EmailTaken => Self::EmailTaken,
            StoreError::Database(e) => Self::Database(e),
        }
    }
}
