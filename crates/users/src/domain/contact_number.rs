//! A phone number in a strict, unambiguous form: 7 to 15 digits (the E.164
//! maximum) with an optional leading `+`. Spaces, hyphens and brackets are
//! refused rather than guessed at, so what is stored can be dialled as is.

use std::fmt;

use super::ValidationError;

const FIELD: &str = "contactNumber";
pub const MIN_DIGITS: usize = 7;
pub const MAX_DIGITS: usize = 15;

#[derive(Clone, PartialEq, Eq)]
pub struct ContactNumber(String);

impl ContactNumber {
    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        let number = raw.trim();
        if number.is_empty() {
            return Err(ValidationError::new(FIELD, "is required"));
        }
        let digits = number.strip_prefix('+').unwrap_or(number);
        let valid = (MIN_DIGITS..=MAX_DIGITS).contains(&digits.len())
            && digits.bytes().all(|b| b.is_ascii_digit());
        if !valid {
            return Err(ValidationError::new(
                FIELD,
                "must be 7 to 15 digits with an optional leading +",
            ));
        }
        Ok(Self(number.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_inner(self) -> String {
        self.0
    }
}

impl fmt::Debug for ContactNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ContactNumber([redacted])")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(raw: &str) -> bool {
        ContactNumber::parse(raw).is_ok()
    }

    #[test]
    fn six_digits_are_too_few_and_seven_are_enough() {
        assert!(!ok("123456"));
        assert!(ok("1234567"));
        assert!(!ok("+123456"));
        assert!(ok("+1234567"));
    }

    #[test]
    fn fifteen_digits_are_allowed_but_not_sixteen() {
        assert!(ok("123456789012345"));
        assert!(!ok("1234567890123456"));
        assert!(ok("+123456789012345"));
        assert!(!ok("+1234567890123456"));
    }

    #[test]
    fn only_digits_and_one_leading_plus_are_accepted() {
        for raw in [
            "+44 20 7946 0958",
            "020-7946-0958",
            "(020)79460958",
            "++4420794609",
            "44+2079460958",
            "１２３４５６７",
        ] {
            assert!(!ok(raw), "{raw}");
        }
    }

    #[test]
    fn an_empty_number_is_required_and_names_its_field() {
        let err = ContactNumber::parse("").unwrap_err();
        assert_eq!(
            (err.field, err.message.as_str()),
            ("contactNumber", "is required")
        );
    }

    #[test]
    fn the_number_is_kept_as_typed() {
        assert_eq!(
            ContactNumber::parse(" +442079460958 ").unwrap().as_str(),
            "+442079460958"
        );
    }
}
