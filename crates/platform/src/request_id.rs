//! The request id that ties together the log lines of one request in every
//! process it reaches.
//!
//! The gateway takes the id from the client's `x-request-id` header when it
//! is a plausible id (1 to 64 characters of letters, digits and `-_.:`),
//! and otherwise makes one; it answers with it in the same header. While a
//! request is handled its id is the task's [`current`] one (see [`scope`]),
//! and each log line carries it through the `request` span; every gRPC call
//! made then carries it in the `x-request-id` metadata entry
//! ([`crate::grpc::request`]), and the service that receives the call
//! handles it in a span and a scope of the same id. So one `grep` of an id
//! finds the gateway's lines and those of every service it called.

use std::{fmt, future::Future, sync::Arc};

/// The header and gRPC metadata entry.
pub const HEADER: &str = "x-request-id";

/// The longest id accepted from outside.
const MAX_LEN: usize = 64;

/// A request id: checked, so it is safe in logs and labels.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestId(Arc<str>);

impl RequestId {
    /// A fresh id.
    pub fn generate() -> Self {
        Self(Arc::from(uuid::Uuid::new_v4().simple().to_string()))
    }

    /// The id in `value`, if it is a plausible one.
    pub fn parse(value: &str) -> Option<Self> {
        let plausible = !value.is_empty()
            && value.len() <= MAX_LEN
            && value
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'));
        plausible.then(|| Self(Arc::from(value)))
    }

    /// The id in `value`, or a fresh one when there is none or it is not
    /// plausible.
    pub fn parse_or_generate(value: Option<&str>) -> Self {
        value.and_then(Self::parse).unwrap_or_else(Self::generate)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

tokio::task_local! {
    static CURRENT: RequestId;
}

/// The id of the request the calling task is handling, if any.
pub fn current() -> Option<RequestId> {
    CURRENT.try_with(Clone::clone).ok()
}

/// Runs `future` as the handling of request `id`: [`current`] answers `id`
/// inside it, and its log lines are in `span`, which the caller makes with
/// a `request_id` field.
pub async fn scope<F: Future>(id: RequestId, span: tracing::Span, future: F) -> F::Output {
    use tracing::Instrument;
    CURRENT.scope(id, future.instrument(span)).await
}

/// Runs `future` in the request scope of the calling task, if any: for work
/// a request spawns onto a task of its own (a DataLoader's batch).
pub fn inherit<F>(future: F) -> impl Future<Output = F::Output> + Send + 'static
where
    F: Future + Send + 'static,
    F::Output: Send,
{
    let id = current();
    let span = tracing::Span::current();
    async move {
        use tracing::Instrument;
        match id {
            Some(id) => CURRENT.scope(id, future.instrument(span)).await,
            None => future.instrument(span).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plausible_ids_are_taken_from_outside() {
        for good in [
            "a",
            "0f8c2b1e-9d34-4c1a-8d0e-2f6b7a9c1d3e",
            "req:42.retry_1",
        ] {
            assert_eq!(
                RequestId::parse(good).map(|id| id.to_string()),
                Some(good.to_owned())
            );
        }
        let long = "x".repeat(65);
        for bad in [
            "",
            "has space",
            "line\nbreak",
            "quote\"",
            "{brace}",
            "ü",
            long.as_str(),
        ] {
            assert_eq!(RequestId::parse(bad), None, "{bad:?}");
        }
        let made = RequestId::parse_or_generate(Some("bad id"));
        assert_eq!(made.as_str().len(), 32);
        assert!(RequestId::parse(made.as_str()).is_some());
    }

    #[tokio::test]
    async fn the_current_id_is_the_scopes_and_is_inherited_by_spawned_work() {
        assert_eq!(current(), None);
        let id = RequestId::generate();
        let span = tracing::info_span!("request", request_id = %id);
        let seen = scope(id.clone(), span, async {
            let inner = tokio::spawn(inherit(async { current() }));
            (current(), inner.await.ok().flatten())
        })
        .await;
        assert_eq!(seen, (Some(id.clone()), Some(id)));
        assert_eq!(current(), None);
    }
}
