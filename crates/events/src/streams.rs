//! The JetStream streams, declared in code and created or updated at start
//! by every service, so a fresh NATS server needs no manual setup and a
//! changed setting reaches existing servers.
//!
//! One stream per producing domain: consumers filter by subject. File
//! storage survives a NATS restart; the two-minute duplicate window is what
//! makes the relay's retries exactly-once; limits retention with a maximum
//! age keeps history for consumers that were away (a new consumer replays
//! it to build its replica) without growing forever.

use std::time::Duration;

use async_nats::jetstream::{
    self,
    context::{CreateStreamError, CreateStreamErrorKind},
    stream::{Config, DiscardPolicy, RetentionPolicy, StorageType},
};

use crate::Namespace;

/// Users events: `users.>`.
pub const USERS: &str = "USERS";
/// Product and stock events: `products.>`, `stock.>`.
pub const PRODUCTS: &str = "PRODUCTS";
/// Order events: `orders.>`.
pub const ORDERS: &str = "ORDERS";

/// Every stream with the subjects (after the namespace) it stores.
pub const STREAMS: &[(&str, &[&str])] = &[
    (USERS, &["users.>"]),
    (PRODUCTS, &["products.>", "stock.>"]),
    (ORDERS, &["orders.>"]),
];

/// Within this window a repeated `Nats-Msg-Id` is dropped by JetStream.
pub const DUPLICATE_WINDOW: Duration = Duration::from_secs(120);
/// How long events are kept.
pub const MAX_AGE: Duration = Duration::from_secs(7 * 24 * 60 * 60);

/// A stream that could not be created or updated.
#[derive(Debug, thiserror::Error)]
#[error("cannot create or update JetStream stream {stream}")]
pub struct StreamError {
    pub stream: String,
    #[source]
    pub source: CreateStreamError,
}

/// The configuration of every stream in `namespace`, each kept on
/// `replicas` servers.
pub fn configs(namespace: &Namespace, replicas: usize) -> Vec<Config> {
    STREAMS
        .iter()
        .map(|(name, subjects)| Config {
            name: namespace.stream(name),
            subjects: subjects.iter().map(|s| namespace.subject(s)).collect(),
            storage: StorageType::File,
            retention: RetentionPolicy::Limits,
            discard: DiscardPolicy::Old,
            max_age: MAX_AGE,
            duplicate_window: DUPLICATE_WINDOW,
            num_replicas: replicas,
            ..Config::default()
        })
        .collect()
}

/// Connects to NATS as `config` says and makes sure the streams exist:
/// what every service does at start. Returns the client (for health
/// checks) and its JetStream context.
pub async fn connect(
    config: &crate::EventsConfig,
) -> anyhow::Result<(async_nats::Client, jetstream::Context)> {
    let nats =
        syncchain_platform::deps::connect_nats(&config.nats_url, "SYNCCHAIN_NATS_URL").await?;
    let jetstream = jetstream::new(nats.clone());
    ensure_streams(&jetstream, &config.namespace, config.stream_replicas).await?;
    Ok((nats, jetstream))
}

/// Creates the streams of `namespace`, each kept on `replicas` servers, or
/// updates them to this configuration.
#[tracing::instrument(skip_all, fields(namespace = %namespace, replicas))]
pub async fn ensure_streams(
    jetstream: &jetstream::Context,
    namespace: &Namespace,
    replicas: usize,
) -> Result<(), StreamError> {
    for config in configs(namespace, replicas) {
        let stream = config.name.clone();
        let mut delay = Duration::from_millis(50);
        loop {
            match jetstream.create_or_update_stream(config.clone()).await {
                Ok(_) => break,
                // A failure on the server's side (status 500, such as its
                // store directory vanishing under a concurrent delete of
                // the account's last stream) is worth a quick second try.
                Err(source) if server_side(&source) && delay <= MAX_RETRY_DELAY => {
                    tracing::debug!(stream, error = %source, "stream not created, trying again");
                    tokio::time::sleep(delay).await;
                    delay *= 2;
                }
                Err(source) => return Err(StreamError { stream, source }),
            }
        }
        tracing::debug!(stream, "stream ready");
    }
    Ok(())
}

/// The longest wait before another try at a stream the server failed to
/// create: tries at 50, 100, 200 and 400 ms.
const MAX_RETRY_DELAY: Duration = Duration::from_millis(400);

fn server_side(error: &CreateStreamError) -> bool {
    matches!(error.kind(), CreateStreamErrorKind::JetStream(e) if e.code() >= 500)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_stream_is_named_and_filtered_by_the_namespace() {
        let ns = Namespace::new("shop").unwrap();
        let configs = configs(&ns, 1);
        let names: Vec<_> = configs.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["SHOP_USERS", "SHOP_PRODUCTS", "SHOP_ORDERS"]);
        assert_eq!(configs[1].subjects, ["shop.products.>", "shop.stock.>"]);
        assert!(configs.iter().all(|c| c.storage == StorageType::File));
    }

    #[test]
    fn every_stream_is_kept_on_the_configured_number_of_servers() {
        let ns = Namespace::new("shop").unwrap();
        assert!(configs(&ns, 3).iter().all(|c| c.num_replicas == 3));
    }
}
