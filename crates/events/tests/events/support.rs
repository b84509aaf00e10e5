//! What every test here starts from: a migrated database, a JetStream
//! context, a namespace with its streams; and ways to look into the stream.

use std::{collections::HashSet, time::Duration};

use async_nats::jetstream;
use sqlx::PgPool;
use syncchain_events::{Envelope, Namespace, outbox, payloads::users::UserRegisteredV1, streams};
use syncchain_platform::telemetry;
use uuid::Uuid;

pub const WAIT: Duration = Duration::from_secs(30);

pub struct Setup {
    pub pool: PgPool,
    /// The URL of the test database.
    pub url: String,
    pub jetstream: jetstream::Context,
    pub namespace: Namespace,
}

/// A fresh database with the events tables, and streams in a fresh
/// namespace on the NATS at `nats_url`.
pub async fn setup_on(nats_url: &str) -> Setup {
    // Logs only on request (`SYNCCHAIN_LOG=syncchain_events=debug`): they
    // bypass the test harness's output capture.
    if let Ok(filter) = std::env::var("SYNCCHAIN_LOG") {
        let logging = telemetry::LogConfig {
            format: telemetry::LogFormat::Pretty,
            filter,
        };
        let _ = telemetry::init(&logging, None);
    }
    let (pool, url) = syncchain_testkit::db::fresh_database().await;
    syncchain_events::migrate(&pool).await.unwrap();
    let jetstream = syncchain_testkit::jetstream(nats_url).await;
    let namespace = Namespace::new(syncchain_testkit::namespace()).unwrap();
    streams::ensure_streams(&jetstream, &namespace, 1)
        .await
        .unwrap();
    Setup {
        pool,
        url,
        jetstream,
        namespace,
    }
}

pub async fn setup() -> Setup {
    setup_on(&syncchain_testkit::nats_url()).await
}

impl Setup {
    /// Deletes the namespace's streams from the shared server.
    pub async fn cleanup(self) {
        for (name, _) in streams::STREAMS {
            let _ = self
                .jetstream
                .delete_stream(self.namespace.stream(name))
                .await;
        }
        self.pool.close().await;
    }

    /// Commits `count` registrations to the outbox, `per_transaction` at a time.
    pub async fn enqueue(&self, count: usize, per_transaction: usize) -> Vec<Envelope> {
        let mut envelopes = Vec::with_capacity(count);
        for chunk in (0..count).collect::<Vec<_>>().chunks(per_transaction) {
            let mut tx = self.pool.begin().await.unwrap();
            for _ in chunk {
                let envelope = registered("USER");
                outbox::enqueue(&mut tx, &envelope).await.unwrap();
                envelopes.push(envelope);
            }
            tx.commit().await.unwrap();
        }
        envelopes
    }

    pub async fn pending(&self) -> i64 {
        outbox::pending(&self.pool).await.unwrap()
    }

    /// How many messages the users stream holds; 0 while NATS is away.
    pub async fn stored(&self) -> u64 {
        let Ok(mut stream) = self
            .jetstream
            .get_stream(self.namespace.stream(streams::USERS))
            .await
        else {
            return 0;
        };
        stream.info().await.map_or(0, |info| info.state.messages)
    }

    /// Every message of the users stream as (Nats-Msg-Id, envelope).
    pub async fn stored_envelopes(&self) -> Vec<(String, Envelope)> {
        let stream = self
            .jetstream
            .get_stream(self.namespace.stream(streams::USERS))
            .await
            .unwrap();
        let state = stream.get_info().await.unwrap().state;
        let mut stored = Vec::new();
        for sequence in state.first_sequence..=state.last_sequence {
            let message = stream.get_raw_message(sequence).await.unwrap();
            assert_eq!(
                message.subject.as_str(),
                self.namespace.subject("users.registered")
            );
            let id = message
                .headers
                .get(async_nats::header::NATS_MESSAGE_ID)
                .map(|v| v.as_str().to_owned())
                .unwrap_or_default();
            stored.push((id, Envelope::from_json(&message.payload).unwrap()));
        }
        stored
    }

    /// Asserts the stream holds exactly `expected`, once each, as enqueued.
    pub async fn assert_stored_once(&self, expected: &[Envelope]) {
        let stored = self.stored_envelopes().await;
        assert_eq!(stored.len(), expected.len(), "messages in the stream");
        let ids: HashSet<Uuid> = stored.iter().map(|(_, e)| e.id).collect();
        assert_eq!(ids.len(), expected.len(), "distinct events in the stream");
        for (msg_id, envelope) in &stored {
            assert_eq!(
                msg_id,
                &envelope.id.to_string(),
                "Nats-Msg-Id is the event id"
            );
        }
        for envelope in expected {
            let (_, found) = stored
                .iter()
                .find(|(_, e)| e.id == envelope.id)
                .unwrap_or_else(|| panic!("event {} is not in the stream", envelope.id));
            assert_eq!(found, envelope);
        }
    }
}

/// A registration event with `role`.
pub fn registered(role: &str) -> Envelope {
    Envelope::new(&UserRegisteredV1 {
        user_id: Uuid::now_v7(),
        role: role.to_owned(),
    })
    .unwrap()
}
