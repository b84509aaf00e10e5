//! What every list of the schema shares: the page size argument `first`
//! and the `PageInfo` of a connection.

use async_graphql::SimpleObject;

use crate::errors::{ApiError, ApiResult};

/// Default and largest page of a list.
const DEFAULT_PAGE: i32 = 20;
const MAX_PAGE: i32 = 100;

#[derive(SimpleObject, Clone)]
pub struct PageInfo {
    /// Pass as `after` to get the next page.
    pub end_cursor: Option<String>,
    pub has_next_page: bool,
}

/// The page size a list asks its service for: `first`, 20 when absent,
/// refused outside 1 to 100.
pub(crate) fn page_size(first: Option<i32>) -> ApiResult<u32> {
    match first {
        None => Ok(DEFAULT_PAGE as u32),
        Some(n) if (1..=MAX_PAGE).contains(&n) => Ok(n as u32),
        Some(_) => Err(ApiError::bad_input(
            "first",
            format!("must be between 1 and {MAX_PAGE}"),
        )),
    }
}
