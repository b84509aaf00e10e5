//! Following one stream in every instance: a [`Feed`] reads a stream's
//! events in order with an ephemeral ordered consumer of its own (each
//! instance needs every event, so this is not the shared durable
//! [`Consumer`](crate::consumer::Consumer)) and hands them to a
//! [`Follower`], which keeps some in-memory state up to date: the session
//! replica ([`crate::sessions`]), the gateway's product reads.
//!
//! It starts at the stream's first message or after its last one
//! ([`Start`]); after a failure it resubscribes from the message after the
//! last it handed over, so nothing is skipped. A stream created again (a
//! wiped NATS store) numbers its messages from 1 again, and an ordered
//! consumer would resume at the old stream's next sequence and skip them:
//! the feed checks the stream's creation time every [`STREAM_CHECK_EVERY`]
//! and on each subscription, and follows a new stream from its [`Start`]
//! again, telling the follower ([`Follower::started`]).

use std::time::Duration;

use async_nats::jetstream::{
    self,
    consumer::{DeliverPolicy, pull::OrderedConfig},
};
use futures::StreamExt;
use syncchain_platform::{failure::chain, shutdown::Shutdown};

use crate::{Envelope, Namespace, retry::Backoff};

/// How often a feed asks whether the stream it follows is still the one it
/// subscribed to.
pub const STREAM_CHECK_EVERY: Duration = Duration::from_secs(5);

/// Where a feed begins on a stream it has not followed before.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Start {
    /// Every message the stream keeps, then what comes.
    First,
    /// Only what is published after the subscription.
    AfterLast,
}

/// What a [`Feed`] tells the state it keeps. Called from the feed's task,
/// one call at a time, in stream order.
pub trait Follower: Send + Sync + 'static {
    /// A stream not followed before is about to be read from its
    /// [`Start`]: on the first subscription, and when the stream was
    /// created again.
    fn started(&self) {}
    /// The next event of the stream.
    fn apply(&self, envelope: &Envelope);
    /// Everything the stream held when this subscription began has been
    /// applied (at once when there was nothing to read).
    fn caught_up(&self);
    /// The subscription failed; the feed resubscribes after a pause, and
    /// until [`caught_up`](Self::caught_up) is called again what has been
    /// applied may be behind the stream.
    fn interrupted(&self) {}
}

/// Keeps a [`Follower`] up to date from one stream; run it in the
/// background.
pub struct Feed<F> {
    follower: F,
    jetstream: jetstream::Context,
    namespace: Namespace,
    /// The stream's base name (`streams::USERS`).
    stream: &'static str,
    /// The subjects read, without the namespace (`users.>`); empty for
    /// the whole stream.
    subjects: &'static str,
    start: Start,
}

/// Following the stream failed; the feed resubscribes.
#[derive(Debug, thiserror::Error)]
#[error("cannot follow the {stream} stream: {step}")]
pub struct FeedError {
    stream: &'static str,
    step: &'static str,
    #[source]
    source: Box<dyn std::error::Error + Send + Sync>,
}

/// Where the feed is: the stream it follows (by creation time) and the
/// next sequence of that stream to apply.
struct Position {
    stream_created: Option<i128>,
    next: u64,
}

impl<F: Follower> Feed<F> {
    /// A feed of `namespace`'s `stream`, reading `subjects` (empty: all of
    /// it), that begins at `start`.
    pub fn new(
        follower: F,
        jetstream: jetstream::Context,
        namespace: Namespace,
        stream: &'static str,
        subjects: &'static str,
        start: Start,
    ) -> Self {
        Self {
            follower,
            jetstream,
            namespace,
            stream,
            subjects,
            start,
        }
    }

    /// Follows the stream until `stop` fires, resubscribing after failures.
    pub async fn run(self, stop: Shutdown) {
        let mut backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(5));
        let mut at = Position {
            stream_created: None,
            next: 1,
        };
        loop {
            let followed = tokio::select! {
                () = stop.cancelled() => return,
                followed = self.follow(&mut at, &mut backoff) => followed,
            };
            if let Err(error) = followed {
                self.follower.interrupted();
                tracing::warn!(error = %chain(&error), "event feed interrupted; resubscribing");
            }
            tokio::select! {
                () = stop.cancelled() => return,
                () = tokio::time::sleep(backoff.next_delay()) => {}
            }
        }
    }

    fn error<E: std::error::Error + Send + Sync + 'static>(
        &self,
        step: &'static str,
    ) -> impl FnOnce(E) -> FeedError {
        let stream = self.stream;
        move |e| FeedError {
            stream,
            step,
            source: Box::new(e),
        }
    }

    async fn follow(&self, at: &mut Position, backoff: &mut Backoff) -> Result<(), FeedError> {
        let mut stream = self
            .jetstream
            .get_stream(self.namespace.stream(self.stream))
            .await
            .map_err(self.error("get the stream"))?;
        let info = stream.info().await.map_err(self.error("read the stream"))?;
        let created = info.created.unix_timestamp_nanos();
        let state = info.state.clone();
        if at.stream_created != Some(created) {
            if at.stream_created.is_some() {
                // What was applied stays applied; the new stream's events
                // are all unseen.
                tracing::warn!(
                    stream = self.stream,
                    "the stream was created again; following it from its start"
                );
            }
            at.next = match self.start {
                Start::First => 1,
                Start::AfterLast => state.last_sequence + 1,
            };
            at.stream_created = Some(created);
            self.follower.started();
        }
        // Everything up to here is applied before the follower is caught up.
        let target = state.last_sequence;
        if state.messages == 0 || target < at.next {
            self.follower.caught_up();
        }
        let deliver_policy = if at.next <= 1 {
            DeliverPolicy::All
        } else {
            DeliverPolicy::ByStartSequence {
                start_sequence: at.next,
            }
        };
        let consumer = stream
            .create_consumer(OrderedConfig {
                filter_subject: if self.subjects.is_empty() {
                    String::new()
                } else {
                    self.namespace.subject(self.subjects)
                },
                deliver_policy,
                ..OrderedConfig::default()
            })
            .await
            .map_err(self.error("create the consumer"))?;
        let mut messages = consumer.messages().await.map_err(self.error("subscribe"))?;
        let mut check = tokio::time::interval_at(
            tokio::time::Instant::now() + STREAM_CHECK_EVERY,
            STREAM_CHECK_EVERY,
        );
        loop {
            let message = tokio::select! {
                message = messages.next() => message,
                _ = check.tick() => {
                    // The ordered consumer would follow a stream created
                    // again from the old stream's next sequence.
                    let info = stream.info().await.map_err(self.error("read the stream"))?;
                    if info.created.unix_timestamp_nanos() != created {
                        return Err(FeedError {
                            stream: self.stream,
                            step: "follow the stream",
                            source: "the stream was created again".into(),
                        });
                    }
                    continue;
                }
            };
            let Some(message) = message else { break };
            let message = message.map_err(self.error("receive"))?;
            let (sequence, pending) = match message.info() {
                Ok(info) => (info.stream_sequence, info.pending),
                Err(error) => {
                    return Err(FeedError {
                        stream: self.stream,
                        step: "read the message's sequence",
                        source: error,
                    });
                }
            };
            match Envelope::from_json(&message.payload) {
                Ok(envelope) => self.follower.apply(&envelope),
                Err(error) => tracing::error!(
                    error = %chain(&error),
                    stream = self.stream,
                    sequence,
                    "unreadable event"
                ),
            }
            at.next = sequence + 1;
            backoff.reset();
            if sequence >= target || pending == 0 {
                self.follower.caught_up();
            }
        }
        Err(FeedError {
            stream: self.stream,
            step: "receive",
            source: "the message stream ended".into(),
        })
    }
}
