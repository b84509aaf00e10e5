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
//!
//! What a handler measures (an order settled, a reservation refused) is
//! true only once the transaction commits: it hands the measurement to
//! [`after_commit`], which the consumer runs after the commit and drops
//! with a rollback, so a retried message is counted once.

use std::sync::{Arc, Mutex};

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
    /// Whether events of `event_type` mean anything to this handler. Those
    /// that do not are acknowledged without a transaction: there is nothing
    /// to apply and so nothing to record. By default every event does.
    fn wants(&self, event_type: &str) -> bool {
        let _ = event_type;
        true
    }

    /// Applies `envelope` using `tx`; the consumer commits on `Ok`.
    async fn handle(
        &self,
        tx: &mut Transaction<'_, Postgres>,
        envelope: &Envelope,
    ) -> Result<(), HandlerError>;
}

/// What a handler asked to run after its transaction commits.
pub(crate) type Effects = Arc<Mutex<Vec<Box<dyn FnOnce() + Send>>>>;

tokio::task_local! {
    static AFTER_COMMIT: Effects;
}

/// Runs `effect` once the consumer's transaction that the calling handler
/// runs in has committed; never if it rolls back. Called anywhere else
/// (a request's own transaction, after its commit) it runs `effect` now.
pub fn after_commit(effect: impl FnOnce() + Send + 'static) {
    let mut effect: Option<Box<dyn FnOnce() + Send>> = Some(Box::new(effect));
    let _ = AFTER_COMMIT.try_with(|effects| {
        if let Ok(mut effects) = effects.lock()
            && let Some(effect) = effect.take()
        {
            effects.push(effect);
        }
    });
    if let Some(effect) = effect {
        effect();
    }
}

/// Runs `handling` with [`after_commit`] collecting into `effects`.
pub(crate) async fn collecting<F: std::future::Future>(effects: Effects, handling: F) -> F::Output {
    AFTER_COMMIT.scope(effects, handling).await
}

/// Runs what was collected, in order.
pub(crate) fn run_effects(effects: &Effects) {
    let collected = effects
        .lock()
        .map(|mut effects| std::mem::take(&mut *effects))
        .unwrap_or_default();
    for effect in collected {
        effect();
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

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

    #[tokio::test]
    async fn effects_wait_for_the_commit_and_outside_a_handler_run_at_once() {
        let count = Arc::new(AtomicUsize::new(0));
        let effects = Effects::default();
        let counted = count.clone();
        collecting(effects.clone(), async move {
            after_commit(move || {
                counted.fetch_add(1, Ordering::SeqCst);
            });
        })
        .await;
        assert_eq!(count.load(Ordering::SeqCst), 0, "ran before the commit");
        run_effects(&effects);
        assert_eq!(count.load(Ordering::SeqCst), 1);
        run_effects(&effects);
        assert_eq!(count.load(Ordering::SeqCst), 1, "ran twice");

        let counted = count.clone();
        after_commit(move || {
            counted.fetch_add(1, Ordering::SeqCst);
        });
        assert_eq!(count.load(Ordering::SeqCst), 2);
    }
}
