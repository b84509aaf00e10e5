//! Every committed event reaches the stream exactly once: normally, when a
//! relay dies half-way and another takes over, when two relays race, and
//! when NATS restarts under a running relay.

use std::time::Duration;

use syncchain_events::{outbox, relay::Relay};
use syncchain_platform::shutdown::Shutdown;
use syncchain_testkit::{eventually, nats_server::NatsServer};

use crate::support::{Setup, WAIT, registered, setup, setup_on};

fn relay(setup: &Setup, batch_size: u16) -> Relay {
    Relay::new(
        setup.pool.clone(),
        setup.jetstream.clone(),
        setup.namespace.clone(),
    )
    .with_batch_size(batch_size)
}

async fn drained(setup: &Setup, expected: u64) -> bool {
    eventually(WAIT, || async {
        setup.pending().await == 0 && setup.stored().await == expected
    })
    .await
}

#[tokio::test]
async fn every_committed_event_is_published_exactly_once() {
    let setup = setup().await;
    let envelopes = setup.enqueue(200, 10).await;
    let mut rolled_back = setup.pool.begin().await.unwrap();
    outbox::enqueue(&mut rolled_back, &registered("USER"))
        .await
        .unwrap();
    rolled_back.rollback().await.unwrap();

    let published = relay(&setup, 50).publish_pending().await.unwrap();

    assert_eq!(published, 200);
    assert_eq!(setup.pending().await, 0);
    setup.assert_stored_once(&envelopes).await;
    assert_eq!(relay(&setup, 50).publish_pending().await.unwrap(), 0);
    setup.cleanup().await;
}

#[tokio::test]
async fn an_event_published_again_after_its_row_survived_is_stored_once() {
    // The window a crash leaves open: JetStream acknowledged, the row's
    // deletion never committed, so the event is published a second time.
    let setup = setup().await;
    let envelopes = setup.enqueue(3, 3).await;
    relay(&setup, 10).publish_pending().await.unwrap();
    let mut tx = setup.pool.begin().await.unwrap();
    outbox::enqueue(&mut tx, &envelopes[1]).await.unwrap();
    tx.commit().await.unwrap();

    assert_eq!(relay(&setup, 10).publish_pending().await.unwrap(), 1);

    assert_eq!(setup.pending().await, 0);
    setup.assert_stored_once(&envelopes).await;
    setup.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_relay_aborted_mid_way_and_replaced_publishes_each_event_once() {
    let setup = setup().await;
    let envelopes = setup.enqueue(300, 20).await;
    // Hold the newest rows so the first relay cannot finish before it dies.
    let mut holder = setup.pool.begin().await.unwrap();
    sqlx::query("SELECT seq FROM outbox ORDER BY seq DESC LIMIT 100 FOR UPDATE")
        .execute(&mut *holder)
        .await
        .unwrap();
    let first = tokio::spawn(relay(&setup, 5).run(Shutdown::new()));
    assert!(eventually(WAIT, || async { setup.stored().await >= 20 }).await);

    first.abort();
    assert!(first.await.unwrap_err().is_cancelled());
    assert!(setup.pending().await >= 100);
    holder.rollback().await.unwrap();
    let shutdown = Shutdown::new();
    let second = tokio::spawn(relay(&setup, 5).run(shutdown.clone()));

    assert!(
        drained(&setup, 300).await,
        "the second relay did not finish"
    );
    setup.assert_stored_once(&envelopes).await;
    shutdown.cancel();
    tokio::time::timeout(WAIT, second).await.unwrap().unwrap();
    setup.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_relays_running_at_once_publish_each_event_once() {
    let setup = setup().await;
    let envelopes = setup.enqueue(300, 30).await;
    let (a, b) = (relay(&setup, 10), relay(&setup, 10));

    let (from_a, from_b) = tokio::join!(
        tokio::spawn(async move { a.publish_pending().await.unwrap() }),
        tokio::spawn(async move { b.publish_pending().await.unwrap() }),
    );

    // SKIP LOCKED: no row was claimed by both.
    assert_eq!(from_a.unwrap() + from_b.unwrap(), 300);
    assert_eq!(setup.pending().await, 0);
    setup.assert_stored_once(&envelopes).await;
    setup.cleanup().await;
}

#[tokio::test]
async fn a_running_relay_publishes_a_commit_at_once_without_polling() {
    let setup = setup().await;
    let shutdown = Shutdown::new();
    let running = tokio::spawn(
        relay(&setup, 10)
            .with_poll_interval(Duration::from_secs(3600))
            .run(shutdown.clone()),
    );
    // The first event may be found by the relay's first pass; once it is
    // published the relay waits, and only a notification can wake it.
    let mut envelopes = setup.enqueue(1, 1).await;
    assert!(drained(&setup, 1).await);

    envelopes.extend(setup.enqueue(1, 1).await);

    assert!(
        drained(&setup, 2).await,
        "the notification did not wake the relay"
    );
    setup.assert_stored_once(&envelopes).await;
    shutdown.cancel();
    tokio::time::timeout(WAIT, running).await.unwrap().unwrap();
    setup.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_relay_keeps_going_while_nats_restarts_and_publishes_each_event_once() {
    let mut nats = NatsServer::start().await;
    let mut setup = setup_on(&nats.url()).await;
    setup.jetstream.set_timeout(Duration::from_secs(1));
    let mut envelopes = setup.enqueue(100, 10).await;
    let shutdown = Shutdown::new();
    let running = tokio::spawn(relay(&setup, 5).run(shutdown.clone()));
    assert!(eventually(WAIT, || async { setup.stored().await >= 10 }).await);

    nats.stop().await;
    envelopes.extend(setup.enqueue(50, 10).await);
    assert!(
        relay(&setup, 5).publish_pending().await.is_err(),
        "publishing without NATS must fail"
    );
    assert!(setup.pending().await >= 50);
    nats.start_again().await;

    assert!(drained(&setup, 150).await, "the relay did not recover");
    setup.assert_stored_once(&envelopes).await;
    shutdown.cancel();
    tokio::time::timeout(WAIT, running).await.unwrap().unwrap();
}
