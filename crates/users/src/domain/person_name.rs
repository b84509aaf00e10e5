//! A first or last name. The predecessor lowercased names and refused
//! `O'Brien` as "not alphabetic"; here a name is letters of any script
//! (with their combining marks, so decomposed `José` is as valid as the
//! composed one), spaces, hyphens and apostrophes, with at least one letter.
//! Surrounding spaces are trimmed; the rest is stored as typed. Control and
//! invisible formatting characters (zero-width joiners, bidi overrides,
//! soft hyphens) get their own message: a name that shows as `Ada` must
//! be `Ada`.

use std::fmt;

use unicode_normalization::char::is_combining_mark;

use syncchain_platform::text::refuse_hidden;

use super::ValidationError;

pub const MAX_CHARS: usize = 100;

#[derive(Clone, PartialEq, Eq)]
pub struct PersonName(String);

impl PersonName {
    /// `field` is the input's name as clients know it (`firstName`, `lastName`).
    pub fn parse(field: &'static str, raw: &str) -> Result<Self, ValidationError> {
        let name = raw.trim();
        if name.is_empty() {
            return Err(ValidationError::new(field, "is required"));
        }
        if name.chars().count() > MAX_CHARS {
            return Err(ValidationError::new(
                field,
                "must be at most 100 characters",
            ));
        }
        refuse_hidden(field, name, &[])?;
        if !name.chars().all(allowed) {
            return Err(ValidationError::new(
                field,
                "may contain only letters, spaces, hyphens and apostrophes",
            ));
        }
        if !name.chars().any(char::is_alphabetic) {
            return Err(ValidationError::new(field, "must contain a letter"));
        }
        Ok(Self(name.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_inner(self) -> String {
        self.0
    }
}

fn allowed(c: char) -> bool {
    c.is_alphabetic() || is_combining_mark(c) || matches!(c, ' ' | '-' | '\'' | '\u{2019}')
}

impl fmt::Debug for PersonName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PersonName([redacted])")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(raw: &str) -> Result<PersonName, ValidationError> {
        PersonName::parse("firstName", raw)
    }

    #[test]
    fn names_of_many_shapes_and_scripts_are_accepted_as_typed() {
        for name in [
            "Mary Ann",
            "O'Brien",
            "O\u{2019}Brien",
            "José",
            "Jose\u{301}",
            "Zoë",
            "李",
            "Jean-Luc",
            "Müller-Lüdenscheidt",
            "Αλέξανδρος",
            "de la Cruz",
        ] {
            assert_eq!(parse(name).unwrap().as_str(), name, "{name}");
        }
    }

    #[test]
    fn surrounding_spaces_are_trimmed() {
        assert_eq!(parse("  Ada ").unwrap().as_str(), "Ada");
    }

    #[test]
    fn an_empty_or_blank_name_is_required_and_names_its_field() {
        let err = PersonName::parse("lastName", "   ").unwrap_err();
        assert_eq!(err.field, "lastName");
        assert_eq!(err.message, "is required");
    }

    #[test]
    fn one_character_is_enough() {
        assert!(parse("A").is_ok());
    }

    #[test]
    fn one_hundred_characters_are_allowed_but_not_more() {
        assert!(parse(&"a".repeat(100)).is_ok());
        assert!(parse(&"a".repeat(101)).is_err());
        // Counted in characters, after trimming.
        assert!(parse(&format!("  {}  ", "é".repeat(100))).is_ok());
    }

    #[test]
    fn digits_and_symbols_are_refused() {
        for name in ["Ada2", "R2-D2", "Ada!", "Ada_L", "Ada.", "A\tB", "<script>"] {
            assert!(parse(name).is_err(), "{name}");
        }
    }

    #[test]
    fn invisible_and_control_characters_are_refused_naming_the_field() {
        for raw in [
            "A\u{200b}da",
            "Ada\u{202e}",
            "A\u{ad}da",
            "Ada\u{0}",
            "A\u{200d}da",
        ] {
            let err = PersonName::parse("lastName", raw).unwrap_err();
            assert_eq!(err.field, "lastName", "{raw:?}");
            assert!(
                err.message.contains("invisible"),
                "{raw:?}: {}",
                err.message
            );
        }
    }

    #[test]
    fn a_name_needs_at_least_one_letter() {
        for name in ["-", "''", "- -", "\u{301}"] {
            assert!(parse(name).is_err(), "{name}");
        }
    }
}
