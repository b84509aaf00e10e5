//! How a failure is described and judged, the same in every process: the
//! cause chain logged with it, and the one rule for when a database failure
//! means the database is away (retry later) rather than this statement
//! being wrong. gRPC handlers map "away" to UNAVAILABLE; the event
//! consumer keeps the message and retries it instead of parking it.

/// `outer: middle: inner`, for logging.
pub fn chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// Whether `error` means the database could not be reached or dropped the
/// connection, rather than refused this statement: I/O and TLS failures, no
/// connection from the pool in time, a closed pool, a crashed connection
/// worker, and the SQLSTATEs of class 08 (connection exception), 57P01 to
/// 57P03 (administrator shutdown, crash shutdown, cannot connect now) and
/// 53300 (too many connections). The same statement may well succeed
/// shortly, and none of them says anything about the request or event.
///
/// A protocol error is not included: it may be a broken connection or a
/// statement the driver cannot send.
pub fn is_database_away(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(error) => error.code().is_some_and(|code| {
            code.starts_with("08") || matches!(&*code, "57P01" | "57P02" | "57P03" | "53300")
        }),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_database_that_is_away_is_away() {
        let refused = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
        for error in [
            sqlx::Error::Io(refused),
            sqlx::Error::PoolTimedOut,
            sqlx::Error::PoolClosed,
            sqlx::Error::WorkerCrashed,
        ] {
            assert!(is_database_away(&error), "{error}");
        }
    }

    #[test]
    fn a_statement_that_fails_on_its_own_is_not_the_database_being_away() {
        for error in [
            sqlx::Error::RowNotFound,
            sqlx::Error::ColumnNotFound("stock".into()),
            sqlx::Error::Protocol("unexpected message".into()),
        ] {
            assert!(!is_database_away(&error), "{error}");
        }
    }

    #[test]
    fn the_chain_names_every_cause_outermost_first() {
        let inner = std::io::Error::other("connection refused");
        let outer = anyhow::Error::new(inner).context("cannot reserve stock");
        assert_eq!(
            chain(outer.as_ref()),
            "cannot reserve stock: connection refused"
        );
    }
}
