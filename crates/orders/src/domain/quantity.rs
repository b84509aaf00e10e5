//! How many items an order is for: 1 to 1,000,000. The upper bound keeps a
//! typo (or an attack) from asking for absurd amounts; the total's own bound
//! is checked separately, in [`Money::sum`](super::Money::sum).

use super::ValidationError;

const FIELD: &str = "quantity";

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Quantity(i64);

impl Quantity {
    pub const MIN: i64 = 1;
    pub const MAX: i64 = 1_000_000;

    pub fn parse(raw: i64) -> Result<Self, ValidationError> {
        if (Self::MIN..=Self::MAX).contains(&raw) {
            Ok(Self(raw))
        } else {
            Err(ValidationError::new(
                FIELD,
                format!("must be between {} and {}", Self::MIN, Self::MAX),
            ))
        }
    }

    pub fn get(self) -> i64 {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_to_a_million_items_are_accepted() {
        for raw in [1, 2, 999_999, 1_000_000] {
            assert_eq!(Quantity::parse(raw).unwrap().get(), raw);
        }
    }

    #[test]
    fn zero_negative_and_huge_quantities_are_refused_naming_quantity() {
        for raw in [0, -1, 1_000_001, i64::MAX, i64::MIN] {
            assert_eq!(Quantity::parse(raw).unwrap_err().field, "quantity");
        }
    }
}
