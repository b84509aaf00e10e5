//! A price in minor units (cents). The predecessor kept money in a 32-bit
//! Int that overflowed; the API still speaks a 32-bit `Int`, so a price is
//! at least 1 and at most `i32::MAX`, refused beyond rather than wrapped.

use super::ValidationError;

const FIELD: &str = "price";

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Price(i64);

impl Price {
    pub const MIN: i64 = 1;
    pub const MAX: i64 = i32::MAX as i64;

    pub fn parse(raw: i64) -> Result<Self, ValidationError> {
        if raw < Self::MIN {
            return Err(ValidationError::new(FIELD, "must be at least 1"));
        }
        if raw > Self::MAX {
            return Err(ValidationError::new(
                FIELD,
                format!("must be at most {}", Self::MAX),
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

    #[test]
    fn one_is_the_lowest_price_and_zero_or_less_is_refused() {
        assert_eq!(Price::parse(1).unwrap().get(), 1);
        for raw in [0, -1, i64::MIN] {
            assert_eq!(Price::parse(raw).unwrap_err().field, "price", "{raw}");
        }
    }

    #[test]
    fn the_highest_price_fits_a_32_bit_int() {
        assert_eq!(Price::parse(2_147_483_647).unwrap().get(), 2_147_483_647);
        for raw in [2_147_483_648, i64::MAX] {
            assert_eq!(Price::parse(raw).unwrap_err().field, "price", "{raw}");
        }
    }
}
