//! Amounts in minor units (cents). The API's `Int` is 32 bits, so an order
//! total must fit `i32`; the predecessor let it overflow. The total is
//! computed with checked arithmetic over every line and refused, naming the
//! input that made it too large (`quantity`, or `lines`), when it does not
//! fit: never wrapped, never truncated, never an internal error.

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

    /// The sum of every line's price × quantity, when it fits; refused
    /// naming `field` (the input that made it too large).
    pub fn sum(
        lines: impl IntoIterator<Item = (UnitPrice, Quantity)>,
        field: &'static str,
    ) -> Result<Self, ValidationError> {
        lines
            .into_iter()
            .try_fold(0_i64, |sum, (price, quantity)| {
                price
                    .minor()
                    .checked_mul(quantity.get())
                    .and_then(|line| sum.checked_add(line))
                    .filter(|total| *total <= Self::MAX)
            })
            .map(Self)
            .ok_or_else(|| {
                // Read after the field's name: "lines make", "quantity makes".
                let verb = if field == "lines" { "make" } else { "makes" };
                ValidationError::new(
                    field,
                    format!(
                        "{verb} the order total exceed the largest amount an order may have ({} minor units)",
                        Self::MAX
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
        Money::sum(
            [(
                UnitPrice::new(price).unwrap(),
                Quantity::parse(quantity).unwrap(),
            )],
            "quantity",
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
    fn lines_add_up_and_a_sum_past_the_api_maximum_is_refused_not_wrapped() {
        let line = |price: i64, quantity: i64| {
            (
                UnitPrice::new(price).unwrap(),
                Quantity::parse(quantity).unwrap(),
            )
        };
        assert_eq!(
            Money::sum([line(250, 4), line(100, 1)], "lines")
                .unwrap()
                .minor(),
            1100
        );
        let half = i64::from(i32::MAX) / 2 + 1;
        let err = Money::sum([line(half, 1), line(half, 1)], "lines").unwrap_err();
        assert_eq!(err.field, "lines");
        assert!(
            Money::sum([line(i64::MAX, 2), line(1, 1)], "lines").is_err(),
            "a line that overflows i64 is refused"
        );
    }

    #[test]
    fn a_price_below_one_minor_unit_is_not_a_unit_price() {
        assert!(UnitPrice::new(0).is_none());
        assert!(UnitPrice::new(-5).is_none());
    }
}
