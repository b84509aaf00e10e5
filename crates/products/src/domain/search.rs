//! A name search: a case-insensitive substring, matched with `ILIKE`. The
//! text is matched literally, so `%` and `_` are escaped here rather than
//! acting as wildcards; a search longer than any name cannot match and is
//! refused as a likely mistake. Control characters (NUL above all, which
//! PostgreSQL text cannot hold) cannot be in a name either, so a search with
//! one is refused here rather than failing in the database.

use super::{ProductName, ValidationError};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NameSearch(String);

impl NameSearch {
    /// `None` for an empty (or blank) search: list everything.
    pub fn parse(raw: &str) -> Result<Option<Self>, ValidationError> {
        let text = raw.trim();
        if text.is_empty() {
            return Ok(None);
        }
        if text.chars().count() > ProductName::MAX_CHARS {
            return Err(ValidationError::new(
                "search",
                "must be at most 200 characters",
            ));
        }
        if text.chars().any(char::is_control) {
            return Err(ValidationError::new(
                "search",
                "must not contain control characters",
            ));
        }
        Ok(Some(Self(text.to_owned())))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The `ILIKE` pattern, with `\` as the escape character.
    pub fn like_pattern(&self) -> String {
        let mut pattern = String::with_capacity(self.0.len() + 2);
        pattern.push('%');
        for c in self.0.chars() {
            if matches!(c, '\\' | '%' | '_') {
                pattern.push('\\');
            }
            pattern.push(c);
        }
        pattern.push('%');
        pattern
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_blank_search_lists_everything() {
        assert_eq!(NameSearch::parse("  ").unwrap(), None);
    }

    #[test]
    fn wildcards_in_the_search_are_matched_literally() {
        let search = NameSearch::parse(" 100%_pure\\ ").unwrap().unwrap();
        assert_eq!(search.like_pattern(), "%100\\%\\_pure\\\\%");
    }

    #[test]
    fn a_search_longer_than_any_name_is_refused() {
        assert!(NameSearch::parse(&"a".repeat(200)).unwrap().is_some());
        assert_eq!(
            NameSearch::parse(&"a".repeat(201)).unwrap_err().field,
            "search"
        );
    }

    #[test]
    fn a_search_with_a_nul_or_another_control_character_is_refused() {
        for bad in ["a\u{0}b", "a\u{7}b", "a\nb", "a\u{9b}b"] {
            assert_eq!(
                NameSearch::parse(bad).unwrap_err().field,
                "search",
                "{bad:?}"
            );
        }
    }
}
