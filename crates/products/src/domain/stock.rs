//! Stock: whole items on the shelf, called `quantity` in the API. An admin
//! sets it at creation ([`Stock`], 0 or more) and adds to it by restocking
//! ([`Quantity`], 1 or more); both stay within the API's 32-bit `Int`, and
//! so must the stock a restock leaves. Reservations take stock away through
//! the saga, never below zero (the table's CHECK is the last word on that).

use super::ValidationError;

/// Stock and restock quantities are reported on the `quantity` input.
const FIELD: &str = "quantity";

/// The largest stock and the largest single restock.
const MAX: i64 = i32::MAX as i64;

/// A stock level set by an admin.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Stock(i64);

impl Stock {
    pub const MAX: i64 = MAX;

    pub fn parse(raw: i64) -> Result<Self, ValidationError> {
        if raw < 0 {
            return Err(ValidationError::new(FIELD, "must not be negative"));
        }
        if raw > MAX {
            return Err(ValidationError::new(
                FIELD,
                format!("must be at most {MAX}"),
            ));
        }
        Ok(Self(raw))
    }

    /// The stock after adding `quantity` to `current`, refused when it would
    /// no longer fit the API's `Int`.
    pub fn restocked(current: i64, quantity: Quantity) -> Result<Self, ValidationError> {
        match current.checked_add(quantity.get()) {
            Some(total) if total <= MAX => Ok(Self(total)),
            _ => Err(ValidationError::new(
                FIELD,
                format!(
                    "would raise the stock of {current} above {MAX}; at most {} more fit",
                    (MAX - current).max(0)
                ),
            )),
        }
    }

    pub fn get(self) -> i64 {
        self.0
    }
}

/// How many items a restock adds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Quantity(i64);

impl Quantity {
    pub fn parse(raw: i64) -> Result<Self, ValidationError> {
        if raw < 1 {
            return Err(ValidationError::new(FIELD, "must be at least 1"));
        }
        if raw > MAX {
            return Err(ValidationError::new(
                FIELD,
                format!("must be at most {MAX}"),
            ));
        }
        Ok(Self(raw))
    }

    pub fn get(self) -> i64 {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAX: i64 = 2_147_483_647;

    #[test]
    fn initial_stock_may_be_zero_but_not_negative() {
        assert_eq!(Stock::parse(0).unwrap().get(), 0);
        let err = Stock::parse(-1).unwrap_err();
        assert_eq!(err.field, "quantity");
    }

    #[test]
    fn initial_stock_fits_a_32_bit_int() {
        assert_eq!(Stock::parse(MAX).unwrap().get(), MAX);
        assert_eq!(Stock::parse(MAX + 1).unwrap_err().field, "quantity");
    }

    #[test]
    fn a_restock_adds_at_least_one_item() {
        assert_eq!(Quantity::parse(1).unwrap().get(), 1);
        for raw in [0, -5] {
            assert_eq!(Quantity::parse(raw).unwrap_err().field, "quantity");
        }
    }

    #[test]
    fn a_single_restock_fits_a_32_bit_int() {
        assert_eq!(Quantity::parse(MAX).unwrap().get(), MAX);
        assert_eq!(Quantity::parse(MAX + 1).unwrap_err().field, "quantity");
    }

    #[test]
    fn a_restock_may_fill_the_stock_to_the_limit_but_not_past_it() {
        let one = Quantity::parse(1).unwrap();
        assert_eq!(Stock::restocked(MAX - 1, one).unwrap().get(), MAX);
        assert_eq!(
            Stock::restocked(10, Quantity::parse(5).unwrap())
                .unwrap()
                .get(),
            15
        );
        let err = Stock::restocked(MAX, one).unwrap_err();
        assert_eq!(err.field, "quantity");
        assert!(err.message.contains("at most 0 more"), "{}", err.message);
    }

    #[test]
    fn a_restock_never_overflows_whatever_the_current_stock() {
        let big = Quantity::parse(MAX).unwrap();
        assert!(Stock::restocked(i64::MAX, big).is_err());
    }
}
