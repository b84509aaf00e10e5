//! A product's description: up to 5,000 characters, possibly empty, trimmed
//! of surrounding space. Line breaks and tabs are text here; other control
//! characters are refused, and so are invisible formatting ones (bidi
//! overrides, zero-width spaces), which make text read differently from
//! what is stored.

use syncchain_platform::text::refuse_hidden;

use super::ValidationError;

const FIELD: &str = "description";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Description(String);

impl Description {
    pub const MAX_CHARS: usize = 5000;

    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        let text = raw.trim();
        if text.chars().count() > Self::MAX_CHARS {
            return Err(ValidationError::new(
                FIELD,
                "must be at most 5000 characters",
            ));
        }
        refuse_hidden(FIELD, text, &['\n', '\r', '\t'])?;
        Ok(Self(text.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_description_is_allowed() {
        assert_eq!(Description::parse("").unwrap().as_str(), "");
        assert_eq!(Description::parse("  ").unwrap().as_str(), "");
    }

    #[test]
    fn five_thousand_characters_are_allowed_but_not_more() {
        assert!(Description::parse(&"ü".repeat(5000)).is_ok());
        let err = Description::parse(&"ü".repeat(5001)).unwrap_err();
        assert_eq!(err.field, "description");
    }

    #[test]
    fn line_breaks_are_text_but_other_control_characters_are_refused() {
        assert_eq!(
            Description::parse("one\r\ntwo\tthree").unwrap().as_str(),
            "one\r\ntwo\tthree"
        );
        assert!(Description::parse("bell\u{7}").is_err());
    }

    #[test]
    fn invisible_formatting_characters_are_refused_naming_the_field() {
        for raw in [
            "a\u{200b}b",
            "a\u{202e}b",
            "a\u{ad}b",
            "a\u{2069}b",
            "a\u{0}b",
        ] {
            let err = Description::parse(raw).unwrap_err();
            assert_eq!(err.field, "description", "{raw:?}");
        }
    }
}
