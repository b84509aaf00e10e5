//! Characters no text field accepts: Unicode's control (Cc) and format (Cf)
//! characters. Controls (NUL, escapes, line breaks) corrupt logs and
//! layouts; format characters are invisible (zero-width space and joiners,
//! soft hyphen, word joiner, byte-order mark, tag characters) or reorder
//! what is shown (bidi overrides and isolates), so they make lookalike
//! accounts and names that read differently from what is stored. Every
//! service's domain asks this one test, so the rule is the same everywhere.

use unicode_properties::{GeneralCategory, UnicodeGeneralCategory};

use crate::validation::ValidationError;

/// Whether `c` is a control or format character.
pub fn is_hidden(c: char) -> bool {
    matches!(
        c.general_category(),
        GeneralCategory::Control | GeneralCategory::Format
    )
}

/// Refuses `text` if it holds a control or format character other than
/// those in `allowed` (a description may keep its line breaks), naming
/// `field` and the first offending code point.
pub fn refuse_hidden(
    field: &'static str,
    text: &str,
    allowed: &[char],
) -> Result<(), ValidationError> {
    match text.chars().find(|c| is_hidden(*c) && !allowed.contains(c)) {
        None => Ok(()),
        Some(c) => Err(ValidationError::new(
            field,
            format!(
                "must not contain control or invisible formatting characters (found U+{:04X})",
                u32::from(c)
            ),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn controls_and_invisible_formatting_characters_are_hidden() {
        for c in [
            '\0',
            '\n',
            '\t',
            '\u{1b}',
            '\u{7f}',
            '\u{85}', // controls
            '\u{ad}',
            '\u{200b}',
            '\u{200c}',
            '\u{200d}',
            '\u{200e}',
            '\u{200f}',
            '\u{202a}',
            '\u{202e}',
            '\u{2060}',
            '\u{2064}',
            '\u{2066}',
            '\u{2069}',
            '\u{feff}',
            '\u{e0001}',
            '\u{e0041}',
            '\u{61c}',
            '\u{180e}',
        ] {
            assert!(is_hidden(c), "U+{:04X}", u32::from(c));
        }
    }

    #[test]
    fn letters_marks_spaces_and_punctuation_are_not() {
        for c in ['a', 'İ', 'é', '\u{301}', ' ', '-', '\'', '@', '李', '١'] {
            assert!(!is_hidden(c), "U+{:04X}", u32::from(c));
        }
    }

    #[test]
    fn a_refusal_names_the_field_and_the_code_point() {
        let err = refuse_hidden("email", "vic\u{200b}tim@example.com", &[]).unwrap_err();
        assert_eq!(err.field, "email");
        assert!(err.message.contains("U+200B"), "{}", err.message);
    }

    #[test]
    fn allowed_characters_pass() {
        assert!(refuse_hidden("description", "one\ntwo", &['\n']).is_ok());
        assert!(refuse_hidden("description", "one\u{202e}two", &['\n']).is_err());
    }
}
