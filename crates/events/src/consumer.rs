//! The idempotent durable consumer.
//!
//! Every instance of a service binds the same durable pull consumer, so
//! JetStream spreads the messages over them and remembers progress while
//! all are down. Each message is applied in one transaction that first
//! records `(consumer, event id)` in `processed_events`: a redelivery (lost
//! ack, another instance, a duplicate publication) finds the record and is
//! acknowledged without running the handler again. The ack is sent after
//! the commit, so a crash in between means a redelivery, never a loss.
//!
//! A message that cannot be applied is parked in `dead_letters` with its
//! reason and acknowledged: at once when it is undecodable or the handler
//! says so, after `max_deliver` deliveries when the handler keeps failing.
//! The budget is enforced here rather than by the server, which would drop
//! the message silently. It counts handler failures, not the database
//! being away: while the database cannot be reached (`BEGIN` fails, or the
//! handler loses its connection) the message is held (its ack deadline
//! extended) and retried without counting, since a saga message parked for
//! an outage would strand its order, and parking needs the database too.
//! A message delivered more often than the budget is handled once more
//! rather than parked on sight, because crashes raise that count as well
//! (see `message`).
//!
//! Each consumer also deletes its processed-event records once JetStream
//! can no longer redeliver their events ([`processed`](crate::processed)),
//! at start and every hour.
//!
//! A consumer whose stream is gone (a wiped NATS store) creates the
//! namespace's streams again when it binds, and its durable consumer with
//! them, so it carries on without a restart. Each pull reports to
//! [`JetStreamHealth`], so `/readyz` is not ready while it cannot bind.
//!
//! Each consumer counts its messages by outcome (applied, skipped, duplicate,
//! retried, parked), its redeliveries and how long each message took, and
//! reads JetStream's pending and unacknowledged counts at most every few
//! seconds ([`ConsumerMetrics`]).
//!
//! The messages of a batch are applied several at once
//! ([`ConsumerConfig::concurrency`]), each in its own transaction: the
//! rate of one consumer is then not one commit's latency after another.
//!
//! Nothing a message does stops the loop: errors, even panics of a handler,
//! end in a retry or a dead letter. On shutdown the consumer stops pulling,
//! finishes the messages in hand and hands the rest of its batch back.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use async_nats::jetstream::{
    self, AckKind, ErrorCode,
    consumer::{AckPolicy, DeliverPolicy, PullConsumer, pull},
    context::{ConsumerInfoError, ConsumerInfoErrorKind, GetStreamError, GetStreamErrorKind},
};
use futures::{FutureExt, StreamExt, stream::FuturesUnordered};
use sqlx::PgPool;
use syncchain_platform::{
    failure::chain,
    metrics::{Counter, Gauge, Histogram, Metrics},
    shutdown::{self, Shutdown},
};

pub use crate::handler::{Handler, HandlerError, after_commit};
use crate::{JetStreamHealth, Namespace, processed, retry::Backoff, streams};

mod message;

/// How often a consumer deletes its expired processed-event records.
const CLEAN_UP_EVERY: Duration = Duration::from_secs(60 * 60);

/// How often at most a consumer asks JetStream for its pending counts.
const READ_PENDING_EVERY: Duration = Duration::from_secs(5);

/// What one consumer measures, labelled with its name.
#[derive(Clone, Debug)]
pub struct ConsumerMetrics {
    applied: Counter,
    skipped: Counter,
    duplicates: Counter,
    retried: Counter,
    parked: Counter,
    redelivered: Counter,
    handle_duration: Histogram,
    pending: Gauge,
    ack_pending: Gauge,
}

/// Series in a registry of their own, which nothing renders.
impl Default for ConsumerMetrics {
    fn default() -> Self {
        Self::new(&Metrics::new(), "")
    }
}

impl ConsumerMetrics {
    /// The series of consumer `name` in `metrics`.
    pub fn new(metrics: &Metrics, name: &str) -> Self {
        let messages = metrics.counters::<[(&'static str, String); 2]>(
            "consumer_messages",
            "Messages a consumer finished with, by outcome: applied, skipped (a type its handler does not want), duplicate (already applied), retried (handed back after a failure), parked.",
        );
        let outcome = |outcome: &str| {
            messages.get_or_create_owned(&[
                ("consumer", name.to_owned()),
                ("outcome", outcome.to_owned()),
            ])
        };
        let labels = [("consumer", name.to_owned())];
        Self {
            applied: outcome("applied"),
            skipped: outcome("skipped"),
            duplicates: outcome("duplicate"),
            retried: outcome("retried"),
            parked: outcome("parked"),
            redelivered: metrics
                .counters("consumer_redeliveries", "Messages a consumer received again after an earlier delivery.")
                .get_or_create_owned(&labels),
            handle_duration: metrics
                .seconds("consumer_handle_duration", "Time from receiving a message to settling it with JetStream.")
                .get_or_create_owned(&labels),
            pending: metrics
                .gauges("consumer_pending", "Messages in the stream the consumer has not yet received, as JetStream last said.")
                .get_or_create_owned(&labels),
            ack_pending: metrics
                .gauges("consumer_ack_pending", "Messages the consumer received and has not yet acknowledged, as JetStream last said.")
                .get_or_create_owned(&labels),
        }
    }
}

/// How one consumer binds and retries.
#[derive(Debug, Clone)]
pub struct ConsumerConfig {
    /// The durable name, shared by all instances; also the key of its
    /// processed-event records and dead letters. `[A-Za-z0-9_-]`.
    pub name: String,
    /// The stream, without the namespace: `streams::ORDERS`.
    pub stream: String,
    /// Subjects to receive, without the namespace (`orders.placed`,
    /// `stock.>`); empty for the whole stream. More than one needs
    /// nats-server 2.10.
    pub subjects: Vec<String>,
    /// How long a delivery may stay unacknowledged before it is redelivered.
    pub ack_wait: Duration,
    /// Deliveries before a message the handler keeps failing on is parked.
    pub max_deliver: i64,
    /// The wait before the second delivery after a transient failure;
    /// doubles with each delivery, up to a minute.
    pub retry_delay: Duration,
    /// Messages pulled at once.
    pub batch: usize,
    /// The handler's effect may be applied twice without harm (deleting a
    /// cached copy): no processed-event record is kept, so its transaction
    /// writes nothing of the consumer's and a redelivery applies it again.
    pub idempotent: bool,
    /// Messages applied at once, each in its own transaction (so each
    /// holds a connection of the pool while it runs). Their order is not
    /// kept: handlers are correct whatever the order, as they must be with
    /// several instances sharing the durable consumer.
    pub concurrency: usize,
    /// How long one pull waits for messages.
    pub fetch_wait: Duration,
}

impl ConsumerConfig {
    /// Defaults: ack wait 30 s, 5 deliveries, retries after 1 s, 2 s, 4 s...,
    /// batches of 64 applied 8 at a time, pulls of 5 s.
    pub fn new(name: impl Into<String>, stream: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            stream: stream.into(),
            subjects: Vec::new(),
            ack_wait: Duration::from_secs(30),
            max_deliver: 5,
            retry_delay: Duration::from_secs(1),
            batch: 64,
            concurrency: 8,
            idempotent: false,
            fetch_wait: Duration::from_secs(5),
        }
    }

    /// Receives only `subject` (after the namespace) too.
    pub fn subject(mut self, subject: impl Into<String>) -> Self {
        self.subjects.push(subject.into());
        self
    }
}

/// A consumer name JetStream would refuse, or that could be confused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("consumer name {0:?} must be 1 to 64 characters of letters, digits, '_' or '-'")]
pub struct InvalidConsumerName(pub String);

/// Why binding to the durable consumer failed.
#[derive(Debug, thiserror::Error)]
enum BindError {
    #[error("cannot find stream {stream}")]
    Stream {
        stream: String,
        #[source]
        source: jetstream::context::GetStreamError,
    },
    #[error("stream {stream} is missing and cannot be created again")]
    Recreate {
        stream: String,
        #[source]
        source: streams::StreamError,
    },
    #[error("cannot create consumer {consumer} on stream {stream}")]
    Consumer {
        consumer: String,
        stream: String,
        #[source]
        source: jetstream::stream::ConsumerError,
    },
}

/// Why a pull did not deliver its batch; the consumer binds again and
/// retries with backoff.
#[derive(Debug, thiserror::Error)]
enum PullError {
    #[error(transparent)]
    Bind(#[from] BindError),
    #[error("cannot request a batch")]
    Request(#[source] pull::BatchError),
    #[error("the batch ended with an error")]
    Batch(#[source] async_nats::Error),
    #[error("the durable consumer is gone")]
    Gone(#[source] ConsumerInfoError),
}

/// Applies the events of one durable consumer with one handler.
pub struct Consumer {
    pool: PgPool,
    jetstream: jetstream::Context,
    namespace: Namespace,
    stream_replicas: usize,
    config: ConsumerConfig,
    handler: Arc<dyn Handler>,
    health: JetStreamHealth,
    metrics: ConsumerMetrics,
}

impl Consumer {
    pub fn new(
        pool: PgPool,
        jetstream: jetstream::Context,
        namespace: Namespace,
        config: ConsumerConfig,
        handler: impl Handler + 'static,
    ) -> Result<Self, InvalidConsumerName> {
        let name = &config.name;
        let valid = !name.is_empty()
            && name.len() <= 64
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        if !valid {
            return Err(InvalidConsumerName(name.clone()));
        }
        Ok(Self {
            pool,
            jetstream,
            namespace,
            stream_replicas: 1,
            config,
            handler: Arc::new(handler),
            health: JetStreamHealth::new(),
            metrics: ConsumerMetrics::default(),
        })
    }

    /// Records its messages in `metrics` under its name (by default in
    /// series nobody reads).
    #[must_use]
    pub fn with_metrics(mut self, metrics: &Metrics) -> Self {
        self.metrics = ConsumerMetrics::new(metrics, &self.config.name);
        self
    }

    /// Reports each pull to `health` (by default to a state nobody reads).
    #[must_use]
    pub fn with_health(mut self, health: JetStreamHealth) -> Self {
        self.health = health;
        self
    }

    /// How many servers keep its stream when it has to create it again
    /// (default 1); see [`crate::relay::Relay::with_stream_replicas`].
    #[must_use]
    pub fn with_stream_replicas(mut self, replicas: usize) -> Self {
        self.stream_replicas = replicas.max(1);
        self
    }

    /// Consumes until `shutdown`; never returns early, whatever fails.
    pub async fn run(self, shutdown: Shutdown) {
        tokio::join!(self.consume(&shutdown), self.clean_up(&shutdown));
    }

    /// Deletes expired processed-event records now and every
    /// [`CLEAN_UP_EVERY`] until `shutdown`; a failure waits for the next round.
    async fn clean_up(&self, shutdown: &Shutdown) {
        let name = self.config.name.as_str();
        shutdown::every(CLEAN_UP_EVERY, shutdown, || async {
            match processed::clean_up(&self.pool, name, processed::RETENTION).await {
                Ok(0) => {}
                Ok(deleted) => {
                    tracing::info!(consumer = name, deleted, "expired processed events deleted");
                }
                Err(error) => {
                    tracing::warn!(consumer = name, error = %chain(&error), "cannot delete expired processed events, will retry");
                }
            }
        })
        .await;
    }

    /// Pulls and processes messages until `shutdown`.
    async fn consume(&self, shutdown: &Shutdown) {
        let name = self.config.name.as_str();
        let mut backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(5));
        let mut failures: u32 = 0;
        let mut bound: Option<PullConsumer> = None;
        let mut pending_read: Option<Instant> = None;
        tracing::info!(consumer = name, stream = %self.config.stream, "consumer started");
        while !shutdown.is_cancelled() {
            let pulled = tokio::select! {
                biased;
                () = shutdown.cancelled() => break,
                pulled = self.pull(&mut bound) => pulled,
            };
            let outcome = match pulled {
                Ok(batch) => match self.drain(batch, shutdown).await {
                    // JetStream does not answer a pull asked of a durable
                    // that no longer exists (deleted, or its stream wiped
                    // between two pulls): the batch just ends empty. So an
                    // empty batch asks whether the durable is still there.
                    Ok(0) if !shutdown.is_cancelled() => {
                        pending_read = None;
                        Ok(())
                    }
                    Ok(_) => Ok(()),
                    Err(error) => Err(error),
                },
                Err(error) => Err(error),
            };
            let outcome = match (outcome, bound.as_mut()) {
                (Ok(()), Some(consumer))
                    if pending_read.is_none_or(|read| read.elapsed() >= READ_PENDING_EVERY) =>
                {
                    pending_read = Some(Instant::now());
                    self.read_pending(consumer).await
                }
                (outcome, _) => outcome,
            };
            self.health.report(name, outcome.is_ok());
            match outcome {
                Ok(()) if failures > 0 => {
                    tracing::info!(consumer = name, failures, "consumer recovered");
                    failures = 0;
                    backoff.reset();
                }
                Ok(()) => {}
                Err(error) => {
                    // Bind again: the consumer may have been deleted or the
                    // server replaced.
                    bound = None;
                    failures += 1;
                    if failures == 1 {
                        tracing::warn!(consumer = name, error = %chain(&error), "consumer cannot pull, retrying with backoff");
                    } else {
                        tracing::debug!(consumer = name, error = %chain(&error), failures, "consumer pull retry failed");
                    }
                    tokio::select! {
                        () = shutdown.cancelled() => break,
                        () = tokio::time::sleep(backoff.next_delay()) => {}
                    }
                }
            }
        }
        tracing::info!(consumer = name, "consumer stopped");
    }

    /// Processes one pulled batch until it ends or `shutdown`, up to
    /// `concurrency` messages at once, each in its own transaction; how many
    /// messages it brought, or `Err` when the server ended it with an error
    /// status. Returns once every message started has been settled.
    async fn drain(&self, mut batch: pull::Batch, shutdown: &Shutdown) -> Result<usize, PullError> {
        let limit = self.config.concurrency.max(1);
        let mut in_flight = FuturesUnordered::new();
        let mut taking = true;
        let mut ended = Ok(());
        let mut brought = 0;
        while taking || !in_flight.is_empty() {
            tokio::select! {
                biased;
                () = shutdown.cancelled(), if taking => {
                    // Hand back what was pulled but not started, so another
                    // instance takes it now rather than after ack_wait; what
                    // is in hand finishes.
                    taking = false;
                    while let Some(Some(Ok(message))) = batch.next().now_or_never() {
                        message::settle(&message, AckKind::Nak(None)).await;
                    }
                }
                Some(()) = in_flight.next(), if !in_flight.is_empty() => {}
                next = batch.next(), if taking && in_flight.len() < limit => match next {
                    Some(Ok(message)) => {
                        brought += 1;
                        in_flight.push(self.process(message, shutdown));
                    }
                    Some(Err(error)) => {
                        taking = false;
                        ended = Err(PullError::Batch(error));
                    }
                    None => taking = false,
                },
            }
        }
        ended.map(|()| brought)
    }

    /// Sets the pending gauges from JetStream's view of the consumer; `Err`
    /// when JetStream no longer has the durable or its stream. Other
    /// failures (a slow or absent server) are left to the next pull.
    async fn read_pending(&self, consumer: &mut PullConsumer) -> Result<(), PullError> {
        match consumer.info().await {
            Ok(info) => {
                self.metrics
                    .pending
                    .set(i64::try_from(info.num_pending).unwrap_or(i64::MAX));
                self.metrics
                    .ack_pending
                    .set(i64::try_from(info.num_ack_pending).unwrap_or(i64::MAX));
                Ok(())
            }
            Err(error)
                if matches!(
                    error.kind(),
                    ConsumerInfoErrorKind::NotFound | ConsumerInfoErrorKind::StreamNotFound
                ) =>
            {
                Err(PullError::Gone(error))
            }
            Err(error) => {
                tracing::debug!(consumer = %self.config.name, error = %error, "cannot read the consumer's pending counts");
                Ok(())
            }
        }
    }

    /// Requests the next batch, binding the durable consumer first if needed.
    async fn pull(&self, bound: &mut Option<PullConsumer>) -> Result<pull::Batch, PullError> {
        let consumer = match bound {
            Some(consumer) => consumer,
            None => bound.insert(self.bind().await?),
        };
        consumer
            .batch()
            .max_messages(self.config.batch.max(1))
            .expires(self.config.fetch_wait)
            .messages()
            .await
            .map_err(PullError::Request)
    }

    /// Creates the durable consumer, or updates it to this configuration.
    async fn bind(&self) -> Result<PullConsumer, BindError> {
        let stream_name = self.namespace.stream(&self.config.stream);
        let stream = match self.jetstream.get_stream(&stream_name).await {
            Err(error) if is_missing(&error) => {
                streams::ensure_streams(&self.jetstream, &self.namespace, self.stream_replicas)
                    .await
                    .map_err(|source| BindError::Recreate {
                        stream: stream_name.clone(),
                        source,
                    })?;
                tracing::warn!(consumer = %self.config.name, stream = %stream_name, "JetStream stream was missing; created it again");
                self.jetstream.get_stream(&stream_name).await
            }
            found => found,
        }
        .map_err(|source| BindError::Stream {
            stream: stream_name.clone(),
            source,
        })?;
        let mut subjects: Vec<String> = self
            .config
            .subjects
            .iter()
            .map(|s| self.namespace.subject(s))
            .collect();
        let mut config = pull::Config {
            durable_name: Some(self.config.name.clone()),
            deliver_policy: DeliverPolicy::All,
            ack_policy: AckPolicy::Explicit,
            ack_wait: self.config.ack_wait,
            ..pull::Config::default()
        };
        // A single filter is the only form nats-server 2.9 understands.
        if subjects.len() == 1 {
            config.filter_subject = subjects.remove(0);
        } else {
            config.filter_subjects = subjects;
        }
        stream
            .create_consumer(config)
            .await
            .map_err(|source| BindError::Consumer {
                consumer: self.config.name.clone(),
                stream: stream_name,
                source,
            })
    }
}

/// JetStream answered that the stream does not exist.
fn is_missing(error: &GetStreamError) -> bool {
    matches!(error.kind(), GetStreamErrorKind::JetStream(e) if e.error_code() == ErrorCode::STREAM_NOT_FOUND)
}
