//! A product's id: a UUID (v7 for new products, so ids sort roughly by
//! creation and index well). Ids arrive as text and are parsed here, so a
//! malformed one is a clear bad-input error rather than a database error.

use std::fmt;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::ValidationError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ProductId(Uuid);

impl ProductId {
    /// A fresh, time-ordered id.
    pub fn generate() -> Self {
        Self(Uuid::now_v7())
    }

    /// `field` names the input the id came from (`id`, `ids`).
    pub fn parse(field: &'static str, raw: &str) -> Result<Self, ValidationError> {
        Uuid::try_parse(raw.trim())
            .map(Self)
            .map_err(|_| ValidationError::new(field, "is not a valid product id"))
    }

    pub fn as_uuid(self) -> Uuid {
        self.0
    }
}

impl From<Uuid> for ProductId {
    fn from(id: Uuid) -> Self {
        Self(id)
    }
}

impl fmt::Display for ProductId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_uuid_in_text_is_a_product_id() {
        let id = Uuid::new_v4();
        assert_eq!(
            ProductId::parse("id", &id.to_string()).unwrap().as_uuid(),
            id
        );
    }

    #[test]
    fn anything_else_is_refused_naming_the_field() {
        for raw in ["", "7", "not-a-uuid", "' OR 1=1 --"] {
            assert_eq!(ProductId::parse("ids", raw).unwrap_err().field, "ids");
        }
    }
}
