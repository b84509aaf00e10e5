//! A caller's idempotency key for a placement, and the canonical form of
//! the request it stands for. A key is 1 to 255 characters with no control
//! characters; it is compared exactly (no trimming, no case folding), and
//! it is the caller's own: two customers may use the same key.

use super::{NewOrder, ValidationError};

const FIELD: &str = "idempotencyKey";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    pub const MAX_CHARS: usize = 255;

    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        let chars = raw.chars().count();
        if chars == 0 || chars > Self::MAX_CHARS {
            return Err(ValidationError::new(
                FIELD,
                format!("must be 1 to {} characters", Self::MAX_CHARS),
            ));
        }
        if raw.chars().any(char::is_control) {
            return Err(ValidationError::new(
                FIELD,
                "must not contain control characters",
            ));
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl NewOrder {
    /// What a placement asked for, as stored beside its key: two requests
    /// with the same form ask for the same order.
    pub fn canonical(&self) -> String {
        // One line keeps the form keys were first stored with.
        self.lines()
            .iter()
            .map(|line| format!("{} x {}", line.product_id, line.quantity.get()))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_to_255_characters_are_a_key_counted_as_characters() {
        for raw in ["k", "order-2026-12-04-0001", &"é".repeat(255)] {
            assert_eq!(IdempotencyKey::parse(raw).unwrap().as_str(), raw);
        }
    }

    #[test]
    fn empty_overlong_or_control_characters_are_refused_naming_the_field() {
        for raw in ["", &"k".repeat(256), "line\nbreak", "nul\0"] {
            let error = IdempotencyKey::parse(raw).unwrap_err();
            assert_eq!(error.field, FIELD, "{raw:?}");
        }
    }

    #[test]
    fn the_canonical_form_tells_requests_apart() {
        let product = uuid::Uuid::new_v4().to_string();
        let one = NewOrder::parse(&product, 1).unwrap();
        let two = NewOrder::parse(&product, 2).unwrap();
        assert_eq!(
            one.canonical(),
            NewOrder::parse(&product, 1).unwrap().canonical()
        );
        assert_ne!(one.canonical(), two.canonical());
    }
}
