//! One rejected input: which field (as clients name it) and why, in words a
//! client can show.

use syncchain_platform::paging::InvalidCursor;

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
