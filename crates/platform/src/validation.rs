//! One rejected input: which field, and why, in words a client can show.
//! Every service reports bad input this way, naming the field as clients
//! know it (the GraphQL input names); the gRPC edge turns it into
//! INVALID_ARGUMENT with that field ([`crate::grpc::invalid_argument`]) and
//! the gateway into `BAD_USER_INPUT`. The rules themselves stay in each
//! service's domain.

use crate::paging::InvalidCursor;

/// A field that failed its rule; `field` is the name clients use.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field} {message}")]
pub struct ValidationError {
    pub field: &'static str,
    pub message: String,
}

impl ValidationError {
    pub fn new(field: &'static str, message: impl Into<String>) -> Self {
        Self {
            field,
            message: message.into(),
        }
    }
}

/// A bad paging cursor is reported on the `after` argument.
impl From<InvalidCursor> for ValidationError {
    fn from(e: InvalidCursor) -> Self {
        Self::new("after", e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_message_starts_with_the_field() {
        let error = ValidationError::new("price", "must be at least 1");
        assert_eq!(error.to_string(), "price must be at least 1");
    }

    #[test]
    fn a_bad_cursor_names_after() {
        assert_eq!(ValidationError::from(InvalidCursor).field, "after");
    }
}
