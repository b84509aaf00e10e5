//! Conventions every gRPC hop follows. The end user's token travels in the
//! `authorization` metadata entry; a bad-input status names its field in the
//! `x-syncchain-field` entry so the gateway can report it; an internal
//! failure is logged once, here, with its cause chain, and only a generic
//! message crosses the wire. A dependency that is away (a database that
//! cannot be reached, another service that does not answer) is not our
//! fault and not permanent: it is UNAVAILABLE, which the caller may retry,
//! logged once as a warning. The id of the request being handled travels
//! in the `x-request-id` entry ([`crate::request_id`]).

use chrono::{DateTime, Utc};
use tonic::{Status, metadata::MetadataMap};

use crate::{
    auth::{Caller, TokenKeys},
    failure::{chain, is_database_away},
};

pub const AUTHORIZATION: &str = "authorization";
pub const FIELD: &str = "x-syncchain-field";

/// Wraps a message in a request that carries the caller's token, if any,
/// the id of the request being handled, if any, and the trace context.
pub fn request<T>(message: T, token: Option<&str>) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    if let Some(token) = token
        && let Ok(value) = format!("Bearer {token}").parse()
    {
        request.metadata_mut().insert(AUTHORIZATION, value);
    }
    if let Some(id) = crate::request_id::current()
        && let Ok(value) = id.as_str().parse()
    {
        request
            .metadata_mut()
            .insert(crate::request_id::HEADER, value);
    }
    crate::trace::inject_metadata(request.metadata_mut());
    request
}

/// A point in time as protobuf's well-known `Timestamp`.
pub fn timestamp(at: DateTime<Utc>) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: at.timestamp(),
        // Below one billion, so it always fits.
        nanos: i32::try_from(at.timestamp_subsec_nanos()).unwrap_or(0),
    }
}

/// The inverse of [`timestamp`]; a missing or out-of-range time is the
/// epoch, which no record of ours has.
pub fn from_timestamp(at: Option<prost_types::Timestamp>) -> DateTime<Utc> {
    at.and_then(|t| DateTime::from_timestamp(t.seconds, u32::try_from(t.nanos).unwrap_or(0)))
        .unwrap_or_default()
}

/// The token a request carries (with or without `Bearer `), unverified;
/// `Err` when the entry is not text. For forwarding to the next hop.
pub fn token(metadata: &MetadataMap) -> Result<Option<&str>, Status> {
    let Some(value) = metadata.get(AUTHORIZATION) else {
        return Ok(None);
    };
    let value = value
        .to_str()
        .map_err(|_| Status::unauthenticated("malformed authorization"))?;
    Ok(Some(value.strip_prefix("Bearer ").unwrap_or(value)))
}

/// The verified caller of a request, `None` when it carries no token.
pub fn caller(metadata: &MetadataMap, keys: &TokenKeys) -> Result<Option<Caller>, Status> {
    let Some(token) = token(metadata)? else {
        return Ok(None);
    };
    keys.verify(token)
        .map(Some)
        .map_err(|e| Status::unauthenticated(e.to_string()))
}

/// The caller of a request that must come from a signed-in user.
pub fn require_caller(metadata: &MetadataMap, keys: &TokenKeys) -> Result<Caller, Status> {
    caller(metadata, keys)?.ok_or_else(|| Status::unauthenticated("sign in first"))
}

/// INVALID_ARGUMENT naming the offending field.
pub fn invalid_argument(field: &str, message: impl Into<String>) -> Status {
    let mut status = Status::invalid_argument(message);
    if let Ok(value) = field.parse() {
        status.metadata_mut().insert(FIELD, value);
    }
    status
}

/// The field an INVALID_ARGUMENT status names, if any.
pub fn field_of(status: &Status) -> Option<String> {
    status
        .metadata()
        .get(FIELD)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// Logs an unexpected failure with its cause chain and returns a status that
/// reveals nothing about it.
pub fn internal(context: &'static str, error: &(dyn std::error::Error + 'static)) -> Status {
    tracing::error!(error = %chain(error), context, "internal failure");
    Status::internal("internal error")
}

/// Logs a dependency that is away with the cause chain and returns
/// UNAVAILABLE naming it (`"the products service"`, `"the orders database"`),
/// never the cause.
pub fn unavailable(
    context: &'static str,
    dependency: &'static str,
    error: &(dyn std::error::Error + 'static),
) -> Status {
    tracing::warn!(error = %chain(error), context, dependency, "dependency unavailable");
    Status::unavailable(format!(
        "{dependency} is temporarily unavailable; try again shortly"
    ))
}

/// The status of a failed statement on the service's own database
/// (`database` names it, e.g. `"the users database"`): UNAVAILABLE when the
/// database is away ([`is_database_away`]), otherwise an internal failure.
/// `error` is what to log: the service's error that wraps `cause`.
pub fn database_failure(
    context: &'static str,
    database: &'static str,
    cause: &sqlx::Error,
    error: &(dyn std::error::Error + 'static),
) -> Status {
    if is_database_away(cause) {
        unavailable(context, database, error)
    } else {
        internal(context, error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unavailable_database_is_unavailable_and_says_nothing_of_the_cause() {
        let cause = sqlx::Error::PoolTimedOut;
        let status = database_failure("test", "the test database", &cause, &cause);
        assert_eq!(status.code(), tonic::Code::Unavailable);
        assert_eq!(
            status.message(),
            "the test database is temporarily unavailable; try again shortly"
        );
    }

    #[test]
    fn any_other_database_failure_is_internal_and_says_nothing_of_the_cause() {
        let cause = sqlx::Error::RowNotFound;
        let status = database_failure("test", "the test database", &cause, &cause);
        assert_eq!(status.code(), tonic::Code::Internal);
        assert_eq!(status.message(), "internal error");
    }
}
