//! Stock: whole items on the shelf, called `quantity` in the API. An admin
//! sets it at creation ([`Stock`], 0 or more) and adds to it by restocking
//! ([`Quantity`], 1 or more); both stay within the API's 32-bit `Int`, and
//! so must the stock a restock leaves. Reservations take stock away through
//! the saga, never below zero (the table's CHECK is the last word on that),
//! and a cancelled order's reservation comes back: so a restock must leave
//! room for the stock still held for orders, or a later cancellation would
//! push the stock past the `Int`.

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

    /// The stock after adding `quantity` to `current`, refused when it, with
    /// the `held` items reserved for orders that may yet come back, would
    /// no longer fit the API's `Int`.
    pub fn restocked(current: i64, held: i64, quantity: Quantity) -> Result<Self, ValidationError> {
        let room = MAX.saturating_sub(current.saturating_add(held)).max(0);
        if quantity.get() <= room {
            return Ok(Self(current + quantity.get()));
        }
        let message = if held > 0 {
            format!(
                "would raise the stock of {current} (with {held} more reserved for orders) above {MAX}; at most {room} more fit"
            )
        } else {
            format!("would raise the stock of {current} above {MAX}; at most {room} more fit")
        };
        Err(ValidationError::new(FIELD, message))
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
        assert_eq!(Stock::restocked(MAX - 1, 0, one).unwrap().get(), MAX);
        assert_eq!(
            Stock::restocked(10, 0, Quantity::parse(5).unwrap())
                .unwrap()
                .get(),
            15
        );
        let err = Stock::restocked(MAX, 0, one).unwrap_err();
        assert_eq!(err.field, "quantity");
        assert!(err.message.contains("at most 0 more"), "{}", err.message);
    }

    #[test]
    fn a_restock_leaves_room_for_the_stock_reserved_for_orders() {
        let held = 1_000;
        let fits = Quantity::parse(MAX - 10 - held).unwrap();
        assert_eq!(Stock::restocked(10, held, fits).unwrap().get(), MAX - held);
        let one_more = Quantity::parse(MAX - 10 - held + 1).unwrap();
        let err = Stock::restocked(10, held, one_more).unwrap_err();
        assert_eq!(err.field, "quantity");
        assert!(
            err.message.contains("1000 more reserved")
                && err.message.contains("at most 2147482637 more"),
            "{}",
            err.message
        );
    }

    #[test]
    fn a_restock_never_overflows_whatever_the_current_stock() {
        let big = Quantity::parse(MAX).unwrap();
        assert!(Stock::restocked(i64::MAX, 0, big).is_err());
        assert!(Stock::restocked(0, i64::MAX, big).is_err());
        assert!(Stock::restocked(i64::MAX, i64::MAX, big).is_err());
    }
}
