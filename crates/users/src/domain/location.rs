//! Where a person is, free text: required, 1 to 200 characters after
//! trimming, and no control characters (newlines, tabs, NUL) that would
//! corrupt logs or layouts downstream, nor invisible formatting ones (bidi
//! overrides, zero-width spaces) that make it read differently from what
//! is stored.

use std::fmt;

use syncchain_platform::text::refuse_hidden;

use super::ValidationError;

const FIELD: &str = "location";
pub const MAX_CHARS: usize = 200;

#[derive(Clone, PartialEq, Eq)]
pub struct Location(String);

impl Location {
    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        let location = raw.trim();
        if location.is_empty() {
            return Err(ValidationError::new(FIELD, "is required"));
        }
        if location.chars().count() > MAX_CHARS {
            return Err(ValidationError::new(
                FIELD,
                "must be at most 200 characters",
            ));
        }
        refuse_hidden(FIELD, location, &[])?;
        Ok(Self(location.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_inner(self) -> String {
        self.0
    }
}

impl fmt::Debug for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Location([redacted])")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_location_is_kept_as_typed_without_surrounding_spaces() {
        assert_eq!(
            Location::parse(" São Paulo, BR ").unwrap().as_str(),
            "São Paulo, BR"
        );
    }

    #[test]
    fn an_empty_location_is_required() {
        let err = Location::parse(" ").unwrap_err();
        assert_eq!(
            (err.field, err.message.as_str()),
            ("location", "is required")
        );
    }

    #[test]
    fn one_character_is_enough() {
        assert!(Location::parse("X").is_ok());
    }

    #[test]
    fn two_hundred_characters_are_allowed_but_not_more() {
        assert!(Location::parse(&"ü".repeat(200)).is_ok());
        assert!(Location::parse(&"ü".repeat(201)).is_err());
    }

    #[test]
    fn control_characters_are_refused() {
        assert!(Location::parse("Line\nbreak").is_err());
        assert!(Location::parse("Nul\u{0}").is_err());
    }

    #[test]
    fn invisible_formatting_characters_are_refused_naming_the_field() {
        for raw in [
            "Lon\u{200b}don",
            "\u{202e}nodnoL",
            "Lon\u{ad}don",
            "Lon\u{2066}don",
        ] {
            assert_eq!(
                Location::parse(raw).unwrap_err().field,
                "location",
                "{raw:?}"
            );
        }
    }
}
