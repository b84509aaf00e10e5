//! The `products-cache` consumer: every product or stock event, from any
//! instance (and the saga, whose stock changes commit inside a consumer
//! transaction this service cannot hook), invalidates the cached copies of
//! its product. So a read after a committed change shows the old value no
//! longer than the event takes to arrive.
//!
//! It has no database effect and keeps no processed-event record (a
//! redelivered invalidation is one more cache miss, no harm); refusals,
//! which change nothing, are acknowledged unread. When Redis is away the
//! event is retried (another instance may reach Redis); if it is parked in
//! the end, the new epoch set on reconnection covers it.

use sqlx::{Postgres, Transaction};
use syncchain_events::{
    Envelope, Event, async_trait,
    consumer::{ConsumerConfig, Handler, HandlerError},
    payloads::products::{
        self, ProductCreatedV1, ProductUpdatedV1, StockReleasedV1, StockReservedV1,
    },
    streams,
};

use super::ProductCache;
use crate::domain::ProductId;

/// The durable consumer's name, shared by every instance.
pub const CONSUMER: &str = "products-cache";

/// The whole PRODUCTS stream (`products.>` and `stock.>`), retried for a few
/// minutes while Redis is away before an event is parked.
pub fn consumer_config() -> ConsumerConfig {
    ConsumerConfig {
        max_deliver: 10,
        // A second invalidation is only one more cache miss.
        idempotent: true,
        ..ConsumerConfig::new(CONSUMER, streams::PRODUCTS)
    }
}

pub struct CacheInvalidation {
    cache: ProductCache,
}

impl CacheInvalidation {
    pub fn new(cache: ProductCache) -> Self {
        Self { cache }
    }
}

#[async_trait]
impl Handler for CacheInvalidation {
    fn wants(&self, event_type: &str) -> bool {
        matches!(
            event_type,
            ProductCreatedV1::TYPE
                | ProductUpdatedV1::TYPE
                | StockReservedV1::TYPE
                | StockReleasedV1::TYPE
        )
    }

    async fn handle(
        &self,
        _tx: &mut Transaction<'_, Postgres>,
        envelope: &Envelope,
    ) -> Result<(), HandlerError> {
        for id in changed_products(envelope)? {
            self.cache
                .invalidate(id)
                .await
                .map_err(HandlerError::transient)?;
        }
        Ok(())
    }
}

/// The products whose cached copies an event makes stale.
fn changed_products(envelope: &Envelope) -> Result<Vec<ProductId>, HandlerError> {
    Ok(products::changed_products(envelope)?
        .into_iter()
        .map(ProductId::from)
        .collect())
}

#[cfg(test)]
mod tests {
    use syncchain_events::payloads::products::{
        StockLineV2, StockRejectedV1, StockRejection, StockReleasedV2, StockReservedV2,
    };
    use uuid::Uuid;

    use super::*;

    #[test]
    fn stock_and_product_changes_name_their_product() {
        let product_id = Uuid::now_v7();
        let reserved = Envelope::new(&StockReservedV1 {
            order_id: Uuid::now_v7(),
            product_id,
            quantity: 1,
            remaining: 4,
        })
        .unwrap();
        let updated = Envelope::new(&ProductUpdatedV1 {
            product_id,
            name: "Kettle".into(),
            price: 1,
            stock: 9,
            restocked: 4,
        })
        .unwrap();
        for envelope in [reserved, updated] {
            assert_eq!(
                changed_products(&envelope).unwrap(),
                vec![ProductId::from(product_id)]
            );
        }
    }

    #[test]
    fn a_change_of_several_lines_names_each_product() {
        let (first, second) = (Uuid::now_v7(), Uuid::now_v7());
        let line = |product_id| StockLineV2 {
            product_id,
            quantity: 1,
            remaining: 2,
        };
        let reserved = Envelope::new(&StockReservedV2 {
            order_id: Uuid::now_v7(),
            lines: vec![line(first), line(second)],
        })
        .unwrap();
        let released = Envelope::new(&StockReleasedV2 {
            order_id: Uuid::now_v7(),
            lines: vec![line(first), line(second)],
        })
        .unwrap();
        for envelope in [reserved, released] {
            assert_eq!(
                changed_products(&envelope).unwrap(),
                vec![ProductId::from(first), ProductId::from(second)]
            );
        }
    }

    #[test]
    fn a_refusal_changes_nothing() {
        let rejected = Envelope::new(&StockRejectedV1 {
            order_id: Uuid::now_v7(),
            product_id: Uuid::now_v7(),
            quantity: 3,
            reason: StockRejection::InsufficientStock,
            available: 1,
        })
        .unwrap();
        assert!(changed_products(&rejected).unwrap().is_empty());
    }
}
