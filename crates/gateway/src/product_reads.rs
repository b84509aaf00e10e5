//! A copy of product reads in the gateway's memory, so `product(id)` and
//! the first page of `products` are answered without a call to the
//! products service (ADR 0019). It keeps the rule of ADR 0006: a committed
//! change shows no later than its event takes to arrive.
//!
//! - **Invalidated by the PRODUCTS stream.** Every gateway follows the
//!   stream itself (a [`Feed`] from its end) and drops the products each
//!   event changes ([`changed_products`]), and every first page with them.
//!   A change made through this gateway is dropped as soon as its answer
//!   comes back, so the caller's next read shows it.
//! - **Filled fresh.** A miss asks the products service with `fresh` set,
//!   so the copy comes from the database, never from the products
//!   service's Redis cache, which may not have seen the event that caused
//!   the miss yet.
//! - **Never filled with what a change overtook.** A lookup that misses
//!   takes a [`Ticket`]: the copy's generation (the product's last change,
//!   or the lists') and the cache's epoch. What it fetched is kept only if
//!   neither moved meanwhile, so a read that raced a change cannot put the
//!   old row back.
//! - **Used only while the feed is live.** Until the feed has subscribed,
//!   while it is interrupted and while the NATS connection is down, every
//!   read goes to the products service as it did without this copy
//!   (through its Redis cache). Each (re)subscription and each NATS
//!   reconnection starts a new epoch: everything is dropped and tickets
//!   taken before are void.
//! - **Bounded.** At most `capacity` products and one first page per page
//!   size (1 to 100) are kept; a product past the capacity is not kept, and
//!   the record of changes is cleared with a new epoch when it outgrows it.
//!   Pages with a cursor or a search are never kept, so no request can
//!   fill memory with pages.

use std::{
    collections::HashMap,
    sync::{
        Arc, PoisonError, RwLock,
        atomic::{AtomicBool, Ordering},
    },
};

use syncchain_events::{
    Envelope, Namespace,
    feed::{Feed, Follower, Start},
    payloads::products::changed_products,
    streams,
};
use syncchain_platform::{
    failure::chain,
    metrics::{Counters, Metrics},
};
use uuid::Uuid;

use crate::schema::products::{Product, ProductConnection};

/// What a lookup found.
pub enum Lookup<T> {
    /// The copy kept.
    Hit(T),
    /// Nothing kept: fetch it fresh and hand it back with the ticket.
    Miss(Ticket),
    /// The copy cannot be trusted now: fetch it as usual and keep nothing.
    Bypass,
}

/// What a missed lookup saw, so [`ProductReads`] can tell whether a change
/// came in while the caller fetched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ticket {
    epoch: u64,
    generation: u64,
}

/// The gateway's product reads; cheap to clone, shared by every request.
#[derive(Clone)]
pub struct ProductReads {
    shared: Arc<Shared>,
}

struct Shared {
    state: RwLock<State>,
    /// The feed has read the stream up to where it was when it subscribed.
    live: AtomicBool,
    /// The NATS connection the feed reads through is up: while it is
    /// down, no event can arrive.
    connected: AtomicBool,
    capacity: usize,
    lookups: Counters<[(&'static str, &'static str); 2]>,
}

#[derive(Default)]
struct State {
    epoch: u64,
    /// Counts changes; a product's generation is the count at its last one.
    changes: u64,
    /// Product id → the generation of its last change seen. A product not
    /// here has generation 0.
    changed: HashMap<Uuid, u64>,
    products: HashMap<Uuid, Product>,
    /// The generation of every first page: the count at the last change.
    pages_changed: u64,
    /// Page size → the first page of that size.
    pages: HashMap<u32, ProductConnection>,
}

impl State {
    fn product_ticket(&self, id: Uuid) -> Ticket {
        Ticket {
            epoch: self.epoch,
            generation: self.changed.get(&id).copied().unwrap_or(0),
        }
    }

    fn page_ticket(&self) -> Ticket {
        Ticket {
            epoch: self.epoch,
            generation: self.pages_changed,
        }
    }

    fn change(&mut self, id: Uuid, capacity: usize) {
        self.changes += 1;
        self.products.remove(&id);
        self.changed.insert(id, self.changes);
        self.pages_changed = self.changes;
        self.pages.clear();
        if self.changed.len() > capacity {
            self.reset();
        }
    }

    /// Drops everything and voids every ticket taken so far.
    fn reset(&mut self) {
        self.epoch += 1;
        self.changes += 1;
        self.pages_changed = self.changes;
        self.changed.clear();
        self.products.clear();
        self.pages.clear();
    }
}

impl ProductReads {
    /// A copy of at most `capacity` products (0 keeps nothing: every read
    /// goes to the products service), not live until its feed runs.
    /// Lookups are counted in `metrics`, by entry (product, page) and
    /// result. Tell it of the feed's NATS connection with
    /// [`connected`](Self::connected) and
    /// [`disconnected`](Self::disconnected).
    pub fn new(capacity: usize, metrics: &Metrics) -> Self {
        let lookups = metrics.counters(
            "gateway_product_reads",
            "Lookups of the gateway's copy of product reads, by entry (product, page) and result (hit; miss, fetched fresh; bypass, while the copy cannot be trusted or for pages never kept).",
        );
        Self {
            shared: Arc::new(Shared {
                state: RwLock::new(State::default()),
                live: AtomicBool::new(false),
                connected: AtomicBool::new(true),
                capacity,
                lookups,
            }),
        }
    }

    /// The feed that keeps this copy true to `namespace`'s PRODUCTS stream;
    /// run it in the background.
    pub fn feed(
        &self,
        jetstream: async_nats::jetstream::Context,
        namespace: Namespace,
    ) -> Feed<Self> {
        Feed::new(
            self.clone(),
            jetstream,
            namespace,
            streams::PRODUCTS,
            "",
            Start::AfterLast,
        )
    }

    fn trusted(&self) -> bool {
        self.shared.capacity > 0
            && self.shared.live.load(Ordering::Acquire)
            && self.shared.connected.load(Ordering::Acquire)
    }

    fn count(&self, entry: &'static str, result: &'static str) {
        self.shared
            .lookups
            .get_or_create(&[("entry", entry), ("result", result)])
            .inc();
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, State> {
        // Every change to the state is a few map operations that cannot
        // panic halfway in a way that leaves a copy wrong: a copy is only
        // ever removed before its generation moves.
        self.shared
            .state
            .read()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, State> {
        self.shared
            .state
            .write()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// The kept copy of product `id`.
    pub fn product(&self, id: Uuid) -> Lookup<Product> {
        if !self.trusted() {
            self.count("product", "bypass");
            return Lookup::Bypass;
        }
        let state = self.read();
        let lookup = match state.products.get(&id) {
            Some(product) => Lookup::Hit(product.clone()),
            None => Lookup::Miss(state.product_ticket(id)),
        };
        drop(state);
        self.count(
            "product",
            if matches!(lookup, Lookup::Hit(_)) {
                "hit"
            } else {
                "miss"
            },
        );
        lookup
    }

    /// Keeps `product`, fetched fresh after a miss, unless a change came in
    /// since `ticket`.
    pub fn keep_product(&self, ticket: Ticket, product: &Product) {
        let Ok(id) = Uuid::parse_str(product.id.as_str()) else {
            return;
        };
        let mut state = self.write();
        if state.product_ticket(id) == ticket && state.products.len() < self.shared.capacity {
            state.products.insert(id, product.clone());
        }
    }

    /// The kept first page of `first` products; pages with a cursor or a
    /// search are never kept.
    pub fn first_page(&self, first: u32, paged: bool) -> Lookup<ProductConnection> {
        if paged || !self.trusted() {
            self.count("page", "bypass");
            return Lookup::Bypass;
        }
        let state = self.read();
        let lookup = match state.pages.get(&first) {
            Some(page) => Lookup::Hit(page.clone()),
            None => Lookup::Miss(state.page_ticket()),
        };
        drop(state);
        self.count(
            "page",
            if matches!(lookup, Lookup::Hit(_)) {
                "hit"
            } else {
                "miss"
            },
        );
        lookup
    }

    /// Keeps the first page of `first` products, fetched fresh after a
    /// miss, unless a change came in since `ticket`.
    pub fn keep_first_page(&self, ticket: Ticket, first: u32, page: &ProductConnection) {
        let mut state = self.write();
        if state.page_ticket() == ticket {
            state.pages.insert(first, page.clone());
        }
    }

    /// Product `id` changed (this gateway's own write, or its event).
    pub fn changed(&self, id: Uuid) {
        self.write().change(id, self.shared.capacity);
    }

    /// Drops everything and voids every ticket taken so far.
    fn reset(&self) {
        self.write().reset();
    }

    /// The feed's NATS connection is (again) up. What happened while it
    /// was down may not have been delivered yet: everything is dropped,
    /// and what is fetched from now on sees those changes.
    pub fn connected(&self) {
        self.reset();
        self.shared.connected.store(true, Ordering::Release);
    }

    /// The feed's NATS connection is down: reads bypass the copy.
    pub fn disconnected(&self) {
        self.shared.connected.store(false, Ordering::Release);
    }
}

impl Follower for ProductReads {
    fn started(&self) {
        self.reset();
    }

    fn apply(&self, envelope: &Envelope) {
        match changed_products(envelope) {
            Ok(ids) => {
                let mut state = self.write();
                for id in ids {
                    state.change(id, self.shared.capacity);
                }
            }
            Err(error) => {
                // An event this gateway cannot read may have changed
                // anything.
                tracing::error!(error = %chain(&error), "unreadable products event; dropping every product read");
                self.reset();
            }
        }
    }

    fn caught_up(&self) {
        self.shared.live.store(true, Ordering::Release);
    }

    fn interrupted(&self) {
        self.shared.live.store(false, Ordering::Release);
        self.reset();
    }
}

#[cfg(test)]
mod tests {
    use async_graphql::ID;
    use chrono::Utc;

    use super::*;
    use crate::schema::paging::PageInfo;

    fn product(id: Uuid, quantity: i32) -> Product {
        Product {
            id: ID(id.to_string()),
            name: "Kettle".into(),
            price: 100,
            description: String::new(),
            quantity,
            created_at: Utc::now(),
            updated_at: Utc::now(),
        }
    }

    fn page(products: Vec<Product>) -> ProductConnection {
        ProductConnection {
            nodes: products,
            page_info: PageInfo {
                end_cursor: None,
                has_next_page: false,
            },
        }
    }

    /// A copy whose trust is set by hand (no feed, no connection).
    fn state_only(capacity: usize) -> ProductReads {
        ProductReads::new(capacity, &Metrics::new())
    }

    fn ticket(lookup: Lookup<Product>) -> Ticket {
        match lookup {
            Lookup::Miss(ticket) => ticket,
            Lookup::Hit(_) => panic!("expected a miss, got a hit"),
            Lookup::Bypass => panic!("expected a miss, got a bypass"),
        }
    }

    /// The state's own lookup, without the trust check.
    fn look(reads: &ProductReads, id: Uuid) -> Lookup<Product> {
        let state = reads.read();
        match state.products.get(&id) {
            Some(p) => Lookup::Hit(p.clone()),
            None => Lookup::Miss(state.product_ticket(id)),
        }
    }

    #[test]
    fn only_a_live_feed_on_a_connection_is_trusted() {
        let reads = state_only(10);
        let id = Uuid::now_v7();
        assert!(
            matches!(reads.product(id), Lookup::Bypass),
            "before the feed caught up"
        );
        reads.caught_up();
        assert!(matches!(reads.product(id), Lookup::Miss(_)));
        assert!(
            matches!(reads.first_page(20, true), Lookup::Bypass),
            "a page with a cursor or search"
        );
        reads.disconnected();
        assert!(matches!(reads.product(id), Lookup::Bypass), "NATS down");
        assert!(matches!(reads.first_page(20, false), Lookup::Bypass));
        reads.connected();
        assert!(matches!(reads.first_page(20, false), Lookup::Miss(_)));
        reads.interrupted();
        assert!(
            matches!(reads.product(id), Lookup::Bypass),
            "feed interrupted"
        );
        let off = state_only(0);
        off.caught_up();
        assert!(matches!(off.product(id), Lookup::Bypass), "capacity 0");
    }

    #[test]
    fn a_new_connection_voids_what_was_kept() {
        let reads = state_only(10);
        let id = Uuid::now_v7();
        let before = ticket(look(&reads, id));
        reads.keep_product(before, &product(id, 5));
        let other = Uuid::now_v7();
        let raced = ticket(look(&reads, other));
        reads.disconnected();
        reads.connected();
        assert!(matches!(look(&reads, id), Lookup::Miss(_)), "dropped");
        reads.keep_product(raced, &product(other, 1));
        assert!(
            matches!(look(&reads, other), Lookup::Miss(_)),
            "a ticket from before is void"
        );
    }

    #[test]
    fn a_kept_product_is_served_until_it_changes() {
        let reads = state_only(10);
        let id = Uuid::now_v7();
        reads.keep_product(ticket(look(&reads, id)), &product(id, 5));
        assert!(matches!(look(&reads, id), Lookup::Hit(p) if p.quantity == 5));

        reads.changed(id);

        let after = ticket(look(&reads, id));
        reads.keep_product(after, &product(id, 4));
        assert!(matches!(look(&reads, id), Lookup::Hit(p) if p.quantity == 4));
    }

    #[test]
    fn a_read_that_a_change_overtook_is_not_kept() {
        let reads = state_only(10);
        let id = Uuid::now_v7();
        // Never seen, then seen changed: both readers raced a change.
        let before_any = ticket(look(&reads, id));
        reads.changed(id);
        reads.keep_product(before_any, &product(id, 5));
        assert!(matches!(look(&reads, id), Lookup::Miss(_)));

        let before_second = ticket(look(&reads, id));
        reads.changed(id);
        reads.keep_product(before_second, &product(id, 4));
        assert!(matches!(look(&reads, id), Lookup::Miss(_)));
    }

    #[test]
    fn a_change_of_another_product_leaves_a_reader_alone() {
        let reads = state_only(10);
        let (id, other) = (Uuid::now_v7(), Uuid::now_v7());
        let before = ticket(look(&reads, id));
        reads.changed(other);
        reads.keep_product(before, &product(id, 5));
        assert!(matches!(look(&reads, id), Lookup::Hit(_)));
    }

    #[test]
    fn a_reset_voids_tickets_taken_before_it() {
        let reads = state_only(10);
        let id = Uuid::now_v7();
        let before = ticket(look(&reads, id));
        reads.interrupted();
        reads.keep_product(before, &product(id, 5));
        assert!(matches!(look(&reads, id), Lookup::Miss(_)));
    }

    #[test]
    fn any_change_drops_every_first_page_and_voids_page_tickets() {
        let reads = state_only(10);
        let id = Uuid::now_v7();
        let ticket = reads.read().page_ticket();
        reads.keep_first_page(ticket, 20, &page(vec![product(id, 5)]));
        assert_eq!(reads.read().pages.len(), 1);

        let raced = reads.read().page_ticket();
        reads.changed(Uuid::now_v7());
        assert!(reads.read().pages.is_empty());
        reads.keep_first_page(raced, 20, &page(vec![product(id, 5)]));
        assert!(reads.read().pages.is_empty());
    }

    #[test]
    fn the_copy_stays_within_its_capacity() {
        let reads = state_only(2);
        let ids: Vec<Uuid> = (0..3).map(|_| Uuid::now_v7()).collect();
        for id in &ids {
            reads.keep_product(ticket(look(&reads, *id)), &product(*id, 1));
        }
        assert_eq!(reads.read().products.len(), 2);
        // Changes of more products than the capacity start a new epoch.
        for id in &ids {
            reads.changed(*id);
        }
        let state = reads.read();
        assert!(state.changed.is_empty() && state.products.is_empty());
        assert_eq!(state.epoch, 1);
    }

    #[test]
    fn an_unreadable_event_drops_everything() {
        let reads = state_only(10);
        let id = Uuid::now_v7();
        reads.keep_product(ticket(look(&reads, id)), &product(id, 1));
        let mut envelope = Envelope::new(&syncchain_events::payloads::products::ProductUpdatedV1 {
            product_id: id,
            name: "Kettle".into(),
            price: 1,
            stock: 1,
            restocked: 0,
        })
        .unwrap();
        envelope.payload = serde_json::json!({"not": "a product"});
        reads.apply(&envelope);
        assert!(reads.read().products.is_empty());
    }
}
