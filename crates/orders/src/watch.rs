//! Hearing about order changes as they commit: the one place that knows
//! how a change is announced and heard.
//!
//! Every status change notifies [`CHANNEL`] (payload: the order id) in its
//! own transaction ([`announce`]), so Postgres delivers it exactly at commit, to every
//! instance of the service. Each instance keeps ONE listening connection
//! ([`Changes::run`]) and fans the notifications out in process over a
//! broadcast channel, so a thousand waiting requests cost one connection,
//! not a thousand.
//!
//! A notification only says "look again": waiters re-read the order from
//! the database, and do so once right after subscribing, which closes the
//! race with a change that committed before they listened. Whenever
//! notifications may have been missed (the listening connection was lost
//! and is back, or a waiter fell behind) everyone is woken to re-read.
//! When the service shuts down, every waiter is released at once (so the
//! server can drain), while the listener itself runs until the background
//! work stops, after the last request.

use std::time::Duration;

use sqlx::{PgConnection, PgPool, postgres::PgListener};
use syncchain_platform::{failure::chain, shutdown::Shutdown};
use tokio::{sync::broadcast, time::Instant};
use uuid::Uuid;

use crate::domain::OrderId;

/// The `LISTEN`/`NOTIFY` channel of status changes; the payload is the
/// order id.
const CHANNEL: &str = "orders_changed";

/// Announces that order `id` changed, to every instance's listener, when
/// the transaction `conn` is in commits.
pub(crate) async fn announce(conn: &mut PgConnection, id: OrderId) -> Result<(), sqlx::Error> {
    sqlx::query("SELECT pg_notify($1, $2)")
        .bind(CHANNEL)
        .bind(id.to_string())
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Notifications waiting for slow subscribers before they count as behind.
const CAPACITY: usize = 1024;
const RETRY_MIN: Duration = Duration::from_millis(100);
const RETRY_MAX: Duration = Duration::from_secs(5);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Signal {
    /// This order changed.
    Order(Uuid),
    /// Any order may have changed.
    Everything,
}

/// The fan-out of change notifications. Cheap to clone.
#[derive(Clone)]
pub struct Changes {
    sender: broadcast::Sender<Signal>,
    /// Releases the waiters.
    shutdown: Shutdown,
}

/// Why a wait ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wake {
    /// The order may have changed: read it again.
    Changed,
    /// The deadline passed first.
    TimedOut,
    /// The service is stopping.
    Stopped,
}

/// One waiter's view of the changes of one order.
pub struct Subscription {
    receiver: broadcast::Receiver<Signal>,
    order: Uuid,
    shutdown: Shutdown,
}

impl Changes {
    /// Waiters are released when `shutdown` fires.
    pub fn new(shutdown: Shutdown) -> Self {
        let (sender, _) = broadcast::channel(CAPACITY);
        Self { sender, shutdown }
    }

    /// Starts listening for changes of `order`; read it after this call.
    pub fn subscribe(&self, order: OrderId) -> Subscription {
        Subscription {
            receiver: self.sender.subscribe(),
            order: order.as_uuid(),
            shutdown: self.shutdown.clone(),
        }
    }

    /// Starts hearing about every order's changes (for the gateway's one
    /// change feed).
    pub fn subscribe_all(&self) -> AllChanges {
        AllChanges {
            receiver: self.sender.subscribe(),
            shutdown: self.shutdown.clone(),
            started: false,
        }
    }

    /// Listens on one connection of `pool` and fans notifications out until
    /// `stop` fires; reconnects with backoff whenever the connection is lost.
    pub async fn run(self, pool: PgPool, stop: Shutdown) {
        let mut delay = RETRY_MIN;
        let mut failures: u32 = 0;
        tracing::info!("order change listener started");
        loop {
            let connected = tokio::select! {
                () = stop.cancelled() => break,
                connected = listen(&pool) => connected,
            };
            match connected {
                Ok(mut listener) => {
                    if failures > 0 {
                        tracing::info!(failures, "order change listener connected again");
                    }
                    failures = 0;
                    delay = RETRY_MIN;
                    // Whatever changed while nobody listened.
                    self.broadcast(Signal::Everything);
                    if self.forward(&mut listener, &stop).await {
                        break;
                    }
                }
                Err(error) => {
                    failures += 1;
                    if failures == 1 {
                        tracing::warn!(error = %chain(&error), "order change listener cannot listen, retrying with backoff");
                    }
                    tokio::select! {
                        () = stop.cancelled() => break,
                        () = tokio::time::sleep(delay) => {}
                    }
                    delay = (delay * 2).min(RETRY_MAX);
                }
            }
        }
        tracing::info!("order change listener stopped");
    }

    /// Forwards notifications until the connection is lost (`false`) or
    /// `stop` fires (`true`).
    async fn forward(&self, listener: &mut PgListener, stop: &Shutdown) -> bool {
        loop {
            let received = tokio::select! {
                () = stop.cancelled() => return true,
                received = listener.try_recv() => received,
            };
            match received {
                Ok(Some(notification)) => match Uuid::try_parse(notification.payload()) {
                    Ok(order) => self.broadcast(Signal::Order(order)),
                    Err(_) => tracing::debug!(
                        payload = notification.payload(),
                        "ignored a malformed order change notification"
                    ),
                },
                Ok(None) => {
                    tracing::warn!("order change listener lost its connection, reconnecting");
                    return false;
                }
                Err(error) => {
                    tracing::warn!(error = %chain(&error), "order change listener failed, reconnecting");
                    return false;
                }
            }
        }
    }

    fn broadcast(&self, signal: Signal) {
        // No subscriber is not an error: nobody is waiting.
        let _ = self.sender.send(signal);
    }
}

async fn listen(pool: &PgPool) -> Result<PgListener, sqlx::Error> {
    let mut listener = PgListener::connect_with(pool).await?;
    listener.listen(CHANNEL).await?;
    Ok(listener)
}

impl Subscription {
    /// Waits until the order may have changed, the deadline (if any)
    /// passes, or the service stops.
    pub async fn changed(&mut self, deadline: Option<Instant>) -> Wake {
        loop {
            let received = tokio::select! {
                biased;
                () = self.shutdown.cancelled() => return Wake::Stopped,
                received = recv_until(&mut self.receiver, deadline) => received,
            };
            match received {
                None => return Wake::TimedOut,
                Some(Ok(Signal::Order(order))) if order != self.order => {}
                Some(Ok(_) | Err(broadcast::error::RecvError::Lagged(_))) => {
                    return Wake::Changed;
                }
                Some(Err(broadcast::error::RecvError::Closed)) => return Wake::Stopped,
            }
        }
    }
}

/// Every order's changes, as one stream of signals.
pub struct AllChanges {
    receiver: broadcast::Receiver<Signal>,
    shutdown: Shutdown,
    started: bool,
}

impl AllChanges {
    /// The next signal: `Some(Some(id))` when that order changed,
    /// `Some(None)` when any order may have (always first, and whenever
    /// signals were missed), `None` once the service stops.
    pub async fn next(&mut self) -> Option<Option<Uuid>> {
        if !self.started {
            self.started = true;
            return Some(None);
        }
        let received = tokio::select! {
            biased;
            () = self.shutdown.cancelled() => return None,
            received = self.receiver.recv() => received,
        };
        match received {
            Ok(Signal::Order(order)) => Some(Some(order)),
            Ok(Signal::Everything) | Err(broadcast::error::RecvError::Lagged(_)) => Some(None),
            Err(broadcast::error::RecvError::Closed) => None,
        }
    }
}

/// The next signal, or `None` once `deadline` has passed.
async fn recv_until(
    receiver: &mut broadcast::Receiver<Signal>,
    deadline: Option<Instant>,
) -> Option<Result<Signal, broadcast::error::RecvError>> {
    match deadline {
        Some(deadline) => tokio::time::timeout_at(deadline, receiver.recv())
            .await
            .ok(),
        None => Some(receiver.recv().await),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn soon() -> Option<Instant> {
        Some(Instant::now() + Duration::from_secs(5))
    }

    #[tokio::test]
    async fn a_waiter_wakes_for_its_own_order_and_not_for_others() {
        let changes = Changes::new(Shutdown::new());
        let mine = OrderId::generate();
        let mut subscription = changes.subscribe(mine);

        changes.broadcast(Signal::Order(Uuid::new_v4()));
        changes.broadcast(Signal::Order(mine.as_uuid()));

        assert_eq!(subscription.changed(soon()).await, Wake::Changed);
        let past = Some(Instant::now());
        assert_eq!(subscription.changed(past).await, Wake::TimedOut);
    }

    #[tokio::test]
    async fn everyone_wakes_when_notifications_may_have_been_missed() {
        let changes = Changes::new(Shutdown::new());
        let mut first = changes.subscribe(OrderId::generate());
        let mut second = changes.subscribe(OrderId::generate());

        changes.broadcast(Signal::Everything);

        assert_eq!(first.changed(soon()).await, Wake::Changed);
        assert_eq!(second.changed(soon()).await, Wake::Changed);
    }

    #[tokio::test]
    async fn a_waiter_that_fell_behind_wakes_to_read_again() {
        let changes = Changes::new(Shutdown::new());
        let mut subscription = changes.subscribe(OrderId::generate());
        for _ in 0..=CAPACITY {
            changes.broadcast(Signal::Order(Uuid::new_v4()));
        }
        assert_eq!(subscription.changed(soon()).await, Wake::Changed);
    }

    #[tokio::test]
    async fn the_feed_of_all_changes_starts_with_a_resync_then_names_each_order() {
        let changes = Changes::new(Shutdown::new());
        let mut all = changes.subscribe_all();
        let order = Uuid::new_v4();
        changes.broadcast(Signal::Order(order));
        changes.broadcast(Signal::Everything);

        assert_eq!(all.next().await, Some(None));
        assert_eq!(all.next().await, Some(Some(order)));
        assert_eq!(all.next().await, Some(None));
    }

    #[tokio::test]
    async fn shutdown_releases_every_waiter() {
        let shutdown = Shutdown::new();
        let changes = Changes::new(shutdown.clone());
        let mut subscription = changes.subscribe(OrderId::generate());
        shutdown.cancel();
        assert_eq!(subscription.changed(None).await, Wake::Stopped);
    }
}
