//! Helpers for syncchain's integration tests, which talk to real Postgres,
//! NATS and Redis. Every test gets its own database and its own event
//! namespace, so tests run in parallel against the shared servers; tests
//! that stop a dependency start a private server process instead. What a
//! test process made on the shared servers is removed when it ends. Nothing
//! here sleeps for a fixed time: waiting is polling with a deadline.
//!
//! Helpers panic with a message that says what to fix: in a test, a panic
//! is the failure report.

use std::{future::Future, time::Duration};

pub mod db;
pub mod ledger;
pub mod nats_server;
pub mod predecessor;
pub mod process;
pub mod proxy;
pub mod redis_server;
pub mod server;
pub mod service;

/// The variable naming the NATS server tests use (default the local one).
pub const NATS_URL_VAR: &str = "SYNCCHAIN_TEST_NATS_URL";
/// The variable naming the Redis server tests use (default the local one).
pub const REDIS_URL_VAR: &str = "SYNCCHAIN_TEST_REDIS_URL";

/// A fresh event namespace (`t` and 12 hex digits), so a test's subjects
/// and streams are its own (tests use it as their Redis prefix too). Its
/// streams on the test NATS and its keys on the test Redis are deleted when
/// the test process ends ([`ledger`]).
pub fn namespace() -> String {
    let id = uuid::Uuid::new_v4().simple().to_string();
    let namespace = format!("t{}", &id[..12]);
    ledger::record(&ledger::Entry::Namespace {
        nats: nats_url(),
        redis: redis_url(),
        namespace: namespace.clone(),
    });
    namespace
}

/// The shared NATS server: `SYNCCHAIN_TEST_NATS_URL` or `nats://127.0.0.1:4222`.
pub fn nats_url() -> String {
    env_or(NATS_URL_VAR, "nats://127.0.0.1:4222")
}

/// The shared Redis server: `SYNCCHAIN_TEST_REDIS_URL` or `redis://127.0.0.1:6379`.
pub fn redis_url() -> String {
    env_or(REDIS_URL_VAR, "redis://127.0.0.1:6379")
}

fn env_or(var: &str, default: &str) -> String {
    std::env::var(var)
        .ok()
        .filter(|v| !v.trim().is_empty())
        .unwrap_or_else(|| default.to_owned())
}

/// A JetStream context on `url` whose client reconnects forever, so a test
/// can restart the server under it. Panics when no connection comes up.
pub async fn jetstream(url: &str) -> async_nats::jetstream::Context {
    let client = async_nats::ConnectOptions::new()
        .retry_on_initial_connect()
        .max_reconnects(None)
        .connect(url)
        .await
        .unwrap_or_else(|e| panic!("cannot connect to NATS at {url}: {e}"));
    let connected = eventually(Duration::from_secs(10), || async {
        client.connection_state() == async_nats::connection::State::Connected
    })
    .await;
    assert!(connected, "no connection to NATS at {url} within 10 s");
    async_nats::jetstream::new(client)
}

/// Waits until durable consumer `consumer` of stream `stream` has settled
/// every message published so far: JetStream has nothing left to deliver
/// to it and nothing delivered waits for an acknowledgement, which the
/// consumer sends after its transaction commits (or once the message is
/// parked). `false` when that did not happen within `timeout`.
#[must_use = "assert on the result: false means the consumer never caught up"]
pub async fn consumer_settled(
    jetstream: &async_nats::jetstream::Context,
    stream: &str,
    consumer: &str,
    timeout: Duration,
) -> bool {
    let Ok(stream) = jetstream.get_stream(stream).await else {
        return false;
    };
    eventually(timeout, || async {
        let Ok(mut durable) = stream
            .get_consumer::<async_nats::jetstream::consumer::pull::Config>(consumer)
            .await
        else {
            return false;
        };
        durable
            .info()
            .await
            .is_ok_and(|info| info.num_pending == 0 && info.num_ack_pending == 0)
    })
    .await
}

/// Polls `check` every 20 ms until it returns true (then `true`) or
/// `timeout` has passed (then `false`).
#[must_use = "assert on the result: false means the condition never held"]
pub async fn eventually<F, Fut>(timeout: Duration, check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    poll(timeout, check, |held| *held).await
}

/// Reads a value every 20 ms until `done` holds for it or `timeout` has
/// passed; returns the last value read, for the caller to assert on.
pub async fn poll<T, F, Fut>(timeout: Duration, mut read: F, done: impl Fn(&T) -> bool) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = T>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let value = read().await;
        if done(&value) || tokio::time::Instant::now() >= deadline {
            return value;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
