//! The connection to Redis, kept by a supervisor task so that Redis being
//! away never slows or fails a request.
//!
//! A request that finds no connection skips the cache at once; a call that
//! fails or takes longer than [`CALL_TIMEOUT`] drops the connection, and the
//! supervisor reconnects in the background with backoff. A failure is
//! logged once per outage, not once per request.
//!
//! Every new connection, the first included, starts a new cache epoch (see
//! the parent module): while this process could not reach Redis it may
//! have missed invalidations, so nothing cached before may be read again.

use std::{
    future::Future,
    sync::{Arc, Mutex, MutexGuard},
    time::Duration,
};

use redis::{AsyncConnectionConfig, RedisResult, aio::MultiplexedConnection};
use syncchain_platform::{deps::redis_address, failure::chain, shutdown::Shutdown};
use tokio::sync::Notify;

/// The longest one cache call may take before the cache is bypassed.
pub const CALL_TIMEOUT: Duration = Duration::from_millis(200);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
const FIRST_RETRY: Duration = Duration::from_millis(100);
const MAX_RETRY: Duration = Duration::from_secs(5);

/// The cache is not reachable right now; the caller goes without it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the Redis cache is unavailable")]
pub struct CacheUnavailable;

/// A shared handle on the supervised connection.
#[derive(Clone)]
pub struct RedisLink {
    inner: Arc<Inner>,
}

struct Inner {
    client: redis::Client,
    address: String,
    /// Runs on every new connection before it is used (the epoch reset).
    on_connect: Box<dyn Fn(MultiplexedConnection) -> BoxedCall + Send + Sync>,
    state: Mutex<State>,
    wake: Notify,
}

type BoxedCall = std::pin::Pin<Box<dyn Future<Output = RedisResult<()>> + Send>>;

#[derive(Default)]
struct State {
    /// The live connection and its serial number.
    conn: Option<(u64, MultiplexedConnection)>,
    serial: u64,
}

impl RedisLink {
    /// A link to `url`, not yet connected: [`RedisLink::run`] connects.
    pub fn new<F, Fut>(url: &str, on_connect: F) -> RedisResult<Self>
    where
        F: Fn(MultiplexedConnection) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = RedisResult<()>> + Send + 'static,
    {
        Ok(Self {
            inner: Arc::new(Inner {
                client: redis::Client::open(url)?,
                address: redis_address(url),
                on_connect: Box::new(move |conn| Box::pin(on_connect(conn))),
                state: Mutex::new(State::default()),
                wake: Notify::new(),
            }),
        })
    }

    pub fn is_up(&self) -> bool {
        self.state().conn.is_some()
    }

    /// Runs one call on the connection within [`CALL_TIMEOUT`]. Without a
    /// connection it fails at once; a failure drops the connection.
    pub async fn call<T, F, Fut>(&self, f: F) -> Result<T, CacheUnavailable>
    where
        F: FnOnce(MultiplexedConnection) -> Fut,
        Fut: Future<Output = RedisResult<T>>,
    {
        let Some((serial, conn)) = self.state().conn.clone() else {
            return Err(CacheUnavailable);
        };
        let failure = match tokio::time::timeout(CALL_TIMEOUT, f(conn)).await {
            Ok(Ok(value)) => return Ok(value),
            Ok(Err(error)) => chain(&error),
            Err(_) => format!("no answer within {} ms", CALL_TIMEOUT.as_millis()),
        };
        self.drop_connection(serial, &failure);
        Err(CacheUnavailable)
    }

    /// Keeps a connection up until `shutdown`.
    pub async fn run(self, shutdown: Shutdown) {
        let mut retry = FIRST_RETRY;
        let mut failures: u32 = 0;
        loop {
            while self.is_up() {
                tokio::select! {
                    () = shutdown.cancelled() => return,
                    () = self.inner.wake.notified() => {}
                }
            }
            match self.connect().await {
                Ok(conn) => {
                    let mut state = self.state();
                    state.serial += 1;
                    state.conn = Some((state.serial, conn));
                    drop(state);
                    tracing::info!(redis = %self.inner.address, "product cache connected to Redis");
                    retry = FIRST_RETRY;
                    failures = 0;
                }
                Err(error) => {
                    failures += 1;
                    if failures == 1 {
                        tracing::warn!(redis = %self.inner.address, error = %error, "product cache cannot reach Redis, serving uncached and retrying");
                    } else {
                        tracing::debug!(redis = %self.inner.address, error = %error, failures, "product cache reconnect failed");
                    }
                    tokio::select! {
                        () = shutdown.cancelled() => return,
                        () = tokio::time::sleep(retry) => {}
                    }
                    retry = (retry * 2).min(MAX_RETRY);
                }
            }
        }
    }

    async fn connect(&self) -> Result<MultiplexedConnection, String> {
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(CONNECT_TIMEOUT)
            .set_response_timeout(CALL_TIMEOUT);
        let attempt = async {
            let conn = self
                .inner
                .client
                .get_multiplexed_async_connection_with_config(&config)
                .await?;
            (self.inner.on_connect)(conn.clone()).await?;
            Ok::<_, redis::RedisError>(conn)
        };
        match tokio::time::timeout(CONNECT_TIMEOUT * 2, attempt).await {
            Ok(Ok(conn)) => Ok(conn),
            Ok(Err(error)) => Err(chain(&error)),
            Err(_) => Err("no connection within 2 s".to_owned()),
        }
    }

    /// Forgets connection `serial` (unless a newer one replaced it already)
    /// and wakes the supervisor.
    fn drop_connection(&self, serial: u64, failure: &str) {
        let mut state = self.state();
        if state.conn.as_ref().is_some_and(|(s, _)| *s == serial) {
            state.conn = None;
            drop(state);
            tracing::warn!(redis = %self.inner.address, error = failure, "product cache lost Redis, serving uncached until it is back");
            self.inner.wake.notify_one();
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // The state is two plain fields, valid even if a holder panicked.
        self.inner
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}
