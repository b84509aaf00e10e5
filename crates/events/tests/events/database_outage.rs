//! The database going away is never the event's fault: a handler that
//! loses its connection, as often as a crash-looping or failing-over
//! Postgres makes it, has its message held and retried, never parked, and
//! applied once when the database is back.

use std::{
    str::FromStr,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use sqlx::{
    PgPool, Postgres, Transaction,
    postgres::{PgConnectOptions, PgPoolOptions},
};
use syncchain_events::{
    Envelope, async_trait,
    consumer::{Handler, HandlerError},
};
use syncchain_testkit::{eventually, proxy::TcpProxy};

use crate::{
    consumer::{
        MAX_DELIVER, applied, parked, processed, publish_envelope, start_with, wait_applied,
    },
    support::{Setup, WAIT, registered, setup},
};

/// More outages than the delivery budget would survive if they counted.
const OUTAGES: usize = MAX_DELIVER as usize + 2;

/// How the database goes away under the handler.
enum Outage {
    /// The network to Postgres is cut (the consumer's pool goes through
    /// the proxy), so reconnecting fails too until the test restores it.
    Cut(Arc<TcpProxy>),
    /// The server terminates the handler's session (SQLSTATE 57P01, as in a
    /// restart or failover); reconnecting works at once.
    Terminate,
}

/// Loses the database on its first [`OUTAGES`] attempts, then records the
/// event like the consumer tests' handler.
struct LosesTheDatabase {
    outage: Outage,
    attempts: Arc<AtomicUsize>,
}

#[async_trait]
impl Handler for LosesTheDatabase {
    async fn handle(
        &self,
        tx: &mut Transaction<'_, Postgres>,
        envelope: &Envelope,
    ) -> Result<(), HandlerError> {
        // Only this handler counts, one call at a time: load, act, then
        // publish the count, so the test sees an attempt after its outage.
        let attempt = self.attempts.load(Ordering::SeqCst);
        if attempt < OUTAGES {
            match &self.outage {
                Outage::Cut(proxy) => proxy.cut(),
                Outage::Terminate => {
                    let _ = sqlx::query("SELECT pg_terminate_backend(pg_backend_pid())")
                        .execute(&mut **tx)
                        .await;
                }
            }
        }
        self.attempts.store(attempt + 1, Ordering::SeqCst);
        sqlx::query("INSERT INTO applied (event_id, role) VALUES ($1, 'USER')")
            .bind(envelope.id)
            .execute(&mut **tx)
            .await?;
        Ok(())
    }
}

/// A pool on the test database through `proxy`, quick to give up while it
/// is cut.
async fn pool_through(setup: &Setup, proxy: &TcpProxy) -> PgPool {
    let options = PgConnectOptions::from_str(&setup.url)
        .unwrap()
        .host("127.0.0.1")
        .port(proxy.port());
    PgPoolOptions::new()
        .max_connections(3)
        .acquire_timeout(Duration::from_millis(500))
        .connect_with(options)
        .await
        .unwrap()
}

/// The Postgres server the test database is on.
async fn postgres_address(setup: &Setup) -> std::net::SocketAddr {
    let options = PgConnectOptions::from_str(&setup.url).unwrap();
    let target = format!("{}:{}", options.get_host(), options.get_port());
    tokio::net::lookup_host(target)
        .await
        .unwrap()
        .next()
        .unwrap()
}

async fn assert_applied_once_and_never_parked(setup: &Setup, event_id: uuid::Uuid) {
    wait_applied(setup, event_id).await;
    assert_eq!(applied(&setup.pool, event_id).await, 1);
    assert_eq!(processed(&setup.pool, event_id).await, 1);
    assert!(
        parked(&setup.pool).await.is_empty(),
        "the message was parked"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_handler_cut_off_from_its_database_more_often_than_max_deliver_is_held_and_applied_once_it_is_back()
 {
    let setup = setup().await;
    let proxy = Arc::new(TcpProxy::start(postgres_address(&setup).await).await);
    let pool = pool_through(&setup, &proxy).await;
    let attempts = Arc::new(AtomicUsize::new(0));
    let handler = LosesTheDatabase {
        outage: Outage::Cut(proxy.clone()),
        attempts: attempts.clone(),
    };
    let consumer = start_with(&setup, pool, handler).await;
    let event = registered("USER");

    publish_envelope(&setup, &event).await;
    // Each outage: the handler's connection dies mid-transaction, then the
    // consumer retries against the cut proxy until the test restores it.
    for outage in 1..=OUTAGES {
        let reached =
            eventually(WAIT, || async { attempts.load(Ordering::SeqCst) >= outage }).await;
        assert!(reached, "outage {outage} was not reached");
        assert!(
            parked(&setup.pool).await.is_empty(),
            "parked during outage {outage}"
        );
        proxy.restore();
    }

    assert_applied_once_and_never_parked(&setup, event.id).await;
    assert_eq!(attempts.load(Ordering::SeqCst), OUTAGES + 1);
    consumer.stop().await;
    setup.cleanup().await;
}

#[tokio::test]
async fn a_handler_whose_session_the_server_terminates_more_often_than_max_deliver_is_held_and_applied()
 {
    let setup = setup().await;
    let attempts = Arc::new(AtomicUsize::new(0));
    let handler = LosesTheDatabase {
        outage: Outage::Terminate,
        attempts: attempts.clone(),
    };
    let consumer = start_with(&setup, setup.pool.clone(), handler).await;
    let event = registered("USER");

    publish_envelope(&setup, &event).await;

    assert_applied_once_and_never_parked(&setup, event.id).await;
    assert_eq!(attempts.load(Ordering::SeqCst), OUTAGES + 1);
    consumer.stop().await;
    setup.cleanup().await;
}
