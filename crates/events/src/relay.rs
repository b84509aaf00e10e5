//! The relay moves committed events from the outbox to JetStream.
//!
//! A pass claims a batch of rows with `FOR UPDATE SKIP LOCKED` inside a
//! transaction, so several relays (one per service instance) share the work
//! without publishing the same row twice at the same time. Every message
//! carries `Nats-Msg-Id` = event id, so when a row is published but its
//! deletion is lost (crash, abort, rollback) the next publication within the
//! stream's duplicate window is dropped by JetStream: the event is stored
//! exactly once. A row is deleted only after JetStream acknowledged it.
//!
//! A batch is sent in full before the acknowledgements are awaited, which
//! keeps the round trips of a batch overlapping.
//!
//! `run` wakes on the `NOTIFY` sent by `enqueue` and polls as a fallback;
//! while NATS or Postgres is away it backs off (100 ms doubling to 5 s) and
//! logs once per failure streak, not once per retry.
//!
//! A publication JetStream answers with "no stream" (no responders: the
//! streams are gone, as after a wiped store) makes the relay create the
//! namespace's streams again before its next try, so the outbox drains
//! without a restart. Each pass reports to [`JetStreamHealth`], so
//! `/readyz` is not ready while publishing fails.
//!
//! It counts what it published and the passes that failed, and times each
//! event from its publication to JetStream's acknowledgement
//! ([`RelayMetrics`]); how many rows wait and the age of the oldest are
//! sampled from the table by the service host.

use std::time::{Duration, Instant};

use async_nats::jetstream::{
    self,
    context::{Publish, PublishError, PublishErrorKind},
    publish::PublishAck,
};
use futures::future::join_all;
use sqlx::{PgPool, postgres::PgListener};
use syncchain_platform::{
    failure::chain,
    metrics::{self, Counter, Histogram, Metrics},
    shutdown::Shutdown,
    trace,
};
use uuid::Uuid;

use crate::{JetStreamHealth, Namespace, outbox, retry::Backoff, streams};

/// The relay's name in [`JetStreamHealth`].
const HEALTH_TASK: &str = "relay";

/// Why a pass of the relay stopped; the rows it did not publish stay in the
/// outbox and are retried.
#[derive(Debug, thiserror::Error)]
pub enum RelayError {
    #[error("outbox database error")]
    Database(#[from] sqlx::Error),
    #[error("JetStream did not acknowledge event {event_id} on {subject}")]
    Publish {
        event_id: Uuid,
        subject: String,
        #[source]
        source: PublishError,
    },
}

impl RelayError {
    /// JetStream has no stream for the subject: the streams are gone.
    fn is_missing_stream(&self) -> bool {
        matches!(self, Self::Publish { source, .. } if source.kind() == PublishErrorKind::StreamNotFound)
    }
}

/// What one relay measures, labelled with its service.
#[derive(Clone, Debug)]
pub struct RelayMetrics {
    published: Counter,
    failed_passes: Counter,
    publish_duration: Histogram,
}

/// Series in a registry of their own, which nothing renders.
impl Default for RelayMetrics {
    fn default() -> Self {
        Self::new(&Metrics::new(), "")
    }
}

impl RelayMetrics {
    /// The relay's series in `metrics`, labelled `service`.
    pub fn new(metrics: &Metrics, service: &'static str) -> Self {
        let labels = [("service", service)];
        Self {
            published: metrics
                .counters(
                    "outbox_published",
                    "Events the outbox relay published and JetStream acknowledged.",
                )
                .get_or_create_owned(&labels),
            failed_passes: metrics
                .counters(
                    "outbox_publish_failures",
                    "Relay passes that stopped because JetStream did not acknowledge an event.",
                )
                .get_or_create_owned(&labels),
            publish_duration: metrics
                .seconds(
                    "outbox_publish_duration",
                    "Time from publishing an outbox event to JetStream's acknowledgement.",
                )
                .get_or_create_owned(&labels),
        }
    }
}

/// Publishes the outbox of one database. Cheap to clone.
#[derive(Clone)]
pub struct Relay {
    pool: PgPool,
    jetstream: jetstream::Context,
    namespace: Namespace,
    stream_replicas: usize,
    batch_size: i64,
    poll_interval: Duration,
    health: JetStreamHealth,
    metrics: RelayMetrics,
}

/// A claimed outbox row.
#[derive(sqlx::FromRow)]
struct Row {
    seq: i64,
    event_id: Uuid,
    event_type: String,
    envelope: String,
    traceparent: Option<String>,
}

impl Relay {
    pub fn new(pool: PgPool, jetstream: jetstream::Context, namespace: Namespace) -> Self {
        Self {
            pool,
            jetstream,
            namespace,
            stream_replicas: 1,
            batch_size: 100,
            poll_interval: Duration::from_secs(1),
            health: JetStreamHealth::new(),
            metrics: RelayMetrics::default(),
        }
    }

    /// Records what it publishes in `metrics` (by default in series nobody
    /// reads).
    #[must_use]
    pub fn with_metrics(mut self, metrics: RelayMetrics) -> Self {
        self.metrics = metrics;
        self
    }

    /// Reports each pass to `health` (by default to a state nobody reads).
    #[must_use]
    pub fn with_health(mut self, health: JetStreamHealth) -> Self {
        self.health = health;
        self
    }

    /// How many servers keep each stream it creates again when JetStream
    /// has lost them (default 1): the same `SYNCCHAIN_STREAM_REPLICAS` the
    /// streams were first made with, so a re-creation does not leave a
    /// cluster with single copies.
    #[must_use]
    pub fn with_stream_replicas(mut self, replicas: usize) -> Self {
        self.stream_replicas = replicas.max(1);
        self
    }

    /// How many rows one pass claims (default 100).
    pub fn with_batch_size(mut self, batch_size: u16) -> Self {
        self.batch_size = i64::from(batch_size.max(1));
        self
    }

    /// How often `run` looks at the outbox without a notification (default 1 s).
    pub fn with_poll_interval(mut self, poll_interval: Duration) -> Self {
        self.poll_interval = poll_interval;
        self
    }

    /// Publishes batches until the outbox has no unclaimed row left; returns
    /// how many events this call published. Stops at the first failure.
    /// A batch shorter than the batch size found every unclaimed row, so no
    /// further pass is made for it: rows committed since then have notified.
    pub async fn publish_pending(&self) -> Result<usize, RelayError> {
        let mut total = 0;
        loop {
            let claimed = self.publish_batch().await?;
            total += claimed.published;
            if claimed.rows < self.batch_size_rows() {
                return Ok(total);
            }
        }
    }

    fn batch_size_rows(&self) -> usize {
        usize::try_from(self.batch_size).unwrap_or(usize::MAX)
    }

    /// Publishes until `shutdown`; never returns early, whatever fails.
    /// Keeps one connection of the pool for `LISTEN`, so size the pool for it.
    pub async fn run(self, shutdown: Shutdown) {
        let mut listener = self.listen().await;
        let mut backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(5));
        let mut failures: u32 = 0;
        tracing::info!(namespace = %self.namespace, "outbox relay started");
        loop {
            // Dropping a pass half-way is safe: its transaction rolls back and
            // whatever it had published is deduplicated when published again.
            let result = tokio::select! {
                biased;
                () = shutdown.cancelled() => break,
                result = self.publish_pending() => result,
            };
            match result {
                Ok(published) => {
                    self.health.report(HEALTH_TASK, true);
                    if failures > 0 {
                        tracing::info!(failures, published, "outbox relay recovered");
                        failures = 0;
                        backoff.reset();
                    }
                    if listener.is_none() {
                        listener = self.listen().await;
                    }
                    tokio::select! {
                        () = shutdown.cancelled() => break,
                        () = wait_for_notification(&mut listener, self.poll_interval) => {}
                    }
                }
                Err(error) => {
                    if matches!(error, RelayError::Publish { .. }) {
                        self.health.report(HEALTH_TASK, false);
                        self.metrics.failed_passes.inc();
                    }
                    failures += 1;
                    if failures == 1 {
                        tracing::warn!(error = %chain(&error), "outbox relay cannot publish, retrying with backoff");
                    } else {
                        tracing::debug!(error = %chain(&error), failures, "outbox relay retry failed");
                    }
                    if error.is_missing_stream() {
                        tokio::select! {
                            () = shutdown.cancelled() => break,
                            () = self.recreate_streams() => {}
                        }
                    }
                    tokio::select! {
                        () = shutdown.cancelled() => break,
                        () = tokio::time::sleep(backoff.next_delay()) => {}
                    }
                }
            }
        }
        tracing::info!(namespace = %self.namespace, "outbox relay stopped");
    }

    /// Creates the namespace's streams again after JetStream said they are
    /// gone; a failure is retried on the next failing pass.
    async fn recreate_streams(&self) {
        match streams::ensure_streams(&self.jetstream, &self.namespace, self.stream_replicas).await
        {
            Ok(()) => {
                tracing::warn!(namespace = %self.namespace, "JetStream streams were missing; created them again");
            }
            Err(error) => {
                tracing::debug!(error = %chain(&error), "cannot create the missing JetStream streams, will retry");
            }
        }
    }

    /// A listener for `enqueue`'s notifications, or `None` (then `run` polls).
    async fn listen(&self) -> Option<PgListener> {
        let attempt = async {
            let mut listener = PgListener::connect_with(&self.pool).await?;
            listener.listen(outbox::CHANNEL).await?;
            Ok::<_, sqlx::Error>(listener)
        };
        match attempt.await {
            Ok(listener) => Some(listener),
            Err(error) => {
                tracing::debug!(error = %chain(&error), "outbox relay cannot listen, polling instead");
                None
            }
        }
    }

    /// One claimed batch: publish all, await all acks, delete the acknowledged
    /// rows, commit. Returns how many rows it claimed and published.
    #[tracing::instrument(level = "debug", skip_all, fields(namespace = %self.namespace))]
    async fn publish_batch(&self) -> Result<Claimed, RelayError> {
        let mut tx = self.pool.begin().await?;
        let rows: Vec<Row> = sqlx::query_as(
            "SELECT seq, event_id, event_type, envelope::text AS envelope,
                    envelope->>'traceparent' AS traceparent
             FROM outbox ORDER BY seq LIMIT $1 FOR UPDATE SKIP LOCKED",
        )
        .bind(self.batch_size)
        .fetch_all(&mut *tx)
        .await?;
        if rows.is_empty() {
            tx.rollback().await?;
            return Ok(Claimed::default());
        }

        let mut sent = Vec::with_capacity(rows.len());
        let mut failure = None;
        for row in &rows {
            let subject = self.namespace.subject(&row.event_type);
            // A span per event in the trace of the operation that made it,
            // open until JetStream acknowledges; the consumer continues it.
            let span = tracing::info_span!("outbox_publish", event.id = %row.event_id, event.r#type = %row.event_type);
            trace::continue_from(&span, row.traceparent.as_deref());
            let mut publish = Publish::build()
                .payload(row.envelope.clone().into_bytes().into())
                .message_id(row.event_id.to_string());
            if let Some(traceparent) =
                trace::traceparent_of(&span).or_else(|| row.traceparent.clone())
            {
                publish = publish.header(trace::TRACEPARENT, traceparent.as_str());
            }
            let started = Instant::now();
            match self.jetstream.send_publish(subject.clone(), publish).await {
                Ok(ack) => sent.push((row, subject, started, span, ack)),
                Err(source) => {
                    failure = Some(RelayError::Publish {
                        event_id: row.event_id,
                        subject,
                        source,
                    });
                    break;
                }
            }
        }

        let acks = join_all(sent.into_iter().map(
            |(row, subject, started, span, ack)| async move {
                let ack = ack.await;
                drop(span);
                (row, subject, started.elapsed(), ack)
            },
        ))
        .await;
        let mut published = Vec::with_capacity(acks.len());
        for (row, subject, took, ack) in acks {
            match ack {
                Ok(PublishAck { duplicate, .. }) => {
                    self.metrics
                        .publish_duration
                        .observe(metrics::seconds(took));
                    if duplicate {
                        tracing::debug!(event.id = %row.event_id, "event was already in the stream");
                    }
                    published.push(row.seq);
                }
                Err(source) => {
                    failure.get_or_insert(RelayError::Publish {
                        event_id: row.event_id,
                        subject,
                        source,
                    });
                }
            }
        }

        // Even after a failure, forget what JetStream did store: republishing
        // it after the duplicate window would store it twice.
        if !published.is_empty() {
            sqlx::query("DELETE FROM outbox WHERE seq = ANY($1)")
                .bind(&published)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        self.metrics.published.inc_by(published.len() as u64);
        match failure {
            Some(error) => Err(error),
            None => Ok(Claimed {
                rows: rows.len(),
                published: published.len(),
            }),
        }
    }
}

/// What one pass of the relay claimed and published.
#[derive(Debug, Default, Clone, Copy)]
struct Claimed {
    rows: usize,
    published: usize,
}

/// Waits for an outbox notification, at most `poll_interval`.
async fn wait_for_notification(listener: &mut Option<PgListener>, poll_interval: Duration) {
    let Some(active) = listener else {
        tokio::time::sleep(poll_interval).await;
        return;
    };
    tokio::select! {
        received = active.try_recv() => match received {
            // Several commits may have notified: one pass serves them all.
            Ok(Some(_)) => while active.next_buffered().is_some() {},
            // The connection was lost; `try_recv` reconnects on its next call.
            Ok(None) => {}
            Err(error) => {
                tracing::debug!(error = %chain(&error), "outbox relay stopped listening, polling instead");
                *listener = None;
            }
        },
        () = tokio::time::sleep(poll_interval) => {}
    }
}
