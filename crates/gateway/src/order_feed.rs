//! The gateway's one change feed from the orders service.
//!
//! Subscriptions used to open one `WatchOrder` stream each, all on one
//! HTTP/2 connection with a bounded number of streams, so one customer's
//! subscriptions could use them all and starve everyone else's. Now ONE
//! task reads `WatchChanges` (a signal, "order X changed", for every order)
//! and fans it out in process, keyed by order id: each subscription wakes
//! only for its own order, then reads it with `GetOrder` under its own
//! token, so authorization stays per user and costs a short unary call.
//!
//! The feed is for admins only; the gateway holds the signing secret and
//! signs itself a token for it (an admin with the nil user id), never
//! handed to anyone. When the feed drops it is opened again with backoff;
//! every (re)opened stream starts with an "anything may have changed"
//! signal, which wakes every subscription to read again, as changes may
//! have been missed in between.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, MutexGuard},
    time::Duration,
};

use syncchain_platform::{
    auth::{Role, TokenKeys},
    failure::chain,
    grpc::request,
    shutdown::Shutdown,
};
use syncchain_proto::orders::v1::{self as pb, orders_client::OrdersClient};
use tokio::sync::watch;
use uuid::Uuid;

use crate::metrics::CountedChannel;

const RETRY_MIN: Duration = Duration::from_millis(100);
const RETRY_MAX: Duration = Duration::from_secs(5);

/// The in-process fan-out of order changes. Cheap to clone.
#[derive(Clone)]
pub struct OrderFeed {
    inner: Arc<Inner>,
}

struct Inner {
    /// One channel per order somebody watches; removed with its last watcher.
    orders: Mutex<HashMap<Uuid, watch::Sender<()>>>,
    /// Fires when any order may have changed.
    everything: watch::Sender<()>,
}

/// One subscription's view of the changes of one order.
pub struct OrderWatch {
    order: Uuid,
    own: watch::Receiver<()>,
    everything: watch::Receiver<()>,
    inner: Arc<Inner>,
}

impl Default for OrderFeed {
    fn default() -> Self {
        Self {
            inner: Arc::new(Inner {
                orders: Mutex::default(),
                everything: watch::channel(()).0,
            }),
        }
    }
}

impl OrderFeed {
    /// Starts the task that reads the feed until `shutdown`.
    pub fn start(
        client: OrdersClient<CountedChannel>,
        keys: TokenKeys,
        shutdown: Shutdown,
    ) -> Self {
        let feed = Self::default();
        tokio::spawn(feed.clone().run(client, keys, shutdown));
        feed
    }

    /// Starts watching `order`; read it after this call, so no change can
    /// fall between the read and the watch.
    pub fn watch(&self, order: Uuid) -> OrderWatch {
        let own = self
            .inner
            .orders()
            .entry(order)
            .or_insert_with(|| watch::channel(()).0)
            .subscribe();
        OrderWatch {
            order,
            own,
            everything: self.inner.everything.subscribe(),
            inner: self.inner.clone(),
        }
    }

    /// Wakes the watchers of `order`, or everyone for `None`.
    fn changed(&self, order: Option<Uuid>) {
        match order {
            None => {
                self.inner.everything.send_replace(());
            }
            Some(order) => {
                if let Some(sender) = self.inner.orders().get(&order) {
                    sender.send_replace(());
                }
            }
        }
    }

    async fn run(self, mut client: OrdersClient<CountedChannel>, keys: TokenKeys, stop: Shutdown) {
        let mut delay = RETRY_MIN;
        let mut failures: u32 = 0;
        loop {
            let opened = tokio::select! {
                () = stop.cancelled() => return,
                opened = open(&mut client, &keys) => opened,
            };
            match opened {
                Ok(mut stream) => loop {
                    let message = tokio::select! {
                        () = stop.cancelled() => return,
                        message = stream.message() => message,
                    };
                    match message {
                        Ok(Some(changed)) => {
                            if failures > 0 {
                                tracing::info!(failures, "order change feed open again");
                            }
                            failures = 0;
                            delay = RETRY_MIN;
                            self.changed(parse(&changed.order_id));
                        }
                        Ok(None) => {
                            tracing::info!("order change feed ended, opening it again");
                            break;
                        }
                        Err(status) => {
                            tracing::warn!(grpc.code = ?status.code(), grpc.message = status.message(), "order change feed failed, opening it again");
                            break;
                        }
                    }
                },
                Err(error) => {
                    failures += 1;
                    if failures == 1 {
                        tracing::warn!(error = %chain(&error), "cannot open the order change feed, retrying with backoff");
                    }
                }
            }
            tokio::select! {
                () = stop.cancelled() => return,
                () = tokio::time::sleep(delay) => {}
            }
            delay = (delay * 2).min(RETRY_MAX);
        }
    }
}

impl Inner {
    fn orders(&self) -> MutexGuard<'_, HashMap<Uuid, watch::Sender<()>>> {
        // A panic while holding this lock leaves the map as it was.
        self.orders
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[derive(Debug, thiserror::Error)]
enum OpenError {
    #[error("cannot sign the feed's token")]
    Token(#[source] Box<dyn std::error::Error + Send + Sync>),
    #[error("the orders service did not open the feed")]
    Status(#[from] tonic::Status),
}

async fn open(
    client: &mut OrdersClient<CountedChannel>,
    keys: &TokenKeys,
) -> Result<tonic::Streaming<pb::OrderChanged>, OpenError> {
    let token = keys
        .issue(Uuid::nil(), Role::Admin)
        .map_err(|e| OpenError::Token(Box::new(e)))?
        .token;
    let stream = client
        .watch_changes(request(pb::WatchChangesRequest {}, Some(&token)))
        .await?
        .into_inner();
    Ok(stream)
}

/// The order a signal names; `None` (anything) when it names none.
fn parse(order_id: &str) -> Option<Uuid> {
    if order_id.is_empty() {
        return None;
    }
    match Uuid::try_parse(order_id) {
        Ok(order) => Some(order),
        Err(_) => {
            tracing::warn!(
                order.id = order_id,
                "malformed order change signal; waking everyone"
            );
            None
        }
    }
}

impl OrderWatch {
    /// Waits until the order may have changed.
    pub async fn changed(&mut self) {
        let result = tokio::select! {
            result = self.own.changed() => result,
            result = self.everything.changed() => result,
        };
        if result.is_err() {
            // The senders live as long as this watch; never reached.
            std::future::pending::<()>().await;
        }
    }
}

impl Drop for OrderWatch {
    fn drop(&mut self) {
        let mut orders = self.inner.orders();
        // This watch still holds its receiver: it is the last when it is
        // the only one.
        if orders
            .get(&self.order)
            .is_some_and(|sender| sender.receiver_count() <= 1)
        {
            orders.remove(&self.order);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn woken(watch: &mut OrderWatch) -> bool {
        tokio::time::timeout(Duration::from_millis(200), watch.changed())
            .await
            .is_ok()
    }

    #[tokio::test]
    async fn a_watch_wakes_for_its_own_order_and_not_for_others() {
        let feed = OrderFeed::default();
        let mine = Uuid::new_v4();
        let mut watch = feed.watch(mine);

        feed.changed(Some(Uuid::new_v4()));
        assert!(!woken(&mut watch).await);
        feed.changed(Some(mine));
        assert!(woken(&mut watch).await);
    }

    #[tokio::test]
    async fn everyone_wakes_when_anything_may_have_changed() {
        let feed = OrderFeed::default();
        let mut first = feed.watch(Uuid::new_v4());
        let mut second = feed.watch(Uuid::new_v4());

        feed.changed(None);

        assert!(woken(&mut first).await);
        assert!(woken(&mut second).await);
    }

    #[test]
    fn an_order_nobody_watches_any_more_is_forgotten() {
        let feed = OrderFeed::default();
        let order = Uuid::new_v4();
        let first = feed.watch(order);
        let second = feed.watch(order);
        drop(first);
        assert_eq!(feed.inner.orders().len(), 1);
        drop(second);
        assert!(feed.inner.orders().is_empty());
    }
}
