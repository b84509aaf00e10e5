//! One message, start to end: decode, apply in a transaction with its
//! processed-event record, then acknowledge, retry later, or park.
//!
//! The database being away is the one failure that holds the message
//! instead of settling it, whether `BEGIN` failed or the handler lost its
//! connection ([`is_database_away`]): it says nothing about the event,
//! and parking needs the database too. A held message gets progress acks,
//! never a nak, so its delivery count does not move.
//!
//! The delivery count still rises without any handler failure: when a
//! process dies holding messages (a crash loop during a database outage)
//! and while pulled messages wait behind a held one. So a message delivered
//! more than `max_deliver` times is not parked on sight: it is handled once
//! more and parked only if that attempt fails too. A poison message is
//! still parked by its own failures; the cost is that a message which kills
//! the process outright (an abort, not a panic, which is caught) is retried
//! on every redelivery, and says so in the log.
use std::{
    future::Future,
    panic::AssertUnwindSafe,
    time::{Duration, Instant},
};

use async_nats::jetstream::{self, AckKind};
use futures::FutureExt;
use syncchain_platform::{failure::is_database_away, shutdown::Shutdown, trace};
use tracing::Instrument;

use super::{Consumer, HandlerError};
use crate::{
    Envelope,
    dead_letter::{self, Parked},
    handler::{self, Effects},
    retry::Backoff,
};

/// The longest a failed message waits before its next delivery.
const MAX_RETRY_DELAY: Duration = Duration::from_secs(60);

/// The database did not answer: hold the message and try again.
#[derive(Debug, thiserror::Error)]
#[error("{0:#}")]
struct Unavailable(anyhow::Error);

impl From<sqlx::Error> for Unavailable {
    fn from(error: sqlx::Error) -> Self {
        Self(error.into())
    }
}

/// What became of one message's transaction.
enum Applied {
    Done,
    AlreadyDone,
    Failed(HandlerError),
}

impl Consumer {
    /// Applies, skips or parks one message, then settles it with JetStream.
    pub(super) async fn process(&self, message: jetstream::Message, shutdown: &Shutdown) {
        let started = Instant::now();
        self.handle(message, shutdown).await;
        self.metrics
            .handle_duration
            .observe(started.elapsed().as_secs_f64());
    }

    async fn handle(&self, message: jetstream::Message, shutdown: &Shutdown) {
        let delivered = message.info().map_or(1, |info| info.delivered);
        if delivered > 1 {
            self.metrics.redelivered.inc();
        }
        let envelope = match Envelope::from_json(&message.payload) {
            Ok(envelope) => envelope,
            Err(error) => {
                let reason = format!("undecodable envelope: {error}");
                return self
                    .park(&message, None, &reason, delivered, shutdown)
                    .await;
            }
        };
        if !self.handler.wants(&envelope.event_type) {
            self.metrics.skipped.inc();
            settle(&message, AckKind::Ack).await;
            return;
        }
        let span = tracing::info_span!(
            "consume",
            consumer = %self.config.name,
            event.id = %envelope.id,
            event.r#type = %envelope.event_type,
            delivered,
        );
        let traceparent = message
            .headers
            .as_ref()
            .and_then(|headers| headers.get(trace::TRACEPARENT))
            .map(|value| value.as_str().to_owned())
            .or_else(|| envelope.traceparent.clone());
        trace::continue_from(&span, traceparent.as_deref());
        async {
            if delivered > self.config.max_deliver {
                // Crashes and held batches raise the count too: see the
                // module docs. A failure of this attempt parks it.
                tracing::warn!(
                    max_deliver = self.config.max_deliver,
                    "message delivered more often than its budget, handling it once more"
                );
            }
            let Some(applied) = self
                .with_database(&message, shutdown, || self.apply(&envelope))
                .await
            else {
                return;
            };
            match applied {
                Applied::Done => {
                    self.metrics.applied.inc();
                    settle(&message, AckKind::Ack).await;
                }
                Applied::AlreadyDone => {
                    self.metrics.duplicates.inc();
                    tracing::debug!("event already applied, skipped");
                    settle(&message, AckKind::Ack).await;
                }
                Applied::Failed(HandlerError::Permanent(reason)) => {
                    self.park(&message, Some(&envelope), &reason, delivered, shutdown)
                        .await;
                }
                Applied::Failed(error) if delivered >= self.config.max_deliver => {
                    let reason = format!(
                        "delivered {delivered} times, last failure: {}",
                        error.reason()
                    );
                    self.park(&message, Some(&envelope), &reason, delivered, shutdown)
                        .await;
                }
                Applied::Failed(error) => {
                    let delay = self.retry_delay(delivered);
                    self.metrics.retried.inc();
                    tracing::warn!(error = %error.reason(), retry_in_ms = delay.as_millis(), "event handler failed, will retry");
                    settle(&message, AckKind::Nak(Some(delay))).await;
                }
            }
        }
        .instrument(span)
        .await;
    }

    /// One transaction: record the event as processed (unless the consumer
    /// is idempotent), run the handler, commit. `Err` only for the database
    /// itself, also when the handler is the one that found it away.
    async fn apply(&self, envelope: &Envelope) -> Result<Applied, Unavailable> {
        let mut tx = self.pool.begin().await?;
        if !self.config.idempotent {
            let recorded = sqlx::query(
                "INSERT INTO processed_events (consumer, event_id) VALUES ($1, $2)
                 ON CONFLICT DO NOTHING",
            )
            .bind(&self.config.name)
            .bind(envelope.id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if recorded == 0 {
                tx.rollback().await?;
                return Ok(Applied::AlreadyDone);
            }
        }
        let effects = Effects::default();
        let handling = AssertUnwindSafe(self.handler.handle(&mut tx, envelope)).catch_unwind();
        let handled = handler::collecting(effects.clone(), handling)
            .await
            .unwrap_or_else(|panic| {
                let what = panic
                    .downcast_ref::<&str>()
                    .map(|s| (*s).to_owned())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_default();
                Err(HandlerError::Transient(anyhow::anyhow!(
                    "event handler panicked: {what}"
                )))
            });
        match handled {
            Ok(()) => match tx.commit().await {
                Ok(()) => {
                    handler::run_effects(&effects);
                    Ok(Applied::Done)
                }
                // Whether it committed is unknown; the retry finds the
                // processed-event record if it did.
                Err(error) if is_database_away(&error) => Err(error.into()),
                // Refused at commit (a deferred constraint): a failure of
                // this event, not of the database, so it counts towards
                // the delivery budget instead of holding the consumer.
                Err(sqlx::Error::Database(error)) => Ok(Applied::Failed(HandlerError::Transient(
                    anyhow::Error::new(sqlx::Error::Database(error)).context("commit refused"),
                ))),
                Err(error) => Err(error.into()),
            },
            Err(error) => {
                // Dropping the transaction rolls it back too; this just
                // returns the connection sooner.
                let _ = tx.rollback().await;
                if self.lost_database(&error).await {
                    return Err(Unavailable(
                        anyhow::Error::new(error).context("event handler lost the database"),
                    ));
                }
                Ok(Applied::Failed(error))
            }
        }
    }

    /// Whether the handler failed because the database is away rather than
    /// because of the event.
    async fn lost_database(&self, error: &HandlerError) -> bool {
        match error.database_error() {
            Some(error) if is_database_away(error) => true,
            // A broken connection, or a statement the driver cannot send:
            // a fresh connection tells them apart.
            Some(sqlx::Error::Protocol(_)) => {
                sqlx::query("SELECT 1").execute(&self.pool).await.is_err()
            }
            _ => false,
        }
    }

    /// Stores the message in `dead_letters`, then terminates its delivery.
    async fn park(
        &self,
        message: &jetstream::Message,
        envelope: Option<&Envelope>,
        reason: &str,
        delivered: i64,
        shutdown: &Shutdown,
    ) {
        let parked = Parked {
            consumer: &self.config.name,
            subject: message.subject.as_str(),
            event_id: envelope.map(|e| e.id),
            payload: &message.payload,
            reason,
            deliveries: delivered,
        };
        let parked = &parked;
        let stored = self
            .with_database(message, shutdown, move || async move {
                let mut conn = self.pool.acquire().await?;
                dead_letter::park(&mut conn, parked).await?;
                Ok::<(), Unavailable>(())
            })
            .await;
        if stored.is_some() {
            self.metrics.parked.inc();
            tracing::warn!(
                consumer = %self.config.name,
                subject = %message.subject,
                event.id = ?parked.event_id,
                reason,
                deliveries = delivered,
                "message parked"
            );
            settle(message, AckKind::Term).await;
        }
    }

    /// Runs `operation` until the database answers, holding the message
    /// meanwhile; on shutdown hands it back and returns `None`.
    async fn with_database<T, F, Fut>(
        &self,
        message: &jetstream::Message,
        shutdown: &Shutdown,
        mut operation: F,
    ) -> Option<T>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, Unavailable>>,
    {
        let mut backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(5));
        let mut failures: u32 = 0;
        loop {
            match operation().await {
                Ok(value) => {
                    if failures > 0 {
                        tracing::info!(consumer = %self.config.name, failures, "consumer database reachable again");
                    }
                    return Some(value);
                }
                Err(error) => {
                    failures += 1;
                    if failures == 1 {
                        tracing::warn!(consumer = %self.config.name, error = %error, "consumer database error, holding the message and retrying");
                    }
                    settle(message, AckKind::Progress).await;
                    tokio::select! {
                        biased;
                        () = shutdown.cancelled() => {
                            settle(message, AckKind::Nak(None)).await;
                            return None;
                        }
                        () = tokio::time::sleep(backoff.next_delay()) => {}
                    }
                }
            }
        }
    }

    /// `retry_delay` doubled for each delivery so far, at most a minute.
    fn retry_delay(&self, delivered: i64) -> Duration {
        let doublings = u32::try_from(delivered.saturating_sub(1).clamp(0, 16)).unwrap_or(16);
        self.config
            .retry_delay
            .saturating_mul(2u32.saturating_pow(doublings))
            .min(MAX_RETRY_DELAY)
    }
}

/// Sends an acknowledgement. A lost one only means a redelivery, which the
/// processed-event record turns into a no-op.
pub(super) async fn settle(message: &jetstream::Message, kind: AckKind) {
    if let Err(error) = message.ack_with(kind).await {
        tracing::debug!(error = %error, "cannot acknowledge message, it will be redelivered");
    }
}
