//! A product's name: 1 to 200 characters after trimming surrounding space,
//! stored as typed (no case folding). Control characters (line breaks,
//! tabs, escapes) are refused: a name is one line of text everywhere it is
//! shown. So are invisible formatting characters (bidi overrides,
//! zero-width spaces, soft hyphens), which make a name read differently
//! from what is stored.

use syncchain_platform::text::refuse_hidden;

use super::ValidationError;

const FIELD: &str = "name";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProductName(String);

impl ProductName {
    pub const MAX_CHARS: usize = 200;

    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        let name = raw.trim();
        if name.is_empty() {
            return Err(ValidationError::new(FIELD, "is required"));
        }
        if name.chars().count() > Self::MAX_CHARS {
            return Err(ValidationError::new(
                FIELD,
                "must be at most 200 characters",
            ));
        }
        refuse_hidden(FIELD, name, &[])?;
        Ok(Self(name.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_name_is_kept_as_typed_without_surrounding_space() {
        assert_eq!(
            ProductName::parse("  Café Crème 250g ").unwrap().as_str(),
            "Café Crème 250g"
        );
    }

    #[test]
    fn one_character_is_enough_but_blank_is_required() {
        assert!(ProductName::parse("X").is_ok());
        let err = ProductName::parse("   ").unwrap_err();
        assert_eq!((err.field, err.message.as_str()), ("name", "is required"));
    }

    #[test]
    fn two_hundred_characters_are_allowed_but_not_more() {
        assert!(ProductName::parse(&"é".repeat(200)).is_ok());
        assert_eq!(
            ProductName::parse(&"é".repeat(201)).unwrap_err().field,
            "name"
        );
    }

    #[test]
    fn control_characters_are_refused() {
        for raw in ["a\nb", "a\tb", "a\u{1b}[31mb"] {
            assert!(ProductName::parse(raw).is_err(), "{raw:?}");
        }
    }

    #[test]
    fn invisible_formatting_characters_are_refused_naming_the_field() {
        for raw in [
            "Tea\u{200b}",
            "\u{202e}aeT",
            "T\u{ad}ea",
            "Tea\u{feff}",
            "Tea\u{0}",
        ] {
            assert_eq!(
                ProductName::parse(raw).unwrap_err().field,
                "name",
                "{raw:?}"
            );
        }
    }
}
