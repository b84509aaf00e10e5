//! A password as chosen at registration: 8 to 128 characters (characters,
//! not bytes, so a passphrase in any script counts fairly). Never trimmed,
//! never printed: the value lives in a [`SecretString`].

use std::fmt;

use secrecy::{ExposeSecret, SecretString};

use super::ValidationError;

const FIELD: &str = "password";

#[derive(Clone)]
pub struct Password(SecretString);

impl Password {
    pub const MIN_CHARS: usize = 8;
    pub const MAX_CHARS: usize = 128;

    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        let chars = raw.chars().count();
        if chars < Self::MIN_CHARS {
            return Err(ValidationError::new(FIELD, "must be at least 8 characters"));
        }
        if chars > Self::MAX_CHARS {
            return Err(ValidationError::new(
                FIELD,
                "must be at most 128 characters",
            ));
        }
        Ok(Self(SecretString::from(raw)))
    }

    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password([redacted])")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seven_characters_are_too_few_and_eight_are_enough() {
        assert_eq!(Password::parse("1234567").unwrap_err().field, "password");
        assert!(Password::parse("12345678").is_ok());
    }

    #[test]
    fn one_hundred_twenty_eight_characters_are_allowed_but_not_more() {
        assert!(Password::parse(&"p".repeat(128)).is_ok());
        assert!(Password::parse(&"p".repeat(129)).is_err());
    }

    #[test]
    fn length_counts_characters_not_bytes() {
        // 8 characters, 24 bytes.
        assert!(Password::parse("密码密码密码密码").is_ok());
        // 128 characters, 256 bytes.
        assert!(Password::parse(&"é".repeat(128)).is_ok());
        assert!(Password::parse("密码密码密码密").is_err());
    }

    #[test]
    fn spaces_are_kept_and_count() {
        let password = Password::parse("  secret  ").unwrap();
        assert_eq!(password.expose(), "  secret  ");
    }

    #[test]
    fn debug_output_hides_the_password() {
        let password = Password::parse("hunter2hunter2").unwrap();
        assert!(!format!("{password:?}").contains("hunter2"));
    }
}
