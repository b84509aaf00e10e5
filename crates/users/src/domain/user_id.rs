//! An account's id: a UUID (v7 for new accounts, so ids sort roughly by
//! creation and index well). Ids arrive as text over the wire and are parsed
//! here, so a malformed one is a clear bad-input error, not a database error.

use std::fmt;

use uuid::Uuid;

use super::ValidationError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct UserId(Uuid);

impl UserId {
    /// A fresh, time-ordered id.
    pub fn generate() -> Self {
        Self(Uuid::now_v7())
    }

    /// `field` names the input the id came from (`id`, `ids`).
    pub fn parse(field: &'static str, raw: &str) -> Result<Self, ValidationError> {
        Uuid::try_parse(raw.trim())
            .map(Self)
            .map_err(|_| ValidationError::new(field, "is not a valid id"))
    }

    pub fn as_uuid(self) -> Uuid {
        self.0
    }
}

impl From<Uuid> for UserId {
    fn from(id: Uuid) -> Self {
        Self(id)
    }
}

impl fmt::Display for UserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_uuid_in_text_is_an_id() {
        let id = Uuid::new_v4();
        assert_eq!(UserId::parse("id", &id.to_string()).unwrap().as_uuid(), id);
    }

    #[test]
    fn anything_else_is_refused_naming_the_field() {
        for raw in ["", "42", "not-a-uuid", "' OR 1=1 --"] {
            let err = UserId::parse("id", raw).unwrap_err();
            assert_eq!(err.field, "id");
        }
    }

    #[test]
    fn generated_ids_sort_by_creation() {
        let first = UserId::generate();
        let second = UserId::generate();
        assert!(first < second);
    }
}
