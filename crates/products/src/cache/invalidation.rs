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
        ProductCreatedV1, ProductUpdatedV1, StockRejectedV1, StockReleasedV1, StockReservedV1,
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
        let Some(id) = changed_product(envelope)? else {
            return Ok(());
        };
        self.cache
            .invalidate(id)
            .await
            .map_err(HandlerError::transient)
    }
}

/// The product whose cached copies an event makes stale, if any.
fn changed_product(envelope: &Envelope) -> Result<Option<ProductId>, HandlerError> {
    let id = match envelope.event_type.as_str() {
        ProductCreatedV1::TYPE => envelope.decode::<ProductCreatedV1>()?.product_id,
        ProductUpdatedV1::TYPE => envelope.decode::<ProductUpdatedV1>()?.product_id,
        StockReservedV1::TYPE => envelope.decode::<StockReservedV1>()?.product_id,
        StockReleasedV1::TYPE => envelope.decode::<StockReleasedV1>()?.product_id,
        // A refusal changes nothing.
        StockRejectedV1::TYPE => return Ok(None),
        _ => return Ok(None),
    };
    Ok(Some(ProductId::from(id)))
}

#[cfg(test)]
mod tests {
    use syncchain_events::payloads::products::StockRejection;
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
                changed_product(&envelope).unwrap(),
                Some(ProductId::from(product_id))
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
        assert_eq!(changed_product(&rejected).unwrap(), None);
    }
}
