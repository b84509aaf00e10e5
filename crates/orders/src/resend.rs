//! Every order reaches a final answer even if a saga message is lost: an
//! `orders.placed` that was parked by products' consumer, or a
//! `stock.reserved` / `stock.rejected` that never got back. An order still
//! PENDING and unchanged for longer than `SYNCCHAIN_ORDER_RESEND_AFTER` is
//! announced again: a fresh `orders.placed` (a new event id, so no
//! deduplication drops it; the same order, lines and prices, in the same
//! version).
//!
//! Products answers a repeat without reserving twice: its reservation rows
//! are keyed by the order and product, so it re-sends the answer it gave. A repeated
//! answer for an order that settled meanwhile changes nothing here
//! ([`crate::domain::react`]), and stock reserved for an order that was
//! rejected meanwhile is given back, so re-sending is always safe.
//!
//! Each sweep locks the stale orders with `FOR UPDATE SKIP LOCKED`, and in
//! the same transaction enqueues their events and bumps `updated_at`, so
//! several instances sweeping at once never announce an order twice in one
//! period.

use std::time::Duration;

use sqlx::PgPool;
use syncchain_events::outbox;
use syncchain_platform::shutdown::Shutdown;

use crate::{domain::OrderId, error::OrdersError, events, periodic::Sweep, storage};

/// Orders announced again per transaction.
const BATCH: i64 = 100;

/// The sweep of stale PENDING orders.
pub struct Resender {
    pool: PgPool,
    after: Duration,
}

impl Resender {
    /// Announces again orders PENDING and unchanged for longer than `after`.
    pub fn new(pool: PgPool, after: Duration) -> Self {
        Self { pool, after }
    }

    /// Sweeps at start and then every half of the resend delay until
    /// `stop` fires.
    pub async fn run(self, stop: Shutdown) {
        let mut sweep = Sweep::every("pending order sweep", self.after / 2);
        while sweep.next(&stop).await {
            sweep.passed(self.sweep(&stop).await.map(drop));
        }
    }

    /// Announces every stale PENDING order again, a batch per transaction;
    /// how many.
    pub async fn sweep(&self, stop: &Shutdown) -> Result<usize, OrdersError> {
        let mut total = 0;
        loop {
            let sent = self.resend_batch().await?;
            total += sent;
            if sent < BATCH as usize || stop.is_cancelled() {
                return Ok(total);
            }
        }
    }

    async fn resend_batch(&self) -> Result<usize, OrdersError> {
        let mut tx = self.pool.begin().await?;
        let stale = storage::lock_stale_pending(&mut tx, self.after, BATCH).await?;
        if stale.is_empty() {
            return Ok(0);
        }
        for order in &stale {
            outbox::enqueue(&mut tx, &events::placed(order)?).await?;
        }
        let ids: Vec<OrderId> = stale.iter().map(|order| order.id).collect();
        storage::touch(&mut tx, &ids).await?;
        tx.commit().await?;
        for order in &stale {
            tracing::info!(order.id = %order.id, since = %order.updated_at, "order still pending, orders.placed sent again");
        }
        Ok(stale.len())
    }
}
