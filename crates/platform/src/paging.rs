//! Keyset paging, shared by every service's lists. A cursor is the
//! `(created_at, id)` of the last row a client saw, wrapped in base64 so
//! clients treat it as opaque and a service may change what is inside (the
//! `v1` prefix). Keyset rather than offset paging: stable while rows are
//! added, and every page costs the same. Which direction a list runs in is
//! the service's choice; the cursor only marks a place.
//!
//! A cursor comes from the client, so everything in it is checked here: a
//! time PostgreSQL `timestamptz` cannot hold would otherwise fail in the
//! query, so only times within years 1970 to 9999 (every row's `created_at`
//! is in that range) are accepted.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use chrono::{DateTime, Utc};
use uuid::Uuid;

const VERSION: &str = "v1";
/// 1970-01-01T00:00:00Z, the earliest time a cursor may carry.
const MIN_MICROS: i64 = 0;
/// 9999-12-31T23:59:59.999999Z, the latest.
const MAX_MICROS: i64 = 253_402_300_799_999_999;

/// Where the previous page ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor {
    pub created_at: DateTime<Utc>,
    pub id: Uuid,
}

/// A cursor a client made up or damaged; services report it on their
/// paging field (`after`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("is not a cursor returned by a previous page")]
pub struct InvalidCursor;

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
    pub fn decode(raw: &str) -> Result<Option<Self>, InvalidCursor> {
        if raw.is_empty() {
            return Ok(None);
        }
        let bytes = URL_SAFE_NO_PAD.decode(raw).map_err(|_| InvalidCursor)?;
        let text = String::from_utf8(bytes).map_err(|_| InvalidCursor)?;
        let mut parts = text.splitn(3, ':');
        let (Some(VERSION), Some(micros), Some(id)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(InvalidCursor);
        };
        let micros: i64 = micros.parse().map_err(|_| InvalidCursor)?;
        if !(MIN_MICROS..=MAX_MICROS).contains(&micros) {
            return Err(InvalidCursor);
        }
        let created_at = DateTime::from_timestamp_micros(micros).ok_or(InvalidCursor)?;
        let id = Uuid::try_parse(id).map_err(|_| InvalidCursor)?;
        Ok(Some(Self { created_at, id }))
    }
}

/// How many rows one page holds.
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

    /// Rows to fetch: one more than the page, to learn whether another follows.
    pub fn fetch(self) -> i64 {
        i64::from(self.0) + 1
    }
}

/// One page of rows and where it ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub end_cursor: Option<Cursor>,
    pub has_next_page: bool,
}

impl<T> Page<T> {
    /// The page out of up to [`PageSize::fetch`] rows read in list order;
    /// `cursor_of` gives the place of a row.
    pub fn from_rows(mut rows: Vec<T>, size: PageSize, cursor_of: impl Fn(&T) -> Cursor) -> Self {
        let limit = usize::try_from(size.get()).unwrap_or(usize::MAX);
        let has_next_page = rows.len() > limit;
        rows.truncate(limit);
        Self {
            end_cursor: rows.last().map(cursor_of),
            items: rows,
            has_next_page,
        }
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
            id: Uuid::now_v7(),
        };
        assert_eq!(Cursor::decode(&cursor.encode()).unwrap(), Some(cursor));
    }

    #[test]
    fn an_empty_cursor_means_the_start() {
        assert_eq!(Cursor::decode("").unwrap(), None);
    }

    #[test]
    fn a_forged_or_damaged_cursor_is_refused() {
        let forged = URL_SAFE_NO_PAD.encode("v2:1:x");
        for raw in ["!!!", "abc", forged.as_str(), "djE6MTIz"] {
            assert_eq!(Cursor::decode(raw), Err(InvalidCursor), "{raw}");
        }
    }

    #[test]
    fn a_cursor_with_a_time_postgres_cannot_hold_is_refused() {
        let id = Uuid::now_v7();
        for micros in [-8_000_000_000_000_000_000, -1, MAX_MICROS + 1, i64::MAX] {
            let raw = URL_SAFE_NO_PAD.encode(format!("v1:{micros}:{id}"));
            assert_eq!(Cursor::decode(&raw), Err(InvalidCursor), "{micros}");
        }
        for micros in [MIN_MICROS, MAX_MICROS] {
            let raw = URL_SAFE_NO_PAD.encode(format!("v1:{micros}:{id}"));
            assert!(Cursor::decode(&raw).unwrap().is_some(), "{micros}");
        }
    }

    #[test]
    fn page_size_defaults_to_twenty_and_caps_at_one_hundred() {
        assert_eq!(PageSize::new(0).get(), 20);
        assert_eq!(PageSize::new(1).get(), 1);
        assert_eq!(PageSize::new(100).get(), 100);
        assert_eq!(PageSize::new(101).get(), 100);
    }

    #[test]
    fn a_page_keeps_the_size_asked_for_and_says_whether_more_follow() {
        let at = DateTime::from_timestamp_micros(0).unwrap();
        let ids: Vec<Uuid> = (0..3).map(|_| Uuid::now_v7()).collect();
        let cursor_of = |id: &Uuid| Cursor {
            created_at: at,
            id: *id,
        };

        let full = Page::from_rows(ids.clone(), PageSize::new(2), cursor_of);
        assert_eq!(full.items, ids[..2]);
        assert!(full.has_next_page);
        assert_eq!(full.end_cursor.map(|c| c.id), Some(ids[1]));

        let last = Page::from_rows(ids.clone(), PageSize::new(3), cursor_of);
        assert!(!last.has_next_page);
        let empty = Page::from_rows(Vec::new(), PageSize::new(3), cursor_of);
        assert_eq!(empty.end_cursor, None);
    }
}
