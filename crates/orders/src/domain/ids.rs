//! Ids of orders and of the products they are for: UUIDs (v7 for new
//! orders, so ids sort roughly by creation and index well). Ids arrive as
//! text and are parsed here, so a malformed one is a clear bad-input error
//! naming its field, not a database error.

use std::fmt;

use uuid::Uuid;

use super::ValidationError;

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(Uuid);

        impl $name {
            /// `field` names the input the id came from (`id`, `productId`).
            pub fn parse(field: &'static str, raw: &str) -> Result<Self, ValidationError> {
                Uuid::try_parse(raw.trim())
                    .map(Self)
                    .map_err(|_| ValidationError::new(field, "is not a valid id"))
            }

            pub fn as_uuid(self) -> Uuid {
                self.0
            }
        }

        impl From<Uuid> for $name {
            fn from(id: Uuid) -> Self {
                Self(id)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }
    };
}

id_type!(
    /// An order's id.
    OrderId
);
id_type!(
    /// The id of the product an order is for; products owns it.
    ProductId
);

impl OrderId {
    /// A fresh, time-ordered id.
    pub fn generate() -> Self {
        Self(Uuid::now_v7())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_uuid_in_text_is_an_id() {
        let id = Uuid::new_v4();
        assert_eq!(
            ProductId::parse("productId", &id.to_string())
                .unwrap()
                .as_uuid(),
            id
        );
    }

    #[test]
    fn anything_else_is_refused_naming_the_field() {
        for raw in ["", "42", "not-a-uuid", "' OR 1=1 --"] {
            assert_eq!(
                ProductId::parse("productId", raw).unwrap_err().field,
                "productId"
            );
            assert_eq!(OrderId::parse("id", raw).unwrap_err().field, "id");
        }
    }

    #[test]
    fn generated_order_ids_sort_by_creation() {
        let first = OrderId::generate();
        let second = OrderId::generate();
        assert!(first < second);
    }
}
