//! What the orders service does, independent of how it is called: place,
//! read, list, cancel and watch orders.
//!
//! Authorization is by the caller's verified token: an order is its owner's
//! and every admin's to see and cancel. (Unlike users, this service has no
//! account table to re-read roles from; tokens are short-lived and revoked
//! at the gateway.)
//!
//! Every change others care about enqueues its event in the same
//! transaction (the outbox), so an event is published if and only if the
//! change committed. Placing an order writes it PENDING; the saga
//! ([`crate::saga`]) settles it, and `place` waits a bounded time for that.
//!
//! No one customer may hold more than a few orders in flight, nor order
//! more than a bounded quantity at once ([`OrderLimits`]): otherwise one
//! account could reserve a product's whole stock in seconds, or flood the
//! saga with one request of aliased mutations. The caps are checked inside
//! the insert's transaction under a per-customer lock, so concurrent
//! placements cannot all pass the check before any of them is counted.
//!
//! A placement may carry the caller's idempotency key: placing again with
//! the same key and the same request answers with the order the first one
//! made, as it stands (waiting for its outcome like a first placement), and
//! never counts against the caps; the same key with another request is
//! refused ([`OrdersError::KeyReused`]). The key is looked up once without
//! a lock (a retry of a settled order costs one read) and again under the
//! customer's lock before the insert, so of two placements with one key
//! arriving at once, the second waits for the first to commit and finds its
//! order.

use std::{collections::HashSet, time::Duration};

use futures::{Stream, stream};
use sqlx::PgPool;
use syncchain_events::outbox;
use syncchain_platform::{auth::Caller, failure::chain};
use tokio::time::Instant;

use crate::{
    config::{DEFAULT_KEYS_KEPT, OrderLimits},
    domain::{
        Cursor, HistoryEntry, IdempotencyKey, Money, NewLine, NewOrder, Order, OrderId, OrderLine,
        OrderStatus, Page, PageSize, ProductId, Transition, Trigger, UnitPrice, ValidationError,
    },
    error::OrdersError,
    events,
    metrics::OrderMetrics,
    prices::Prices,
    storage::{self, KeyedPlacement, NewRow},
    watch::{AllChanges, Changes, Subscription, Wake},
};

/// The most ids one batch read may ask for.
pub const MAX_BATCH: usize = 1000;

#[derive(Clone)]
pub struct Orders {
    pool: PgPool,
    prices: Prices,
    changes: Changes,
    max_wait: Duration,
    limits: OrderLimits,
    keys_kept: Duration,
    metrics: OrderMetrics,
}

impl Orders {
    /// `max_wait` caps how long `place` waits for the saga's outcome;
    /// `limits` bounds what one customer may place.
    pub fn new(
        pool: PgPool,
        prices: Prices,
        changes: Changes,
        max_wait: Duration,
        limits: OrderLimits,
    ) -> Self {
        Self {
            pool,
            prices,
            changes,
            max_wait,
            limits,
            keys_kept: DEFAULT_KEYS_KEPT,
            metrics: OrderMetrics::default(),
        }
    }

    /// Keeps placements' idempotency keys for `kept` (24 h unless told).
    #[must_use]
    pub fn keeping_keys_for(mut self, kept: Duration) -> Self {
        self.keys_kept = kept;
        self
    }

    /// Counts the orders it places and cancels in `metrics`.
    #[must_use]
    pub fn with_metrics(mut self, metrics: OrderMetrics) -> Self {
        self.metrics = metrics;
        self
    }

    /// Places an order at the product's current price, then waits up to
    /// `wait` (capped) for it to leave PENDING. Nothing is written when the
    /// product is unknown, products is unreachable, the total is too large
    /// or the caller is over a limit. With a `key` the caller used before
    /// for the same request, the order that placement made is answered
    /// instead, and nothing is written either.
    #[tracing::instrument(skip_all, fields(caller.id = %caller.user_id, lines = new.lines().len(), keyed = key.is_some()))]
    pub async fn place(
        &self,
        caller: &Caller,
        token: Option<&str>,
        new: NewOrder,
        key: Option<IdempotencyKey>,
        wait: Duration,
    ) -> Result<Order, OrdersError> {
        if new.lines().len() > self.limits.max_lines {
            return Err(ValidationError::new(
                "lines",
                format!("must hold at most {} lines", self.limits.max_lines),
            )
            .into());
        }
        if new.items() > self.limits.max_quantity {
            return Err(ValidationError::new(
                new.field(),
                format!("must be at most {} items", self.limits.max_quantity),
            )
            .into());
        }
        let wait = wait.min(self.max_wait);
        if let Some(key) = &key
            && let Some(placed) = self.placed_before(&self.pool, caller, key, &new).await?
        {
            return self.answer_again(placed, wait).await;
        }
        let (lines, total) = self.priced(&new, token).await?;
        let id = OrderId::generate();
        // Heard from before the order exists, so no change of it can be
        // missed: the saga starts only once the insert commits.
        let subscription = self.changes.subscribe(id);
        let mut tx = self.pool.begin().await?;
        storage::lock_customer(&mut tx, caller.user_id).await?;
        if let Some(key) = &key
            && let Some(placed) = self.placed_before(&mut *tx, caller, key, &new).await?
        {
            drop(tx);
            return self.answer_again(placed, wait).await;
        }
        self.within_limits(&mut tx, caller.user_id).await?;
        let order = storage::insert(
            &mut tx,
            NewRow {
                id,
                user_id: caller.user_id,
                lines,
                total_amount: total.minor(),
            },
        )
        .await?;
        if let Some(key) = &key {
            let placement = KeyedPlacement {
                request: new.canonical(),
                order_id: order.id,
            };
            let recorded = storage::insert_keyed_placement(
                &mut tx,
                caller.user_id,
                key.as_str(),
                &placement,
                self.keys_kept,
            )
            .await?;
            if !recorded {
                return Err(OrdersError::KeyReused);
            }
        }
        outbox::enqueue(&mut tx, &events::placed(&order)?).await?;
        tx.commit().await?;
        self.metrics.entered(&order);
        tracing::info!(order.id = %order.id, lines = order.lines.len(), "order placed");

        if wait.is_zero() {
            return Ok(order);
        }
        Ok(self.settled_within(order, subscription, wait).await)
    }

    /// Each line at its product's current price, and their total. A
    /// `productId` is priced with one product's lookup (unknown: NOT_FOUND,
    /// as it always was); `lines` in one request, and an unknown product is
    /// bad input naming its line.
    async fn priced(
        &self,
        new: &NewOrder,
        token: Option<&str>,
    ) -> Result<(Vec<OrderLine>, Money), OrdersError> {
        let priced: Vec<(NewLine, UnitPrice)> = match new.lines() {
            [line] if !new.as_lines() => {
                vec![(*line, self.prices.unit_price(line.product_id, token).await?)]
            }
            lines => {
                let ids: Vec<ProductId> = lines.iter().map(|l| l.product_id).collect();
                let prices = self.prices.unit_prices(&ids, token).await?;
                let mut priced = Vec::with_capacity(lines.len());
                for (index, line) in lines.iter().enumerate() {
                    let Some(price) = prices.get(&line.product_id) else {
                        return Err(ValidationError::new(
                            "lines",
                            format!("name an unknown product on line {}", index + 1),
                        )
                        .into());
                    };
                    priced.push((*line, *price));
                }
                priced
            }
        };
        let total = Money::sum(
            priced.iter().map(|(line, price)| (*price, line.quantity)),
            new.field(),
        )?;
        let lines = priced
            .into_iter()
            .map(|(line, price)| OrderLine {
                product_id: line.product_id,
                quantity: line.quantity.get(),
                unit_price: price.minor(),
            })
            .collect();
        Ok((lines, total))
    }

    /// The order the caller placed before with `key`, when that placement
    /// asked for the same as `new`; [`OrdersError::KeyReused`] when it
    /// asked for something else.
    async fn placed_before(
        &self,
        executor: impl sqlx::PgExecutor<'_>,
        caller: &Caller,
        key: &IdempotencyKey,
        new: &NewOrder,
    ) -> Result<Option<OrderId>, OrdersError> {
        let Some(placed) =
            storage::keyed_placement(executor, caller.user_id, key.as_str(), self.keys_kept)
                .await?
        else {
            return Ok(None);
        };
        if placed.request != new.canonical() {
            tracing::info!(order.id = %placed.order_id, "placement refused: its key was used for another request");
            return Err(OrdersError::KeyReused);
        }
        Ok(Some(placed.order_id))
    }

    /// A keyed placement made again: the order as it stands, or once it
    /// leaves PENDING within `wait`.
    async fn answer_again(&self, id: OrderId, wait: Duration) -> Result<Order, OrdersError> {
        let subscription = self.changes.subscribe(id);
        let order = storage::find(&self.pool, id)
            .await?
            .ok_or(OrdersError::NotFound)?;
        tracing::info!(order.id = %order.id, status = %order.status, "placement made again, the first one's order answered");
        if order.status != OrderStatus::Pending || wait.is_zero() {
            return Ok(order);
        }
        Ok(self.settled_within(order, subscription, wait).await)
    }

    /// Checks the caps on orders in flight and per minute; the caller holds
    /// the customer's placement lock ([`storage::lock_customer`]) in `tx`.
    async fn within_limits(
        &self,
        tx: &mut sqlx::PgConnection,
        user_id: uuid::Uuid,
    ) -> Result<(), OrdersError> {
        let pending = storage::pending_of(tx, user_id).await?;
        if pending >= self.limits.max_pending {
            tracing::info!(pending, "order refused: too many pending orders");
            return Err(OrdersError::TooManyPending(pending));
        }
        if let Some(max) = self.limits.max_per_minute {
            let placed = storage::placed_within(tx, user_id, Duration::from_secs(60)).await?;
            if placed >= max {
                tracing::info!(placed, "order refused: too many orders this minute");
                return Err(OrdersError::TooManyPerMinute(placed));
            }
        }
        Ok(())
    }

    /// The order once it left PENDING, or as it stands when `wait` is over.
    /// `subscription` was taken before the order was inserted, so the
    /// order is read again only when it may have changed. The order is
    /// committed by now, so a failing re-read is logged and the order
    /// returned as last seen rather than failing the placement.
    async fn settled_within(
        &self,
        placed: Order,
        mut subscription: Subscription,
        wait: Duration,
    ) -> Order {
        let deadline = Instant::now() + wait;
        let mut current = placed;
        while subscription.changed(Some(deadline)).await == Wake::Changed {
            match storage::find(&self.pool, current.id).await {
                Ok(Some(order)) => current = order,
                Ok(None) => return current,
                Err(error) => {
                    tracing::warn!(order.id = %current.id, error = %chain(&error), "cannot read a placed order while waiting for its outcome");
                    return current;
                }
            }
            if current.status != OrderStatus::Pending {
                return current;
            }
        }
        current
    }

    #[tracing::instrument(skip_all, fields(caller.id = %caller.user_id, order.id = %id))]
    pub async fn get(&self, caller: &Caller, id: OrderId) -> Result<Order, OrdersError> {
        let order = storage::find(&self.pool, id)
            .await?
            .ok_or(OrdersError::NotFound)?;
        visible_to(caller, order)
    }

    /// The orders among `ids` the caller may see, in the order asked, each once.
    #[tracing::instrument(skip_all, fields(caller.id = %caller.user_id, count = ids.len()))]
    pub async fn get_many(
        &self,
        caller: &Caller,
        ids: &[OrderId],
    ) -> Result<Vec<Order>, OrdersError> {
        let wanted = distinct_batch(ids)?;
        if wanted.is_empty() {
            return Ok(Vec::new());
        }
        let mut found = storage::find_many(&self.pool, &wanted, owner_filter(caller)).await?;
        found.sort_by_key(|order| wanted.iter().position(|id| *id == order.id));
        Ok(found)
    }

    /// The history of each order among `ids` the caller may see, oldest
    /// entry first, in the order asked, each once.
    #[tracing::instrument(skip_all, fields(caller.id = %caller.user_id, count = ids.len()))]
    pub async fn histories(
        &self,
        caller: &Caller,
        ids: &[OrderId],
    ) -> Result<Vec<(OrderId, Vec<HistoryEntry>)>, OrdersError> {
        let wanted = distinct_batch(ids)?;
        if wanted.is_empty() {
            return Ok(Vec::new());
        }
        let mut histories: Vec<(OrderId, Vec<HistoryEntry>)> = Vec::new();
        for (id, entry) in storage::histories(&self.pool, &wanted, owner_filter(caller)).await? {
            match histories.last_mut() {
                Some((last, entries)) if *last == id => entries.push(entry),
                _ => histories.push((id, vec![entry])),
            }
        }
        histories.sort_by_key(|(id, _)| wanted.iter().position(|w| w == id));
        Ok(histories)
    }

    /// The caller's orders, newest first; every order for an admin.
    #[tracing::instrument(skip_all, fields(caller.id = %caller.user_id))]
    pub async fn list(
        &self,
        caller: &Caller,
        after: Option<Cursor>,
        size: PageSize,
    ) -> Result<Page<Order>, OrdersError> {
        let rows = storage::list(&self.pool, owner_filter(caller), after, size.fetch()).await?;
        Ok(Page::from_rows(rows, size, |order| Cursor {
            created_at: order.created_at,
            id: order.id.as_uuid(),
        }))
    }

    /// Cancels a PENDING or CONFIRMED order and asks products (through the
    /// event) to put back whatever it reserved for it. A reservation made
    /// after this commits is given back when its answer arrives
    /// ([`crate::domain::react`]).
    #[tracing::instrument(skip_all, fields(caller.id = %caller.user_id, order.id = %id))]
    pub async fn cancel(&self, caller: &Caller, id: OrderId) -> Result<Order, OrdersError> {
        let mut tx = self.pool.begin().await?;
        let order = storage::lock(&mut tx, id)
            .await?
            .ok_or(OrdersError::NotFound)
            .and_then(|order| visible_to(caller, order))?;
        let transition = Transition::new(order.status, Trigger::Cancel)
            .ok_or(OrdersError::NotCancellable(order.status))?;
        let who = if caller.user_id == order.user_id {
            "cancelled by the customer"
        } else {
            "cancelled by an admin"
        };
        let cancelled = storage::apply(&mut tx, id, transition, Some(who))
            .await?
            .ok_or(OrdersError::NotCancellable(order.status))?;
        outbox::enqueue(&mut tx, &events::cancelled(&cancelled)?).await?;
        tx.commit().await?;
        self.metrics.entered(&cancelled);
        tracing::info!(order.id = %cancelled.id, "order cancelled");
        Ok(cancelled)
    }

    /// The order now, then each change, ending after a final status or when
    /// the service stops.
    #[tracing::instrument(skip_all, fields(caller.id = %caller.user_id, order.id = %id))]
    pub async fn watch(
        &self,
        caller: &Caller,
        id: OrderId,
    ) -> Result<impl Stream<Item = Result<Order, OrdersError>> + Send + 'static, OrdersError> {
        // Subscribed before the first read, so no change can fall between.
        let subscription = self.changes.subscribe(id);
        let first = self.get(caller, id).await?;
        let watch = Watch {
            pool: self.pool.clone(),
            subscription,
            next: Some(first),
            last: None,
        };
        Ok(stream::unfold(watch, |mut watch| async move {
            let item = watch.step().await?;
            Some((item, watch))
        }))
    }
}

impl Orders {
    /// A signal for every change of any order; for admins only (the
    /// gateway's change feed), since it shows every order's id and pace.
    pub fn changes(&self, caller: &Caller) -> Result<AllChanges, OrdersError> {
        if caller.is_admin() {
            Ok(self.changes.subscribe_all())
        } else {
            Err(OrdersError::Forbidden)
        }
    }
}

/// The state of one `watch` stream.
struct Watch {
    pool: PgPool,
    subscription: Subscription,
    /// What to send next without waiting.
    next: Option<Order>,
    /// What was sent last; `None` after an error, which ends the stream.
    last: Option<Order>,
}

impl Watch {
    /// The next item, or `None` when the stream is over.
    async fn step(&mut self) -> Option<Result<Order, OrdersError>> {
        if let Some(order) = self.next.take() {
            self.last = Some(order.clone());
            return Some(Ok(order));
        }
        let last = self.last.take()?;
        if last.status.is_final() {
            return None;
        }
        loop {
            if self.subscription.changed(None).await != Wake::Changed {
                return None;
            }
            let order = match storage::find(&self.pool, last.id).await {
                Ok(Some(order)) => order,
                Ok(None) => return Some(Err(OrdersError::NotFound)),
                Err(error) => return Some(Err(error.into())),
            };
            if order.status != last.status || order.updated_at != last.updated_at {
                self.last = Some(order.clone());
                return Some(Ok(order));
            }
        }
    }
}

/// The order, if the caller may see it.
fn visible_to(caller: &Caller, order: Order) -> Result<Order, OrdersError> {
    if caller.may_access(order.user_id) {
        Ok(order)
    } else {
        Err(OrdersError::Forbidden)
    }
}

/// `ids` without repeats, in their first order; refused past [`MAX_BATCH`].
fn distinct_batch(ids: &[OrderId]) -> Result<Vec<OrderId>, OrdersError> {
    if ids.len() > MAX_BATCH {
        return Err(ValidationError::new("ids", "at most 1000 ids at once").into());
    }
    let mut seen = HashSet::new();
    Ok(ids.iter().copied().filter(|id| seen.insert(*id)).collect())
}

/// Whose orders a caller's lists hold: their own, or everyone's for an admin.
fn owner_filter(caller: &Caller) -> Option<uuid::Uuid> {
    (!caller.is_admin()).then_some(caller.user_id)
}
