//! Amounts in minor units (cents). The API's `Int` is 32 bits, so an order
//! total must fit `i32`; the predecessor let it overflow. The total is
//! computed with checked arithmetic and refused, naming `quantity` (the input
//! that made it too large), when it does not fit: never wrapped, never
//! truncated, never an internal error.

use super::{Quantity, ValidationError};

/// The price of one item, as products reports it: at least one minor unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UnitPrice(i64);

impl UnitPrice {
    /// `None` for a price products should never have given (below 1).
    pub fn new(minor: i64) -> Option<Self> {
        (minor >= 1).then_some(Self(minor))
    }

    pub fn minor(self) -> i64 {
        self.0
    }
}

/// An order total that fits the API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Money(i64);

impl Money {
    /// The largest amount the API can carry: `i32::MAX` minor units.
    pub const MAX: i64 = i32::MAX as i64;

    /// `price` × `quantity`, when it fits.
    pub fn total(price: UnitPrice, quantity: Quantity) -> Result<Self, ValidationError> {
        price
            .minor()
            .checked_mul(quantity.get())
            .filter(|total| *total <= Self::MAX)
            .map(Self)
            .ok_or_else(|| {
                ValidationError::new(
                    "quantity",
                    format!(
                        "makes the order total exceed the largest amount an order may have ({} minor units) at a unit price of {}",
                        Self::MAX,
                        price.minor()
                    ),
                )
            })
    }

    pub fn minor(self) -> i64 {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn total(price: i64, quantity: i64) -> Result<Money, ValidationError> {
        Money::total(
            UnitPrice::new(price).unwrap(),
            Quantity::parse(quantity).unwrap(),
        )
    }

    #[test]
    fn the_total_is_price_times_quantity() {
        assert_eq!(total(250, 4).unwrap().minor(), 1000);
    }

    #[test]
    fn a_total_of_exactly_the_api_maximum_is_accepted() {
        assert_eq!(total(i64::from(i32::MAX), 1).unwrap().minor(), Money::MAX);
    }

    #[test]
    fn a_total_past_the_api_maximum_is_refused_naming_quantity() {
        let err = total(i64::from(i32::MAX), 2).unwrap_err();
        assert_eq!(err.field, "quantity");
        assert!(err.message.contains("2147483647"), "{}", err.message);
    }

    #[test]
    fn a_product_that_would_overflow_i64_is_refused_not_wrapped() {
        assert_eq!(total(i64::MAX, 1_000_000).unwrap_err().field, "quantity");
    }

    #[test]
    fn a_price_below_one_minor_unit_is_not_a_unit_price() {
        assert!(UnitPrice::new(0).is_none());
        assert!(UnitPrice::new(-5).is_none());
    }
}
