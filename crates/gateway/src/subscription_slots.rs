//! How many subscriptions may run at once: per user, per WebSocket and in
//! the whole gateway. A subscription takes a [`Slot`] before it does any
//! work and gives it back when it ends, however it ends (the stream is
//! dropped), so a client cannot hold more than its share, and one busy
//! customer cannot take what another needs.

use std::{
    collections::HashMap,
    sync::{
        Arc, Mutex, MutexGuard,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use async_graphql::ErrorExtensions;
use syncchain_platform::shutdown::Shutdown;
use tokio::time::Instant;
use uuid::Uuid;

use crate::config::SubscriptionLimits;

/// The gateway's subscription counts. Cheap to clone.
#[derive(Clone)]
pub struct Slots {
    inner: Arc<Inner>,
}

struct Inner {
    limits: SubscriptionLimits,
    counts: Mutex<Counts>,
}

#[derive(Default)]
struct Counts {
    total: usize,
    users: HashMap<Uuid, usize>,
}

/// The subscriptions of one WebSocket, kept in its connection data.
#[derive(Clone)]
pub struct SocketSlots(Arc<SocketState>);

struct SocketState {
    running: AtomicUsize,
    /// When a subscription last started or ended (or the socket opened).
    changed: Mutex<Instant>,
}

impl Default for SocketSlots {
    fn default() -> Self {
        Self(Arc::new(SocketState {
            running: AtomicUsize::new(0),
            changed: Mutex::new(Instant::now()),
        }))
    }
}

impl SocketSlots {
    fn update(&self, started: bool) {
        if started {
            self.0.running.fetch_add(1, Ordering::SeqCst);
        } else {
            self.0.running.fetch_sub(1, Ordering::SeqCst);
        }
        if let Ok(mut changed) = self.0.changed.lock() {
            *changed = Instant::now();
        }
    }

    /// Completes once the socket has had no subscription for `timeout`.
    pub async fn idle_for(&self, timeout: Duration) {
        loop {
            let idle_since = match self.0.running.load(Ordering::SeqCst) {
                0 => self
                    .0
                    .changed
                    .lock()
                    .map(|c| *c)
                    .unwrap_or_else(|_| Instant::now()),
                _ => Instant::now(),
            };
            let deadline = idle_since + timeout;
            if deadline <= Instant::now() && self.0.running.load(Ordering::SeqCst) == 0 {
                return;
            }
            tokio::time::sleep_until(deadline).await;
        }
    }
}

/// How often a running subscription checks that its token still counts,
/// and the gateway's shutdown, which ends every subscription.
#[derive(Clone)]
pub struct Recheck {
    pub every: Duration,
    pub shutdown: Shutdown,
}

/// One running subscription's place; freed when dropped.
pub struct Slot {
    inner: Arc<Inner>,
    user: Uuid,
    socket: SocketSlots,
}

/// Which limit refused a subscription. Deliberately not `Display`, like
/// `ApiError`: it becomes a GraphQL error only with its code.
#[derive(Debug, PartialEq, Eq)]
pub enum SlotError {
    PerUser(usize),
    PerSocket(usize),
    Total,
}

impl SlotError {
    fn message(&self) -> String {
        match self {
            Self::PerUser(n) => format!(
                "you have {n} subscriptions running, the most one account may; end one first"
            ),
            Self::PerSocket(n) => format!(
                "this connection has {n} subscriptions running, the most one connection may; end one first"
            ),
            Self::Total => {
                "the server is running as many subscriptions as it can; try again later".into()
            }
        }
    }
}

impl From<SlotError> for async_graphql::Error {
    fn from(error: SlotError) -> Self {
        async_graphql::Error::new(error.message()).extend_with(|_, ext| {
            ext.set("code", "RATE_LIMITED");
            ext.set("retryAfter", 1);
        })
    }
}

impl Slots {
    pub fn new(limits: SubscriptionLimits) -> Self {
        Self {
            inner: Arc::new(Inner {
                limits,
                counts: Mutex::default(),
            }),
        }
    }

    /// A place for one more subscription of `user` on `socket`, if every
    /// limit allows it.
    pub fn take(&self, user: Uuid, socket: &SocketSlots) -> Result<Slot, SlotError> {
        let limits = self.inner.limits;
        let mut counts = self.inner.counts();
        let mine = counts.users.get(&user).copied().unwrap_or(0);
        if mine >= limits.per_user {
            return Err(SlotError::PerUser(mine));
        }
        let on_socket = socket.0.running.load(Ordering::SeqCst);
        if on_socket >= limits.per_socket {
            return Err(SlotError::PerSocket(on_socket));
        }
        if counts.total >= limits.total {
            return Err(SlotError::Total);
        }
        // Changed under the lock, so the checks above cannot race.
        socket.update(true);
        counts.total += 1;
        *counts.users.entry(user).or_default() += 1;
        Ok(Slot {
            inner: self.inner.clone(),
            user,
            socket: socket.clone(),
        })
    }
}

impl Inner {
    fn counts(&self) -> MutexGuard<'_, Counts> {
        // Every change under this lock is complete before it can panic.
        self.counts
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut counts = self.inner.counts();
        self.socket.update(false);
        counts.total = counts.total.saturating_sub(1);
        if let Some(mine) = counts.users.get_mut(&self.user) {
            *mine -= 1;
            if *mine == 0 {
                counts.users.remove(&self.user);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slots(per_user: usize, per_socket: usize, total: usize) -> Slots {
        Slots::new(SubscriptionLimits {
            per_user,
            per_socket,
            total,
            recheck: Duration::from_secs(5),
        })
    }

    #[test]
    fn a_user_at_the_cap_is_refused_until_one_ends() {
        let slots = slots(2, 10, 10);
        let (user, socket) = (Uuid::new_v4(), SocketSlots::default());
        let first = slots.take(user, &socket).unwrap();
        let _second = slots.take(user, &socket).unwrap();
        assert_eq!(slots.take(user, &socket).err(), Some(SlotError::PerUser(2)));
        assert!(
            slots.take(Uuid::new_v4(), &socket).is_ok(),
            "another user is not affected"
        );
        drop(first);
        assert!(slots.take(user, &socket).is_ok());
    }

    #[test]
    fn a_socket_and_the_gateway_have_caps_of_their_own() {
        let slots = slots(10, 1, 2);
        let socket = SocketSlots::default();
        let _first = slots.take(Uuid::new_v4(), &socket).unwrap();
        assert_eq!(
            slots.take(Uuid::new_v4(), &socket).err(),
            Some(SlotError::PerSocket(1))
        );
        let _second = slots.take(Uuid::new_v4(), &SocketSlots::default()).unwrap();
        assert_eq!(
            slots.take(Uuid::new_v4(), &SocketSlots::default()).err(),
            Some(SlotError::Total)
        );
    }
}
