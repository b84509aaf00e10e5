//! The one canonical form of an email address. Everything that asks "is
//! this the same account?" uses it: uniqueness and look-ups in the users
//! database, and the gateway's rate-limit keys. Two normalisations of one
//! address (say Rust's lowercase for limits and PostgreSQL's `lower()` for
//! look-ups) let an attacker pick a spelling that is one account to the
//! database and another to the limiter; with one function they cannot.
//!
//! The form: surrounding whitespace trimmed, Unicode NFC (so a composed and
//! a decomposed `é` are one address), then Rust's full lowercase mapping of
//! the whole address (so `İ` becomes `i̇`, two characters, never `i`), and
//! NFC again because lowercasing can leave text that is not composed.
//! Domains are ASCII (IDNs arrive in their `xn--` form), so lowercasing
//! them is exactly DNS's case-insensitivity.

use unicode_normalization::UnicodeNormalization;

/// The canonical form of `raw`; total (any text has one), idempotent.
pub fn canonical_email(raw: &str) -> String {
    let composed: String = raw.trim().nfc().collect();
    composed.to_lowercase().nfc().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ascii_addresses_differ_only_in_case_and_surrounding_space() {
        assert_eq!(
            canonical_email("  Ada.Lovelace@Example.COM "),
            "ada.lovelace@example.com"
        );
    }

    #[test]
    fn a_dotted_capital_i_is_not_a_plain_i() {
        let dotted = canonical_email("vİctim@example.com");
        assert_ne!(dotted, canonical_email("victim@example.com"));
        assert_eq!(dotted, "vi\u{307}ctim@example.com");
    }

    #[test]
    fn composed_and_decomposed_letters_are_one_address() {
        assert_eq!(
            canonical_email("Zo\u{eb}@example.com"),
            canonical_email("ZOE\u{308}@example.com")
        );
    }

    #[test]
    fn the_canonical_form_is_its_own_canonical_form() {
        for raw in [
            "VİCTIM@X.IO",
            "ẞtraße@example.com",
            "ΣΊΣΥΦΟΣ@example.com",
            "ǅ@x.io",
        ] {
            let once = canonical_email(raw);
            assert_eq!(canonical_email(&once), once, "{raw}");
        }
    }
}
