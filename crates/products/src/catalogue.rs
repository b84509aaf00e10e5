//! What the products service does with its catalogue, independent of how it
//! is called. Reads are public and go through the read cache; writes are
//! for admins, as the caller's token says (the users service owns roles;
//! here the verified token is all we know).
//!
//! Every write enqueues its event in the same transaction (the outbox), so
//! an event is published if and only if the change committed, and then
//! invalidates the cache itself so this service's next read is fresh even
//! before the event comes back around.

use std::collections::HashSet;

use sqlx::{PgPool, Postgres, Transaction};
use syncchain_events::{
    Envelope, outbox,
    payloads::products::{ProductCreatedV1, ProductUpdatedV1},
};
use syncchain_platform::auth::Caller;

use crate::{
    cache::{Cached, ListQuery, ProductCache},
    domain::{
        Cursor, NameSearch, NewProduct, Page, PageSize, Product, ProductChanges, ProductId,
        Quantity, Stock, ValidationError,
    },
    error::ProductsError,
    storage::{self, NewRow},
};

/// The most ids one batch read may ask for.
pub const MAX_BATCH: usize = 1000;

#[derive(Clone)]
pub struct Catalogue {
    pool: PgPool,
    cache: ProductCache,
}

/// Where a read may come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Read {
    /// The read cache, filled from the database on a miss.
    Cached,
    /// The database, leaving the cache as it is: for a caller that keeps
    /// its own copy and may learn of a change before the cache does.
    Fresh,
}

impl Read {
    pub fn fresh(fresh: bool) -> Self {
        if fresh { Self::Fresh } else { Self::Cached }
    }
}

impl Catalogue {
    pub fn new(pool: PgPool, cache: ProductCache) -> Self {
        Self { pool, cache }
    }

    #[tracing::instrument(skip_all, fields(caller.id = %caller.user_id))]
    pub async fn create(&self, caller: &Caller, new: NewProduct) -> Result<Product, ProductsError> {
        require_admin(caller)?;
        let mut tx = self.pool.begin().await?;
        let product = storage::insert(
            &mut tx,
            NewRow {
                id: ProductId::generate(),
                name: new.name.as_str(),
                description: new.description.as_str(),
                price: new.price.get(),
                stock: new.stock.get(),
            },
        )
        .await?;
        let event = Envelope::new(&ProductCreatedV1 {
            product_id: product.id.as_uuid(),
            name: product.name.clone(),
            price: product.price,
            stock: product.stock,
        })?;
        outbox::enqueue(&mut tx, &event).await?;
        tx.commit().await?;
        self.cache.invalidate_after_write(product.id).await;
        tracing::info!(product.id = %product.id, "product created");
        Ok(product)
    }

    #[tracing::instrument(skip_all, fields(product.id = %id))]
    pub async fn get(&self, id: ProductId, read: Read) -> Result<Product, ProductsError> {
        let slot = match read {
            Read::Fresh => None,
            Read::Cached => match self.cache.product(id).await {
                Cached::Hit(product) => return Ok(product),
                Cached::Miss(slot) => Some(slot),
            },
        };
        let product = storage::find(&self.pool, id)
            .await?
            .ok_or(ProductsError::NotFound)?;
        if let Some(slot) = slot {
            self.cache.store_product(slot, &product).await;
        }
        Ok(product)
    }

    /// The products among `ids` that exist, in the order asked, each once.
    #[tracing::instrument(skip_all, fields(count = ids.len()))]
    pub async fn get_many(&self, ids: &[ProductId]) -> Result<Vec<Product>, ProductsError> {
        if ids.len() > MAX_BATCH {
            return Err(ValidationError::new("ids", "at most 1000 ids at once").into());
        }
        let mut seen = HashSet::new();
        let wanted: Vec<ProductId> = ids.iter().copied().filter(|id| seen.insert(*id)).collect();
        if wanted.is_empty() {
            return Ok(Vec::new());
        }
        let mut found = storage::find_many(&self.pool, &wanted).await?;
        found.sort_by_key(|product| wanted.iter().position(|id| *id == product.id));
        Ok(found)
    }

    /// A page of products, newest first, optionally only those whose name
    /// contains `search`.
    #[tracing::instrument(skip_all)]
    pub async fn list(
        &self,
        after: Option<Cursor>,
        size: PageSize,
        search: Option<NameSearch>,
        read: Read,
    ) -> Result<Page<Product>, ProductsError> {
        let query = ListQuery {
            after,
            size,
            search: search.as_ref(),
        };
        let slot = match read {
            Read::Fresh => None,
            Read::Cached => match self.cache.page(query).await {
                Cached::Hit(page) => return Ok(page),
                Cached::Miss(slot) => Some(slot),
            },
        };
        let rows = storage::list(&self.pool, after, search.as_ref(), size.fetch()).await?;
        let page = Page::from_rows(rows, size, |p| Cursor {
            created_at: p.created_at,
            id: p.id.as_uuid(),
        });
        if let Some(slot) = slot {
            self.cache.store_page(slot, &page).await;
        }
        Ok(page)
    }

    /// Changes a product's details; a change to the values it already has
    /// writes nothing and announces nothing.
    #[tracing::instrument(skip_all, fields(caller.id = %caller.user_id, product.id = %id))]
    pub async fn update(
        &self,
        caller: &Caller,
        id: ProductId,
        changes: ProductChanges,
    ) -> Result<Product, ProductsError> {
        let (tx, current) = self.lock_for_change(caller, id).await?;
        let wanted = changes.apply_to(&current);
        if wanted == current {
            return Ok(current);
        }
        let product = self.save(tx, &wanted, 0).await?;
        tracing::info!("product updated");
        Ok(product)
    }

    /// Adds `quantity` items to a product's stock, as long as the stock,
    /// with what is reserved for orders and may come back, still fits the
    /// API's `Int`. The product row is locked first, and a reservation or
    /// a release changes that row in its own transaction, so the count of
    /// reserved items cannot change under the check.
    #[tracing::instrument(skip_all, fields(caller.id = %caller.user_id, product.id = %id, quantity = quantity.get()))]
    pub async fn restock(
        &self,
        caller: &Caller,
        id: ProductId,
        quantity: Quantity,
    ) -> Result<Product, ProductsError> {
        let (mut tx, current) = self.lock_for_change(caller, id).await?;
        let held = storage::held_for_orders(&mut *tx, id).await?;
        let stock = Stock::restocked(current.stock, held, quantity)?;
        let wanted = Product {
            stock: stock.get(),
            ..current
        };
        let product = self.save(tx, &wanted, quantity.get()).await?;
        tracing::info!(stock = product.stock, "product restocked");
        Ok(product)
    }

    /// An admin's change starts here: the product, locked in a new
    /// transaction until [`Catalogue::save`] commits it (or it is dropped).
    async fn lock_for_change(
        &self,
        caller: &Caller,
        id: ProductId,
    ) -> Result<(Transaction<'static, Postgres>, Product), ProductsError> {
        require_admin(caller)?;
        let mut tx = self.pool.begin().await?;
        let current = storage::lock(&mut tx, id)
            .await?
            .ok_or(ProductsError::NotFound)?;
        Ok((tx, current))
    }

    /// Writes a locked product, announces it, commits, invalidates.
    async fn save(
        &self,
        mut tx: Transaction<'_, Postgres>,
        wanted: &Product,
        restocked: i64,
    ) -> Result<Product, ProductsError> {
        let product = storage::update(&mut tx, wanted).await?;
        let event = Envelope::new(&ProductUpdatedV1 {
            product_id: product.id.as_uuid(),
            name: product.name.clone(),
            price: product.price,
            stock: product.stock,
            restocked,
        })?;
        outbox::enqueue(&mut tx, &event).await?;
        tx.commit().await?;
        self.cache.invalidate_after_write(product.id).await;
        Ok(product)
    }
}

fn require_admin(caller: &Caller) -> Result<(), ProductsError> {
    if caller.is_admin() {
        Ok(())
    } else {
        Err(ProductsError::Forbidden)
    }
}
