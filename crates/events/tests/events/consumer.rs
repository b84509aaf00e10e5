//! The consumer applies each event once, parks what it cannot apply with the
//! reason, and keeps going. The handler records its effect in a table of
//! the test database, in the consumer's transaction; its behaviour is chosen
//! by the role carried in the event.

use std::time::Duration;

use async_nats::HeaderMap;
use bytes::Bytes;
use sqlx::{PgPool, Postgres, Transaction};
use syncchain_events::{
    Envelope, async_trait,
    consumer::{Consumer, ConsumerConfig, Handler, HandlerError},
    dead_letter::{self, DeadLetter},
    payloads::users::UserRegisteredV1,
    relay::Relay,
    streams,
};
use syncchain_platform::shutdown::Shutdown;
use syncchain_testkit::{eventually, nats_server::NatsServer};
use tokio::task::JoinHandle;
use uuid::Uuid;

use crate::support::{Setup, WAIT, registered, setup, setup_on};

pub const NAME: &str = "test-consumer";
pub const MAX_DELIVER: i64 = 3;

/// Records the event, then succeeds or fails as its role says.
pub struct Recorder;

#[async_trait]
impl Handler for Recorder {
    async fn handle(
        &self,
        tx: &mut Transaction<'_, Postgres>,
        envelope: &Envelope,
    ) -> Result<(), HandlerError> {
        let event: UserRegisteredV1 = envelope.decode()?;
        sqlx::query("INSERT INTO applied (event_id, role) VALUES ($1, $2)")
            .bind(envelope.id)
            .bind(&event.role)
            .execute(&mut **tx)
            .await?;
        match event.role.as_str() {
            "transient" => Err(HandlerError::transient(anyhow::anyhow!(
                "the flaky dependency is away"
            ))),
            "permanent" => Err(HandlerError::permanent("this role is not allowed")),
            "panic" => panic!("a bug in the handler"),
            _ => Ok(()),
        }
    }
}

pub struct Running {
    shutdown: Shutdown,
    task: JoinHandle<()>,
}

impl Running {
    /// Stops the consumer and checks that it returns promptly.
    pub async fn stop(self) {
        self.shutdown.cancel();
        tokio::time::timeout(WAIT, self.task)
            .await
            .expect("the consumer did not stop")
            .unwrap();
    }
}

async fn start(setup: &Setup) -> Running {
    start_with(setup, setup.pool.clone(), Recorder).await
}

/// Creates the `applied` table, then runs a consumer with `handler` on
/// `pool` (the test database, maybe through a proxy).
pub async fn start_with(setup: &Setup, pool: PgPool, handler: impl Handler + 'static) -> Running {
    start_configured(setup, pool, handler, config()).await
}

/// The consumer's configuration in these tests: quick retries and pulls.
fn config() -> ConsumerConfig {
    ConsumerConfig {
        max_deliver: MAX_DELIVER,
        retry_delay: Duration::from_millis(50),
        fetch_wait: Duration::from_secs(1),
        ..ConsumerConfig::new(NAME, streams::USERS).subject("users.>")
    }
}

async fn start_configured(
    setup: &Setup,
    pool: PgPool,
    handler: impl Handler + 'static,
    config: ConsumerConfig,
) -> Running {
    sqlx::query("CREATE TABLE applied (event_id uuid NOT NULL, role text NOT NULL)")
        .execute(&setup.pool)
        .await
        .unwrap();
    let consumer = Consumer::new(
        pool,
        setup.jetstream.clone(),
        setup.namespace.clone(),
        config,
        handler,
    )
    .unwrap();
    let shutdown = Shutdown::new();
    let task = tokio::spawn(consumer.run(shutdown.clone()));
    Running { shutdown, task }
}

/// Publishes `payload` with its own `Nats-Msg-Id`, so JetStream keeps it
/// even when the same event was published before.
async fn publish(setup: &Setup, payload: impl Into<Bytes>) {
    let mut headers = HeaderMap::new();
    headers.insert("Nats-Msg-Id", Uuid::new_v4().to_string().as_str());
    setup
        .jetstream
        .publish_with_headers(
            setup.namespace.subject("users.registered"),
            headers,
            payload.into(),
        )
        .await
        .unwrap()
        .await
        .unwrap();
}

pub async fn publish_envelope(setup: &Setup, envelope: &Envelope) {
    publish(setup, envelope.to_json().unwrap()).await;
}

pub async fn applied(pool: &PgPool, event_id: Uuid) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM applied WHERE event_id = $1")
        .bind(event_id)
        .fetch_one(pool)
        .await
        .unwrap()
}

pub async fn processed(pool: &PgPool, event_id: Uuid) -> i64 {
    sqlx::query_scalar(
        "SELECT count(*) FROM processed_events WHERE consumer = $1 AND event_id = $2",
    )
    .bind(NAME)
    .bind(event_id)
    .fetch_one(pool)
    .await
    .unwrap()
}

pub async fn parked(pool: &PgPool) -> Vec<DeadLetter> {
    dead_letter::list(pool, NAME).await.unwrap()
}

pub async fn wait_applied(setup: &Setup, event_id: Uuid) {
    let done = eventually(WAIT, || async { applied(&setup.pool, event_id).await > 0 }).await;
    assert!(done, "event {event_id} was not applied");
}

async fn wait_parked(setup: &Setup, count: usize) -> Vec<DeadLetter> {
    let done = eventually(WAIT, || async { parked(&setup.pool).await.len() >= count }).await;
    assert!(done, "fewer than {count} messages were parked");
    parked(&setup.pool).await
}

#[tokio::test]
async fn a_duplicate_delivery_is_applied_once() {
    let setup = setup().await;
    let consumer = start(&setup).await;
    let twice = registered("USER");
    let after = registered("USER");

    publish_envelope(&setup, &twice).await;
    publish_envelope(&setup, &twice).await;
    publish_envelope(&setup, &after).await;

    wait_applied(&setup, after.id).await;
    assert_eq!(applied(&setup.pool, twice.id).await, 1);
    assert_eq!(processed(&setup.pool, twice.id).await, 1);
    assert!(parked(&setup.pool).await.is_empty());
    consumer.stop().await;
    setup.cleanup().await;
}

#[tokio::test]
async fn a_malformed_message_is_parked_with_its_reason_and_the_next_good_one_is_processed() {
    let setup = setup().await;
    let consumer = start(&setup).await;
    let mut other_version = registered("USER");
    other_version.version = 9;
    let good = registered("USER");

    publish(&setup, &b"not an envelope"[..]).await;
    publish_envelope(&setup, &other_version).await;
    publish_envelope(&setup, &good).await;

    wait_applied(&setup, good.id).await;
    let parked = wait_parked(&setup, 2).await;
    assert_eq!(parked.len(), 2);
    assert_eq!(parked[0].payload, b"not an envelope");
    assert!(
        parked[0].reason.contains("undecodable envelope"),
        "{}",
        parked[0].reason
    );
    assert_eq!(parked[0].event_id, None);
    assert_eq!(parked[0].deliveries, 1);
    assert_eq!(
        parked[0].subject,
        setup.namespace.subject("users.registered")
    );
    assert_eq!(parked[1].event_id, Some(other_version.id));
    assert!(
        parked[1].reason.contains("expected version 1"),
        "{}",
        parked[1].reason
    );
    assert_eq!(applied(&setup.pool, other_version.id).await, 0);
    consumer.stop().await;
    setup.cleanup().await;
}

#[tokio::test]
async fn a_handler_that_keeps_failing_is_parked_after_max_deliver_and_later_messages_flow() {
    let setup = setup().await;
    let consumer = start(&setup).await;
    let failing = registered("transient");
    let good = registered("USER");

    publish_envelope(&setup, &failing).await;
    publish_envelope(&setup, &good).await;

    wait_applied(&setup, good.id).await;
    let parked = wait_parked(&setup, 1).await;
    assert_eq!(parked[0].event_id, Some(failing.id));
    assert_eq!(parked[0].deliveries, MAX_DELIVER);
    assert!(
        parked[0].reason.contains("the flaky dependency is away"),
        "{}",
        parked[0].reason
    );
    assert_eq!(parked[0].payload, failing.to_json().unwrap());
    // Each failed attempt was rolled back with its processed-event record.
    assert_eq!(applied(&setup.pool, failing.id).await, 0);
    assert_eq!(processed(&setup.pool, failing.id).await, 0);
    consumer.stop().await;
    setup.cleanup().await;
}

#[tokio::test]
async fn a_refused_event_is_parked_at_once_and_a_panicking_handler_does_not_stop_the_consumer() {
    let setup = setup().await;
    let consumer = start(&setup).await;
    let refused = registered("permanent");
    let panicking = registered("panic");
    let good = registered("USER");

    publish_envelope(&setup, &refused).await;
    publish_envelope(&setup, &panicking).await;
    publish_envelope(&setup, &good).await;

    wait_applied(&setup, good.id).await;
    let parked = wait_parked(&setup, 2).await;
    let refused_letter = parked
        .iter()
        .find(|l| l.event_id == Some(refused.id))
        .unwrap();
    assert_eq!(refused_letter.deliveries, 1);
    assert_eq!(refused_letter.reason, "this role is not allowed");
    let panic_letter = parked
        .iter()
        .find(|l| l.event_id == Some(panicking.id))
        .unwrap();
    assert_eq!(panic_letter.deliveries, MAX_DELIVER);
    assert!(
        panic_letter.reason.contains("a bug in the handler"),
        "{}",
        panic_letter.reason
    );
    consumer.stop().await;
    setup.cleanup().await;
}

#[tokio::test]
async fn an_event_committed_to_the_outbox_reaches_the_handler_once() {
    let setup = setup().await;
    let consumer = start(&setup).await;
    let envelopes = setup.enqueue(20, 5).await;

    Relay::new(
        setup.pool.clone(),
        setup.jetstream.clone(),
        setup.namespace.clone(),
    )
    .publish_pending()
    .await
    .unwrap();

    for envelope in &envelopes {
        wait_applied(&setup, envelope.id).await;
        assert_eq!(applied(&setup.pool, envelope.id).await, 1);
    }
    consumer.stop().await;
    setup.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_consumer_carries_on_after_nats_restarts() {
    let mut nats = NatsServer::start().await;
    let setup = setup_on(&nats.url()).await;
    let consumer = start(&setup).await;
    let before = registered("USER");
    publish_envelope(&setup, &before).await;
    wait_applied(&setup, before.id).await;

    nats.stop().await;
    nats.start_again().await;
    let after = registered("USER");
    // Publishing fails until the client has reconnected; a retry that did
    // reach the stream only adds a duplicate, which must be applied once.
    let published = eventually(WAIT, || async {
        let publish = setup.jetstream.publish(
            setup.namespace.subject("users.registered"),
            after.to_json().unwrap().into(),
        );
        match publish.await {
            Ok(ack) => ack.await.is_ok(),
            Err(_) => false,
        }
    })
    .await;
    assert!(published, "NATS did not come back");

    wait_applied(&setup, after.id).await;
    assert_eq!(applied(&setup.pool, after.id).await, 1);
    consumer.stop().await;
}

/// Applies an event only once `parties` events are being applied at the
/// same time.
struct Rendezvous(std::sync::Arc<tokio::sync::Barrier>);

#[async_trait]
impl Handler for Rendezvous {
    async fn handle(
        &self,
        tx: &mut Transaction<'_, Postgres>,
        envelope: &Envelope,
    ) -> Result<(), HandlerError> {
        tokio::time::timeout(WAIT, self.0.wait())
            .await
            .map_err(|_| HandlerError::permanent("applied alone"))?;
        sqlx::query("INSERT INTO applied (event_id, role) VALUES ($1, 'USER')")
            .bind(envelope.id)
            .execute(&mut **tx)
            .await?;
        Ok(())
    }
}

#[tokio::test]
async fn the_messages_of_a_batch_are_applied_at_the_same_time() {
    let setup = setup().await;
    let parties = 3;
    let consumer = start_with(
        &setup,
        setup.pool.clone(),
        Rendezvous(std::sync::Arc::new(tokio::sync::Barrier::new(parties))),
    )
    .await;
    let events: Vec<Envelope> = (0..parties).map(|_| registered("USER")).collect();

    for event in &events {
        publish_envelope(&setup, event).await;
    }

    for event in &events {
        wait_applied(&setup, event.id).await;
        assert_eq!(processed(&setup.pool, event.id).await, 1);
    }
    assert!(parked(&setup.pool).await.is_empty());
    consumer.stop().await;
    setup.cleanup().await;
}

/// Wants no event at all.
struct Uninterested;

#[async_trait]
impl Handler for Uninterested {
    fn wants(&self, _event_type: &str) -> bool {
        false
    }

    async fn handle(
        &self,
        _tx: &mut Transaction<'_, Postgres>,
        _envelope: &Envelope,
    ) -> Result<(), HandlerError> {
        Err(HandlerError::permanent("handed an event it does not want"))
    }
}

#[tokio::test]
async fn an_event_the_handler_does_not_want_is_acknowledged_without_a_record() {
    let setup = setup().await;
    let consumer = start_with(&setup, setup.pool.clone(), Uninterested).await;
    let event = registered("USER");

    publish_envelope(&setup, &event).await;

    let stream = setup
        .jetstream
        .get_stream(setup.namespace.stream(streams::USERS))
        .await
        .unwrap();
    let settled = eventually(WAIT, || async {
        let mut durable: async_nats::jetstream::consumer::PullConsumer =
            stream.get_consumer(NAME).await.unwrap();
        let info = durable.info().await.unwrap();
        info.delivered.stream_sequence >= 1 && info.num_ack_pending == 0 && info.num_pending == 0
    })
    .await;
    assert!(settled, "the event was not acknowledged");
    assert_eq!(processed(&setup.pool, event.id).await, 0);
    assert!(parked(&setup.pool).await.is_empty());
    consumer.stop().await;
    setup.cleanup().await;
}

/// Records each event; holds one whose role is `hold` until the test lets
/// it go.
struct Gate {
    entered: std::sync::Arc<tokio::sync::Notify>,
    release: std::sync::Arc<tokio::sync::Semaphore>,
}

#[async_trait]
impl Handler for Gate {
    async fn handle(
        &self,
        tx: &mut Transaction<'_, Postgres>,
        envelope: &Envelope,
    ) -> Result<(), HandlerError> {
        let event: UserRegisteredV1 = envelope.decode()?;
        if event.role == "hold" {
            self.entered.notify_one();
            let permit = tokio::time::timeout(WAIT, self.release.acquire())
                .await
                .map_err(|_| HandlerError::permanent("never released"))?;
            drop(permit);
        }
        sqlx::query("INSERT INTO applied (event_id, role) VALUES ($1, $2)")
            .bind(envelope.id)
            .bind(&event.role)
            .execute(&mut **tx)
            .await?;
        Ok(())
    }
}

/// JetStream does not answer a pull asked of a durable that is gone: a
/// consumer that only pulled again would wait for nothing, forever.
#[tokio::test]
async fn a_durable_deleted_between_two_pulls_is_created_again_and_later_events_flow() {
    let setup = setup().await;
    let entered = std::sync::Arc::new(tokio::sync::Notify::new());
    let release = std::sync::Arc::new(tokio::sync::Semaphore::new(0));
    let gate = Gate {
        entered: entered.clone(),
        release: release.clone(),
    };
    // One message per pull: while it is handled no pull is outstanding,
    // so the server has none to end when the durable goes.
    let consumer = start_configured(
        &setup,
        setup.pool.clone(),
        gate,
        ConsumerConfig {
            batch: 1,
            ..config()
        },
    )
    .await;
    let held = registered("hold");
    publish_envelope(&setup, &held).await;
    tokio::time::timeout(WAIT, entered.notified())
        .await
        .expect("the held event reached the handler");

    setup
        .jetstream
        .get_stream(setup.namespace.stream(streams::USERS))
        .await
        .unwrap()
        .delete_consumer(NAME)
        .await
        .unwrap();
    release.add_permits(1);
    let after = registered("USER");
    publish_envelope(&setup, &after).await;

    wait_applied(&setup, after.id).await;
    assert_eq!(applied(&setup.pool, held.id).await, 1);
    assert_eq!(applied(&setup.pool, after.id).await, 1);
    consumer.stop().await;
    setup.cleanup().await;
}
