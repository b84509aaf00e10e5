//! Keyset paging over accounts in creation order. A cursor is the
//! `(created_at, id)` of the last account a client saw, wrapped in base64 so
//! clients treat it as opaque and we may change what is inside (the `v1`
//! prefix). Keyset rather than offset paging: stable while accounts are
//! added, and every page costs the same.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::{UserId, ValidationError};

const FIELD: &str = "after";
const VERSION: &str = "v1";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor {
    pub created_at: DateTime<Utc>,
    pub id: UserId,
}

impl Cursor {
    pub fn encode(&self) -> String {
        let text = format!(
            "{VERSION}:{}:{}",
            self.created_at.timestamp_micros(),
            self.id
        );
        URL_SAFE_NO_PAD.encode(text)
    }

    /// An empty string means "from the start".
    pub fn decode(raw: &str) -> Result<Option<Self>, ValidationError> {
        if raw.is_empty() {
            return Ok(None);
        }
        let invalid = || ValidationError::new(FIELD, "is not a cursor returned by a previous page");
        let bytes = URL_SAFE_NO_PAD.decode(raw).map_err(|_| invalid())?;
        let text = String::from_utf8(bytes).map_err(|_| invalid())?;
        let mut parts = text.splitn(3, ':');
        let (Some(VERSION), Some(micros), Some(id)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(invalid());
        };
        let micros: i64 = micros.parse().map_err(|_| invalid())?;
        let created_at = DateTime::from_timestamp_micros(micros).ok_or_else(invalid)?;
        let id = Uuid::try_parse(id).map_err(|_| invalid())?;
        Ok(Some(Self {
            created_at,
            id: id.into(),
        }))
    }
}

/// How many accounts one page holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageSize(u32);

impl PageSize {
    pub const DEFAULT: u32 = 20;
    pub const MAX: u32 = 100;

    /// 0 means the default; anything above the maximum is capped to it.
    pub fn new(first: u32) -> Self {
        match first {
            0 => Self(Self::DEFAULT),
            n => Self(n.min(Self::MAX)),
        }
    }

    pub fn get(self) -> u32 {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cursor_survives_the_round_trip_to_the_microsecond() {
        let created_at = DateTime::from_timestamp_micros(1_764_000_000_123_456).unwrap();
        let cursor = Cursor {
            created_at,
            id: UserId::generate(),
        };
        assert_eq!(Cursor::decode(&cursor.encode()).unwrap(), Some(cursor));
    }

    #[test]
    fn an_empty_cursor_means_the_start() {
        assert_eq!(Cursor::decode("").unwrap(), None);
    }

    #[test]
    fn a_forged_or_damaged_cursor_is_refused_naming_after() {
        let forged = URL_SAFE_NO_PAD.encode("v2:1:x");
        for raw in ["!!!", "abc", forged.as_str(), "djE6MTIz"] {
            assert_eq!(Cursor::decode(raw).unwrap_err().field, "after", "{raw}");
        }
    }

    #[test]
    fn page_size_defaults_to_twenty_and_caps_at_one_hundred() {
        assert_eq!(PageSize::new(0).get(), 20);
        assert_eq!(PageSize::new(1).get(), 1);
        assert_eq!(PageSize::new(100).get(), 100);
        assert_eq!(PageSize::new(101).get(), 100);
    }
}
