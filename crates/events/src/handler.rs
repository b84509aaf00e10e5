//! What a service plugs into a [`Consumer`](crate::consumer::Consumer): one
//! function that applies an event inside the consumer's transaction. The
//! transaction also records the event as processed, so the effect and the
//! record commit together or not at all; the handler never commits itself.
//!
//! The error says what to do next: `Permanent` (this event can never be
//! applied: park it now) or `Transient` (try again later; parked once the
//! delivery budget is spent).
//!
//! One kind of failure is not the event's fault and must never use up its
//! budget: the database being unreachable (a failover, a restart, a crash
//! loop). A saga message parked for that would leave its order pending for
//! good. So the consumer looks through the cause chain of a `Transient`
//! error, however the handler wrapped it, and a connection-level
//! [`sqlx::Error`] ([`is_database_away`](syncchain_platform::failure::is_database_away)) holds the message and retries it
//! like a failed `BEGIN` does, uncounted, until the database answers.

use sqlx::{Postgres, Transaction};

use crate::{DecodeError, Envelope};

/// Why a handler did not apply an event.
#[derive(Debug, thiserror::Error)]
pub enum HandlerError {
    /// Retrying cannot help (an unknown type, a payload that breaks a rule).
    #[error("{0}")]
    Permanent(String),
    /// Retrying may help (a deadlock, a dependency away).
    #[error(transparent)]
    Transient(anyhow::Error),
}

impl HandlerError {
    pub fn permanent(reason: impl Into<String>) -> Self {
        Self::Permanent(reason.into())
    }

    pub fn transient(error: impl Into<anyhow::Error>) -> Self {
        Self::Transient(error.into())
    }

    /// The first database error in the cause chain, if any.
    pub(crate) fn database_error(&self) -> Option<&sqlx::Error> {
        match self {
            Self::Permanent(_) => None,
            Self::Transient(error) => error
                .chain()
                .find_map(|cause| cause.downcast_ref::<sqlx::Error>()),
        }
    }

    /// The reason recorded when the message is parked: the whole cause chain.
    pub fn reason(&self) -> String {
        match self {
            Self::Permanent(reason) => reason.clone(),
            Self::Transient(error) => format!("{error:#}"),
        }
    }
}

/// Database errors are worth retrying: a constraint that fails every time
/// ends up parked after the delivery budget anyway, and a lost connection
/// is recognised by the consumer and retried without counting.
impl From<sqlx::Error> for HandlerError {
    fn from(error: sqlx::Error) -> Self {
        Self::Transient(error.into())
    }
}

/// A payload that is not the expected type or version never will be.
impl From<DecodeError> for HandlerError {
    fn from(error: DecodeError) -> Self {
        Self::Permanent(syncchain_platform::failure::chain(&error))
    }
}

/// Applies events of one consumer.
#[async_trait::async_trait]
pub trait Handler: Send + Sync {
    /// Applies `envelope` using `tx`; the consumer commits on `Ok`.
    async fn handle(
        &self,
        tx: &mut Transaction<'_, Postgres>,
        envelope: &Envelope,
    ) -> Result<(), HandlerError>;
}

#[cfg(test)]
mod tests {
    use syncchain_platform::failure::is_database_away;

    use super::*;

    #[test]
    fn a_transient_reason_keeps_the_cause_chain() {
        let error = anyhow::anyhow!("connection refused").context("cannot reserve stock");
        let reason = HandlerError::transient(error).reason();
        assert_eq!(reason, "cannot reserve stock: connection refused");
    }

    #[test]
    fn a_lost_connection_is_found_however_the_handler_wrapped_it() {
        let reset = std::io::Error::from(std::io::ErrorKind::ConnectionReset);
        let wrapped = anyhow::Error::new(sqlx::Error::Io(reset)).context("cannot reserve stock");
        let error = HandlerError::transient(wrapped);
        assert!(error.database_error().is_some_and(is_database_away));
        assert!(
            HandlerError::from(sqlx::Error::PoolTimedOut)
                .database_error()
                .is_some_and(is_database_away)
        );
    }

    #[test]
    fn a_statement_the_database_refuses_is_not_a_connection_error() {
        assert!(!is_database_away(&sqlx::Error::RowNotFound));
        assert!(!is_database_away(&sqlx::Error::Protocol(
            "unexpected".into()
        )));
        let other = HandlerError::transient(anyhow::anyhow!("the flaky dependency is away"));
        assert!(other.database_error().is_none());
        assert!(HandlerError::permanent("no").database_error().is_none());
    }

    #[test]
    fn a_payload_of_another_type_is_a_permanent_failure() {
        let error = DecodeError::WrongType {
            expected: "a.b",
            found: "c.d".into(),
        };
        assert!(
            matches!(HandlerError::from(error), HandlerError::Permanent(r) if r.contains("c.d"))
        );
    }
}
