//! The Redis read cache for one product and for list pages, never stale by
//! design rather than by expiry.
//!
//! Keys carry generations: a product's entry lives under
//! `{prefix}:products:v:{epoch}:{gen}:id:{id}`, where `gen` is the value of
//! `{prefix}:products:gen:{id}`; list pages live under the global list
//! generation `{prefix}:products:gen:list`. A reader takes the generations
//! *before* it reads the database, and an invalidation replaces them *after*
//! the change committed. So a reader racing with a write can at worst store
//! the old value under a generation nobody reads again; it can never put it
//! where later readers look.
//!
//! Products get one generation each, so the stock changes of a busy order
//! stream do not evict every other product; lists share one, since any
//! change can move or alter any page.
//!
//! Generations are random tokens, not counters: a counter that vanished
//! (Redis restarted, a key evicted) would count up through values whose old
//! entries may still be there; a fresh token cannot collide. A missing
//! generation is set once the database has found the product, and that
//! read goes uncached. Setting it after the read is as safe as before: the
//! value of that read is never stored, and every later reader takes the
//! generation before its own read, as above; an invalidation in between
//! only replaces the new generation. Setting it only for a product that
//! exists means a lookup of an unknown id writes nothing.
//!
//! Anonymous requests choose the arguments, so only what they cannot
//! multiply is cached: products that exist, and the first page of the
//! unfiltered list, one entry per page size (at most
//! [`PageSize::MAX`] per list generation). Later pages and searches go to
//! the database, which their keyset queries keep cheap. The cache may also
//! live in a Redis of its own ([`CacheConfig`]), away from the security
//! state kept in the main one.
//!
//! The epoch covers what generations cannot: invalidations this process
//! missed while Redis was away. Every (re)connection sets a new epoch
//! ([`link`]), dropping everything cached before. The TTL only bounds
//! memory.
//!
//! Invalidation is driven by the products and stock events (see
//! [`invalidation`]), for changes made anywhere; the service also
//! invalidates right after its own commits, so its next read is fresh.
//! Without Redis every call here answers "miss" at once and nothing fails.

use std::time::Duration;

use redis::AsyncCommands;
use serde::{Serialize, de::DeserializeOwned};
use sha2::{Digest, Sha256};
use syncchain_platform::metrics::{Counters, Metrics};

use crate::{
    config::CacheConfig,
    domain::{Cursor, NameSearch, Page, PageSize, Product, ProductId},
};

pub mod invalidation;
pub mod link;

pub use link::{CacheUnavailable, RedisLink};

/// What a cache read found.
#[derive(Debug)]
pub enum Cached<T> {
    Hit(T),
    /// Read the database, then offer the value to the slot (if any): the
    /// key it may be stored under, fixed before the database read.
    Miss(Option<Slot>),
}

/// What may be done with a value read after a miss.
#[derive(Debug)]
pub struct Slot(SlotKind);

#[derive(Debug)]
enum SlotKind {
    /// Store it under this key, fixed before the database read.
    Store(String),
    /// Store nothing, but start the generation under this key: there was
    /// none, and now the database has shown the entry exists.
    StartGeneration(String),
}

/// The arguments that identify one list page.
#[derive(Debug, Clone, Copy)]
pub struct ListQuery<'a> {
    pub after: Option<Cursor>,
    pub size: PageSize,
    pub search: Option<&'a NameSearch>,
}

/// A list page as cached: the cursor in its wire form.
#[derive(serde::Serialize, serde::Deserialize)]
struct CachedPage {
    products: Vec<Product>,
    end_cursor: Option<String>,
    has_next_page: bool,
}

#[derive(Clone)]
pub struct ProductCache {
    link: RedisLink,
    /// `{prefix}:products`.
    keys: String,
    ttl_secs: u64,
    lookups: Counters<[(&'static str, &'static str); 2]>,
}

impl ProductCache {
    /// A cache on `config`'s Redis; it connects once [`RedisLink::run`]
    /// (on [`ProductCache::link`]) runs.
    pub fn new(config: &CacheConfig) -> redis::RedisResult<Self> {
        let keys = format!("{}:products", config.prefix);
        let epoch_key = epoch_key(&keys);
        let link = RedisLink::new(&config.redis_url, move |mut conn| {
            let epoch_key = epoch_key.clone();
            async move { conn.set(epoch_key, token()).await }
        })?;
        Ok(Self {
            link,
            keys,
            ttl_secs: config.ttl.max(Duration::from_secs(1)).as_secs(),
            lookups: Counters::default(),
        })
    }

    /// Counts its lookups in `metrics`: by entry (product, page) and
    /// result (hit, miss, or bypass for a page it never caches).
    #[must_use]
    pub fn with_metrics(mut self, metrics: &Metrics) -> Self {
        self.lookups = metrics.counters(
            "cache_requests",
            "Product cache lookups, by entry (product, page) and result (hit; miss, also while Redis is away; bypass for pages never cached).",
        );
        self
    }

    fn counted<T>(&self, entry: &'static str, cached: Cached<T>) -> Cached<T> {
        let result = match cached {
            Cached::Hit(_) => "hit",
            Cached::Miss(_) => "miss",
        };
        self.lookups
            .get_or_create(&[("entry", entry), ("result", result)])
            .inc();
        cached
    }

    /// The connection, for its supervisor task and the readiness check.
    pub fn link(&self) -> &RedisLink {
        &self.link
    }

    pub async fn product(&self, id: ProductId) -> Cached<Product> {
        let cached = self
            .lookup(&self.product_gen_key(id), &format!("id:{id}"))
            .await;
        self.counted("product", cached)
    }

    pub async fn page(&self, query: ListQuery<'_>) -> Cached<Page<Product>> {
        if query.after.is_some() || query.search.is_some() {
            self.lookups
                .get_or_create(&[("entry", "page"), ("result", "bypass")])
                .inc();
            return Cached::Miss(None);
        }
        let key = format!("list:{}", list_hash(query));
        let cached = match self.lookup::<CachedPage>(&self.list_gen_key(), &key).await {
            Cached::Hit(page) => match from_cached(page) {
                Some(page) => Cached::Hit(page),
                None => Cached::Miss(None),
            },
            Cached::Miss(slot) => Cached::Miss(slot),
        };
        self.counted("page", cached)
    }

    pub async fn store_product(&self, slot: Option<Slot>, product: &Product) {
        self.store(slot, product).await;
    }

    pub async fn store_page(&self, slot: Option<Slot>, page: &Page<Product>) {
        let cached = CachedPage {
            products: page.items.clone(),
            end_cursor: page.end_cursor.map(|c| c.encode()),
            has_next_page: page.has_next_page,
        };
        self.store(slot, &cached).await;
    }

    /// Makes every cached copy of `id`, and every cached list page,
    /// unreachable.
    pub async fn invalidate(&self, id: ProductId) -> Result<(), CacheUnavailable> {
        let (product, list) = (self.product_gen_key(id), self.list_gen_key());
        self.link
            .call(|mut conn| async move {
                redis::pipe()
                    .atomic()
                    .set(product, token())
                    .ignore()
                    .set(list, token())
                    .ignore()
                    .query_async::<()>(&mut conn)
                    .await
            })
            .await
    }

    /// Invalidates after a committed write; a failure is already logged by
    /// the link and covered by the event-driven invalidation and the epoch.
    pub async fn invalidate_after_write(&self, id: ProductId) {
        if self.invalidate(id).await.is_err() {
            tracing::debug!(product.id = %id, "cache invalidation after a write skipped");
        }
    }

    /// Reads the epoch and `gen_key`, then the entry they lead to.
    async fn lookup<T: DeserializeOwned>(&self, gen_key: &str, entry: &str) -> Cached<T> {
        let epoch_key = epoch_key(&self.keys);
        let generations = self
            .link
            .call(|mut conn| {
                let keys = [epoch_key.clone(), gen_key.to_owned()];
                async move { conn.mget::<_, Vec<Option<String>>>(&keys).await }
            })
            .await;
        let (epoch, generation) = match generations.as_deref() {
            Ok([Some(epoch), Some(generation)]) => (epoch.clone(), generation.clone()),
            Ok(_) => {
                return Cached::Miss(Some(Slot(SlotKind::StartGeneration(gen_key.to_owned()))));
            }
            Err(CacheUnavailable) => return Cached::Miss(None),
        };
        let key = format!("{}:v:{epoch}:{generation}:{entry}", self.keys);
        let found = self
            .link
            .call(|mut conn| {
                let key = key.clone();
                async move { conn.get::<_, Option<Vec<u8>>>(key).await }
            })
            .await;
        match found {
            Ok(Some(bytes)) => match serde_json::from_slice(&bytes) {
                Ok(value) => Cached::Hit(value),
                // Written by another version: replace it.
                Err(_) => Cached::Miss(Some(Slot(SlotKind::Store(key)))),
            },
            Ok(None) => Cached::Miss(Some(Slot(SlotKind::Store(key)))),
            Err(CacheUnavailable) => Cached::Miss(None),
        }
    }

    /// Sets the epoch and a generation where they are missing.
    async fn start_generations(&self, gen_key: String) {
        let epoch_key = epoch_key(&self.keys);
        let _ = self
            .link
            .call(|mut conn| async move {
                redis::pipe()
                    .set_nx(epoch_key, token())
                    .ignore()
                    .set_nx(gen_key, token())
                    .ignore()
                    .query_async::<()>(&mut conn)
                    .await
            })
            .await;
    }

    /// Call only with a value the database returned.
    async fn store<T: Serialize>(&self, slot: Option<Slot>, value: &T) {
        let key = match slot {
            None => return,
            Some(Slot(SlotKind::StartGeneration(gen_key))) => {
                return self.start_generations(gen_key).await;
            }
            Some(Slot(SlotKind::Store(key))) => key,
        };
        let Ok(bytes) = serde_json::to_vec(value) else {
            return;
        };
        let ttl = self.ttl_secs;
        let _ = self
            .link
            .call(|mut conn| async move { conn.set_ex::<_, _, ()>(key, bytes, ttl).await })
            .await;
    }

    fn product_gen_key(&self, id: ProductId) -> String {
        format!("{}:gen:{id}", self.keys)
    }

    fn list_gen_key(&self) -> String {
        format!("{}:gen:list", self.keys)
    }
}

fn epoch_key(keys: &str) -> String {
    format!("{keys}:epoch")
}

/// A fresh generation or epoch: 64 random bits in hex.
fn token() -> String {
    format!("{:016x}", rand::random::<u64>())
}

/// A short, fixed-length name for a page's arguments (a search may be long).
fn list_hash(query: ListQuery<'_>) -> String {
    let mut hasher = Sha256::new();
    hasher.update(query.size.get().to_be_bytes());
    hasher.update(query.after.map(|c| c.encode()).unwrap_or_default());
    hasher.update([0]);
    hasher.update(query.search.map(NameSearch::as_str).unwrap_or_default());
    hasher
        .finalize()
        .iter()
        .take(16)
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn from_cached(page: CachedPage) -> Option<Page<Product>> {
    let end_cursor = match page.end_cursor {
        Some(raw) => Some(Cursor::decode(&raw).ok()??),
        None => None,
    };
    Some(Page {
        items: page.products,
        end_cursor,
        has_next_page: page.has_next_page,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_with_different_arguments_have_different_keys() {
        let search = NameSearch::parse("kettle").unwrap().unwrap();
        let other = NameSearch::parse("kettl").unwrap().unwrap();
        let base = ListQuery {
            after: None,
            size: PageSize::new(20),
            search: None,
        };
        let keys = [
            list_hash(base),
            list_hash(ListQuery {
                size: PageSize::new(21),
                ..base
            }),
            list_hash(ListQuery {
                search: Some(&search),
                ..base
            }),
            list_hash(ListQuery {
                search: Some(&other),
                ..base
            }),
        ];
        let unique: std::collections::HashSet<_> = keys.iter().collect();
        assert_eq!(unique.len(), keys.len());
        assert_eq!(list_hash(base), list_hash(base));
    }

    #[test]
    fn tokens_are_fresh_each_time() {
        assert_ne!(token(), token());
        assert_eq!(token().len(), 16);
    }
}
