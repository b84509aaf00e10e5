//! An email address that could plausibly receive mail. Stored as typed,
//! so what the person typed is what they get back; uniqueness and look-ups
//! use its [canonical form](Email::canonical), the same one the gateway's
//! rate limits key on. Control and invisible formatting characters are
//! refused: `vic\u{200B}tim@` would otherwise be a second account that
//! looks exactly like the first.
//!
//! The rules are deliberately simpler than RFC 5322 (no quoted local parts,
//! no comments, no IP literals): one `@`, a local part of at most 64 octets,
//! a domain of dot-separated LDH labels (IDNs in their `xn--` form), at most
//! 254 octets in all (RFC 5321's limits), and no whitespace anywhere.

use std::fmt;

use syncchain_platform::{identity::canonical_email, text::refuse_hidden};

use super::ValidationError;

const FIELD: &str = "email";
const MAX_LEN: usize = 254;
const MAX_LOCAL_LEN: usize = 64;
const MAX_LABEL_LEN: usize = 63;

#[derive(Clone, PartialEq, Eq)]
pub struct Email(String);

impl Email {
    /// Trims surrounding whitespace, then applies the rules above.
    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        let invalid = |message: &str| ValidationError::new(FIELD, message);
        let email = raw.trim();
        if email.is_empty() {
            return Err(invalid("is required"));
        }
        if email.len() > MAX_LEN {
            return Err(invalid("must be at most 254 characters"));
        }
        if email.chars().any(char::is_whitespace) {
            return Err(invalid("must not contain spaces"));
        }
        refuse_hidden(FIELD, email, &[])?;
        let Some((local, domain)) = email.split_once('@') else {
            return Err(invalid("must contain an @"));
        };
        if domain.contains('@') {
            return Err(invalid("must contain exactly one @"));
        }
        if local.is_empty() {
            return Err(invalid("needs a name before the @"));
        }
        if local.len() > MAX_LOCAL_LEN {
            return Err(invalid("must have at most 64 characters before the @"));
        }
        if local.starts_with('.') || local.ends_with('.') || local.contains("..") {
            return Err(invalid("is not a valid email address"));
        }
        if !valid_domain(domain) {
            return Err(invalid("needs a domain such as example.com after the @"));
        }
        Ok(Self(email.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The form the database compares: see [`canonical_email`].
    pub fn canonical(&self) -> String {
        canonical_email(&self.0)
    }

    pub fn into_inner(self) -> String {
        self.0
    }
}

fn valid_domain(domain: &str) -> bool {
    let labels: Vec<&str> = domain.split('.').collect();
    let label_ok = |label: &&str| {
        !label.is_empty()
            && label.len() <= MAX_LABEL_LEN
            && !label.starts_with('-')
            && !label.ends_with('-')
            && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
    };
    let tld_ok = labels
        .last()
        .is_some_and(|tld| !tld.chars().all(|c| c.is_ascii_digit()));
    labels.len() >= 2 && labels.iter().all(label_ok) && tld_ok
}

// Emails are personal data: they stay out of logs and debug output.
impl fmt::Debug for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Email([redacted])")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(raw: &str) -> bool {
        Email::parse(raw).is_ok()
    }

    #[test]
    fn ordinary_addresses_are_accepted() {
        assert!(ok("ada@example.com"));
        assert!(ok("first.last+tag@mail.example.co.uk"));
        assert!(ok("x@a-b.io"));
        assert!(ok("user@xn--mnchen-3ya.de"));
    }

    #[test]
    fn the_address_is_kept_as_typed_without_surrounding_spaces() {
        let email = Email::parse("  Ada.Lovelace@Example.COM ").unwrap();
        assert_eq!(email.as_str(), "Ada.Lovelace@Example.COM");
    }

    #[test]
    fn an_empty_address_is_required() {
        let err = Email::parse("   ").unwrap_err();
        assert_eq!(err.field, "email");
        assert_eq!(err.message, "is required");
    }

    #[test]
    fn exactly_one_at_sign_is_needed() {
        assert!(!ok("ada.example.com"));
        assert!(!ok("ada@@example.com"));
        assert!(!ok("a@b@example.com"));
    }

    #[test]
    fn spaces_inside_are_refused() {
        assert!(!ok("ada lovelace@example.com"));
        assert!(!ok("ada@exam ple.com"));
        assert!(!ok("ada@exa\u{0}mple.com"));
        assert!(!ok("ada\t@example.com"));
    }

    #[test]
    fn invisible_and_control_characters_are_refused_naming_the_field() {
        for raw in [
            "vic\u{200b}tim@example.com",
            "victim\u{202e}@example.com",
            "vic\u{ad}tim@example.com",
            "victim@exam\u{0}ple.com",
            "\u{feff}victim@example.com",
        ] {
            assert_eq!(Email::parse(raw).unwrap_err().field, "email", "{raw:?}");
        }
    }

    #[test]
    fn the_canonical_form_folds_case_but_keeps_a_dotted_i_apart() {
        let upper = Email::parse("VICTIM@EXAMPLE.COM").unwrap();
        let dotted = Email::parse("vİctim@example.com").unwrap();
        assert_eq!(upper.canonical(), "victim@example.com");
        assert_ne!(dotted.canonical(), upper.canonical());
    }

    #[test]
    fn the_local_part_must_not_be_empty() {
        assert!(!ok("@example.com"));
    }

    #[test]
    fn the_local_part_may_have_64_characters_but_not_65() {
        assert!(ok(&format!("{}@example.com", "a".repeat(64))));
        assert!(!ok(&format!("{}@example.com", "a".repeat(65))));
    }

    #[test]
    fn dots_in_the_local_part_must_separate_something() {
        assert!(!ok(".ada@example.com"));
        assert!(!ok("ada.@example.com"));
        assert!(!ok("a..da@example.com"));
    }

    #[test]
    fn the_domain_needs_a_dot_and_proper_labels() {
        assert!(!ok("ada@localhost"));
        assert!(!ok("ada@example."));
        assert!(!ok("ada@.example.com"));
        assert!(!ok("ada@exa_mple.com"));
        assert!(!ok("ada@-example.com"));
        assert!(!ok("ada@example-.com"));
        assert!(!ok("ada@example.123"));
        assert!(!ok("ada@exämple.com"));
    }

    #[test]
    fn a_domain_label_may_have_63_characters_but_not_64() {
        assert!(ok(&format!("ada@{}.com", "d".repeat(63))));
        assert!(!ok(&format!("ada@{}.com", "d".repeat(64))));
    }

    #[test]
    fn the_whole_address_may_have_254_characters_but_not_255() {
        // 64 + 1 + 189 = 254: three labels of 61 characters and ".com"
        let domain_254 = format!("{}.com", vec!["d".repeat(61); 3].join("."));
        let local = "a".repeat(64);
        let at_limit = format!("{local}@{domain_254}");
        assert_eq!(at_limit.len(), 254);
        assert!(ok(&at_limit));
        let over = format!("{local}@d{domain_254}");
        assert_eq!(over.len(), 255);
        assert!(!ok(&over));
    }

    #[test]
    fn debug_output_hides_the_address() {
        let email = Email::parse("ada@example.com").unwrap();
        assert!(!format!("{email:?}").contains("ada"));
    }
}
