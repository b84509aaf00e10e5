//! The orders service's settings, read once from the environment and
//! validated before anything starts. The JWT secret is wrapped so it never
//! appears in `Debug` output, and the database URL shows only where it points.

use std::time::Duration;

use syncchain_events::payloads::orders::OrderPlacedV2;
use syncchain_platform::{
    auth::TokenSettings,
    config::{ConfigError, Env, FromEnv},
    database::DatabaseVars,
    roles,
};

pub const DATABASE_URL_VAR: &str = "SYNCCHAIN_ORDERS_DATABASE_URL";
pub const DEFAULT_DATABASE_URL: &str = "postgres://postgres@127.0.0.1:5432/syncchain_orders";
const MAX_CONNECTIONS_VAR: &str = "SYNCCHAIN_ORDERS_DB_MAX_CONNECTIONS";
pub const PRODUCTS_URL_VAR: &str = roles::PRODUCTS.called_at();
pub const MAX_WAIT_VAR: &str = "SYNCCHAIN_ORDER_MAX_WAIT";
pub const DEFAULT_MAX_WAIT: Duration = Duration::from_secs(10);
/// No request should hold a connection open for longer than this.
const LONGEST_MAX_WAIT: Duration = Duration::from_secs(60);
pub const RESEND_AFTER_VAR: &str = "SYNCCHAIN_ORDER_RESEND_AFTER";
pub const DEFAULT_RESEND_AFTER: Duration = Duration::from_secs(30);
/// The sweep runs every half of the resend delay; below this it would
/// only keep the database busy.
const SHORTEST_RESEND_AFTER: Duration = Duration::from_millis(100);
pub const KEYS_KEPT_VAR: &str = "SYNCCHAIN_ORDER_IDEMPOTENCY_KEYS_KEPT";
/// Clients retry within minutes; a day covers a retry after an outage too.
pub const DEFAULT_KEYS_KEPT: Duration = Duration::from_secs(24 * 60 * 60);
/// Past this the key table only grows; it also keeps the age arithmetic in
/// the database far from its range.
const LONGEST_KEYS_KEPT: Duration = Duration::from_secs(30 * 24 * 60 * 60);
pub const MAX_PENDING_VAR: &str = "SYNCCHAIN_ORDER_MAX_PENDING_PER_CUSTOMER";
pub const MAX_QUANTITY_VAR: &str = "SYNCCHAIN_ORDER_MAX_QUANTITY";
pub const MAX_LINES_VAR: &str = "SYNCCHAIN_ORDER_MAX_LINES";
pub const MAX_PER_MINUTE_VAR: &str = "SYNCCHAIN_ORDER_MAX_PER_MINUTE";

/// The orders service's own settings; the service host reads the NATS settings
/// (`SYNCCHAIN_NATS_URL`, `SYNCCHAIN_EVENTS_NAMESPACE`) itself.
#[derive(Debug, Clone)]
pub struct Config {
    /// `SYNCCHAIN_PRODUCTS_URL`: the products service, asked for prices.
    pub products_url: String,
    /// `SYNCCHAIN_ORDER_MAX_WAIT` (10 s): the cap on `PlaceOrderRequest.wait_ms`.
    pub max_wait: Duration,
    /// `SYNCCHAIN_ORDER_RESEND_AFTER` (30 s): how long an order may stay
    /// PENDING, unchanged, before its `orders.placed` is sent again.
    pub resend_after: Duration,
    /// `SYNCCHAIN_ORDER_IDEMPOTENCY_KEYS_KEPT` (24 h; a day to 30 days): how long a
    /// placement's idempotency key answers with its order.
    pub keys_kept: Duration,
    pub limits: OrderLimits,
    pub database: DatabaseConfig,
    /// The secret and lifetime of the gateway's tokens, to verify callers.
    pub tokens: TokenSettings,
}

/// What one customer may place, so that no one customer can hold a
/// product's whole stock in PENDING orders or flood the saga.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OrderLimits {
    /// `SYNCCHAIN_ORDER_MAX_PENDING_PER_CUSTOMER` (10): orders one customer
    /// may have PENDING at once.
    pub max_pending: i64,
    /// `SYNCCHAIN_ORDER_MAX_QUANTITY` (1000): items in one order, over
    /// every line.
    pub max_quantity: i64,
    /// `SYNCCHAIN_ORDER_MAX_LINES` (20; at most 100, what products accepts):
    /// lines in one order.
    pub max_lines: usize,
    /// `SYNCCHAIN_ORDER_MAX_PER_MINUTE` (60; 0 for no limit): orders one
    /// customer may place in any minute, which bounds a flood of orders
    /// that each settle at once (the pending cap does not see those).
    pub max_per_minute: Option<i64>,
}

impl OrderLimits {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let at_least_one = |var: &str, default: i64| {
            let value: i64 = env.get(var, default)?;
            if value < 1 {
                return Err(ConfigError::new(var, "must be at least 1"));
            }
            Ok(value)
        };
        let per_minute: i64 = env.get(MAX_PER_MINUTE_VAR, 60)?;
        if per_minute < 0 {
            return Err(ConfigError::new(
                MAX_PER_MINUTE_VAR,
                "must be 0 (no limit) or more",
            ));
        }
        let max_lines: usize = env.get(MAX_LINES_VAR, 20)?;
        if !(1..=OrderPlacedV2::MAX_LINES).contains(&max_lines) {
            return Err(ConfigError::new(
                MAX_LINES_VAR,
                format!("must be 1 to {}", OrderPlacedV2::MAX_LINES),
            ));
        }
        Ok(Self {
            max_pending: at_least_one(MAX_PENDING_VAR, 10)?,
            max_quantity: at_least_one(MAX_QUANTITY_VAR, 1000)?,
            max_lines,
            max_per_minute: (per_minute > 0).then_some(per_minute),
        })
    }
}

/// The variables naming the orders database.
#[derive(Debug, Clone, Copy)]
pub struct OrdersDatabase;

impl DatabaseVars for OrdersDatabase {
    const URL_VAR: &'static str = DATABASE_URL_VAR;
    const DEFAULT_URL: &'static str = DEFAULT_DATABASE_URL;
    const MAX_CONNECTIONS_VAR: &'static str = MAX_CONNECTIONS_VAR;
}

/// The service's own database; all that a `migrate` command needs.
pub type DatabaseConfig = syncchain_platform::database::DatabaseConfig<OrdersDatabase>;

impl FromEnv for Config {
    fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let tokens = TokenSettings::from_env(env)?;
        let products_url = env.string(PRODUCTS_URL_VAR, &roles::PRODUCTS.default_url());
        let valid_url = (products_url.starts_with("http://")
            || products_url.starts_with("https://"))
            && tonic::transport::Endpoint::from_shared(products_url.clone()).is_ok();
        if !valid_url {
            return Err(ConfigError::new(
                PRODUCTS_URL_VAR,
                "must be an http:// or https:// URL",
            ));
        }
        let max_wait = env.duration(MAX_WAIT_VAR, DEFAULT_MAX_WAIT)?;
        if max_wait > LONGEST_MAX_WAIT {
            return Err(ConfigError::new(MAX_WAIT_VAR, "must be at most 60 s"));
        }
        let resend_after = env.duration(RESEND_AFTER_VAR, DEFAULT_RESEND_AFTER)?;
        if resend_after < SHORTEST_RESEND_AFTER {
            return Err(ConfigError::new(
                RESEND_AFTER_VAR,
                "must be at least 100 ms",
            ));
        }
        let keys_kept = env.duration(KEYS_KEPT_VAR, DEFAULT_KEYS_KEPT)?;
        if !(DEFAULT_KEYS_KEPT..=LONGEST_KEYS_KEPT).contains(&keys_kept) {
            return Err(ConfigError::new(
                KEYS_KEPT_VAR,
                "must be from 86400 s (24 h) to 2592000 s (30 days)",
            ));
        }
        let database = DatabaseConfig::from_env(env)?;
        // The outbox relay and the change listener each hold one connection.
        if database.max_connections < 3 {
            return Err(ConfigError::new(MAX_CONNECTIONS_VAR, "must be at least 3"));
        }
        Ok(Self {
            products_url,
            max_wait,
            resend_after,
            keys_kept,
            limits: OrderLimits::from_env(env)?,
            database,
            tokens,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "0123456789abcdef0123456789abcdef";

    fn env(pairs: &[(&str, &str)]) -> Env {
        let mut env = Env::from_pairs([("SYNCCHAIN_JWT_SECRET", SECRET)]);
        for (name, value) in pairs {
            env.set(*name, *value);
        }
        env
    }

    #[test]
    fn defaults_need_only_a_jwt_secret() {
        let config = Config::from_env(&env(&[])).unwrap();
        assert_eq!(config.products_url, roles::PRODUCTS.default_url());
        assert_eq!(config.max_wait, Duration::from_secs(10));
        assert_eq!(config.resend_after, Duration::from_secs(30));
        assert_eq!(config.keys_kept, Duration::from_secs(86_400));
        assert_eq!(
            config.limits,
            OrderLimits {
                max_pending: 10,
                max_quantity: 1000,
                max_lines: 20,
                max_per_minute: Some(60)
            }
        );
        assert_eq!(config.database.max_connections, 10);
        assert_eq!(
            config.database.options.get_database(),
            Some("syncchain_orders")
        );
    }

    #[test]
    fn a_missing_jwt_secret_is_named() {
        let err = Config::from_env(&Env::default()).unwrap_err();
        assert_eq!(err.var, "SYNCCHAIN_JWT_SECRET");
    }

    #[test]
    fn each_bad_value_names_its_variable() {
        for (var, value) in [
            (DATABASE_URL_VAR, "mysql://nope"),
            (MAX_CONNECTIONS_VAR, "2"),
            (PRODUCTS_URL_VAR, "products:50052"),
            (MAX_WAIT_VAR, "soon"),
            (MAX_WAIT_VAR, "61"),
            (RESEND_AFTER_VAR, "later"),
            (RESEND_AFTER_VAR, "0"),
            (RESEND_AFTER_VAR, "99ms"),
            (MAX_PENDING_VAR, "0"),
            (MAX_PENDING_VAR, "many"),
            (MAX_QUANTITY_VAR, "0"),
            (MAX_QUANTITY_VAR, "-5"),
            (MAX_LINES_VAR, "0"),
            (MAX_LINES_VAR, "101"),
            (MAX_PER_MINUTE_VAR, "-1"),
            (KEYS_KEPT_VAR, "a day"),
            (KEYS_KEPT_VAR, "86399"),
            (KEYS_KEPT_VAR, "2592001"),
        ] {
            let err = Config::from_env(&env(&[(var, value)])).unwrap_err();
            assert_eq!(err.var, var, "{value}");
        }
    }

    #[test]
    fn the_wait_cap_reads_milliseconds() {
        let config = Config::from_env(&env(&[(MAX_WAIT_VAR, "250ms")])).unwrap();
        assert_eq!(config.max_wait, Duration::from_millis(250));
    }

    #[test]
    fn the_resend_delay_reads_milliseconds() {
        let config = Config::from_env(&env(&[(RESEND_AFTER_VAR, "200ms")])).unwrap();
        assert_eq!(config.resend_after, Duration::from_millis(200));
    }

    #[test]
    fn the_order_limits_are_read_and_a_per_minute_limit_is_optional() {
        let config = Config::from_env(&env(&[
            (MAX_PENDING_VAR, "3"),
            (MAX_QUANTITY_VAR, "50"),
            (MAX_PER_MINUTE_VAR, "20"),
        ]))
        .unwrap();
        assert_eq!(config.limits.max_pending, 3);
        assert_eq!(config.limits.max_quantity, 50);
        assert_eq!(config.limits.max_per_minute, Some(20));
        let unlimited = Config::from_env(&env(&[(MAX_PER_MINUTE_VAR, "0")])).unwrap();
        assert_eq!(unlimited.limits.max_per_minute, None);
    }

    #[test]
    fn debug_output_never_shows_secrets() {
        let config = Config::from_env(&env(&[(
            DATABASE_URL_VAR,
            "postgres://u:dbsecret@db:5432/orders",
        )]))
        .unwrap();
        let shown = format!("{config:?}");
        assert!(!shown.contains(SECRET));
        assert!(!shown.contains("dbsecret"));
        assert!(shown.contains("db:5432/orders"));
    }
}
