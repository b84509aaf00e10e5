//! The one error type at the GraphQL edge and its stable codes.
//!
//! | code | meaning |
//! | --- | --- |
//! | `UNAUTHENTICATED` | no valid token, or wrong credentials |
//! | `FORBIDDEN` | signed in, but not allowed |
//! | `BAD_USER_INPUT` | the request or a value in it is invalid; `extensions.field` names the input field when there is one |
//! | `NOT_FOUND` | no such thing |
//! | `CONFLICT` | clashes with existing data |
//! | `RATE_LIMITED` | too many attempts; `extensions.retryAfter` in seconds |
//! | `INTERNAL` | our fault, or a part of the system is unreachable for now ("temporarily unavailable"); details are in the log, never in the response |

use async_graphql::ErrorExtensions;
use tonic::{Code, Status};

/// Deliberately not `Display`: async-graphql converts any `Display` error
/// into a GraphQL error without a code, and every error here must keep one.
#[derive(Debug, Clone)]
pub enum ApiError {
    Unauthenticated(String),
    Forbidden(String),
    BadUserInput {
        field: Option<String>,
        message: String,
    },
    NotFound(String),
    Conflict(String),
    RateLimited {
        retry_after: u64,
    },
    /// A service or its database cannot be reached right now; reported as
    /// `INTERNAL` with a message that says to try again.
    Unavailable,
    Internal,
}

impl ApiError {
    pub fn bad_input(field: &str, message: impl Into<String>) -> Self {
        Self::BadUserInput {
            field: Some(field.to_owned()),
            message: message.into(),
        }
    }

    /// The message shown to the client.
    pub fn message(&self) -> String {
        match self {
            Self::Unauthenticated(m)
            | Self::Forbidden(m)
            | Self::NotFound(m)
            | Self::Conflict(m) => m.clone(),
            Self::BadUserInput { message, .. } => message.clone(),
            Self::RateLimited { retry_after } => {
                format!("too many attempts; try again in {retry_after} seconds")
            }
            Self::Unavailable => "temporarily unavailable; try again shortly".into(),
            Self::Internal => "internal error".into(),
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            Self::Unauthenticated(_) => "UNAUTHENTICATED",
            Self::Forbidden(_) => "FORBIDDEN",
            Self::BadUserInput { .. } => "BAD_USER_INPUT",
            Self::NotFound(_) => "NOT_FOUND",
            Self::Conflict(_) => "CONFLICT",
            Self::RateLimited { .. } => "RATE_LIMITED",
            Self::Unavailable | Self::Internal => "INTERNAL",
        }
    }

    /// Maps a status from a service. Statuses that mean "our fault" are
    /// logged here, once, with the service and call they came from.
    pub fn from_status(status: Status, call: &'static str) -> Self {
        match status.code() {
            Code::InvalidArgument => Self::BadUserInput {
                field: syncchain_platform::grpc::field_of(&status),
                message: status.message().to_owned(),
            },
            Code::Unauthenticated => Self::Unauthenticated(status.message().to_owned()),
            Code::PermissionDenied => Self::Forbidden(status.message().to_owned()),
            Code::NotFound => Self::NotFound(status.message().to_owned()),
            Code::AlreadyExists => Self::Conflict(status.message().to_owned()),
            Code::FailedPrecondition | Code::Aborted => Self::Conflict(status.message().to_owned()),
            Code::ResourceExhausted => Self::RateLimited { retry_after: 1 },
            Code::Unavailable | Code::DeadlineExceeded => {
                tracing::warn!(call, grpc.code = ?status.code(), grpc.message = status.message(), "service unavailable");
                Self::Unavailable
            }
            code => {
                tracing::warn!(call, grpc.code = ?code, grpc.message = status.message(), "service call failed");
                Self::Internal
            }
        }
    }
}

impl From<ApiError> for async_graphql::Error {
    fn from(error: ApiError) -> Self {
        let code = error.code();
        async_graphql::Error::new(error.message()).extend_with(|_, ext| {
            ext.set("code", code);
            match &error {
                ApiError::BadUserInput { field: Some(f), .. } => ext.set("field", f.as_str()),
                ApiError::RateLimited { retry_after } => ext.set("retryAfter", *retry_after),
                _ => {}
            }
        })
    }
}

pub type ApiResult<T> = Result<T, ApiError>;
