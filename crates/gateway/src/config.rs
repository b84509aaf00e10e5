//! The gateway's settings, read once from the environment at start.

use std::time::Duration;

use crate::clients::ServiceUrls;
use syncchain_events::EventsConfig;
use syncchain_platform::{
    auth::{JwtSecret, TokenKeys},
    config::{ConfigError, Env, Mode},
    roles::{self, RoleSpec},
};

#[derive(Debug, Clone)]
pub struct Config {
    pub mode: Mode,
    /// Where each service answers gRPC.
    pub services: ServiceUrls,
    /// How long `placeOrder` waits for the saga's outcome before answering
    /// with the order still `PENDING`.
    pub place_order_wait: Duration,
    pub redis_url: String,
    /// Prefix of every Redis key the gateway writes, so several deployments
    /// (or tests) can share one Redis.
    pub redis_prefix: String,
    pub keys: TokenKeys,
    pub limits: Limits,
    pub signin: SignInLimits,
    /// Serve the GraphQL IDE on `GET /graphql`.
    pub graphiql: bool,
    pub introspection: bool,
    /// Take the client address from `X-Forwarded-For` (behind a trusted proxy).
    pub trust_proxy: bool,
    pub http: HttpLimits,
    pub subscriptions: SubscriptionLimits,
    /// The NATS server and namespace whose PRODUCTS stream keeps the
    /// gateway's product reads true.
    pub events: EventsConfig,
    /// `SYNCCHAIN_GATEWAY_PRODUCT_READS`: the most products whose reads the
    /// gateway keeps in memory (0: none, every read asks the products
    /// service).
    pub product_reads: usize,
}

/// How long the HTTP server waits for a client, and how many it holds.
#[derive(Debug, Clone, Copy)]
pub struct HttpLimits {
    /// A request's headers must arrive within this of the connection
    /// opening or the previous response.
    pub header_timeout: Duration,
    /// A request's whole body must arrive within this.
    pub body_timeout: Duration,
    /// A connection with no request in flight is closed after this.
    pub idle_timeout: Duration,
    /// Connections open at once (WebSockets included); more are closed as
    /// they are accepted.
    pub max_connections: usize,
    /// Answering one request may take this long.
    pub request_timeout: Duration,
}

/// How many subscriptions may run at once, and how often a running one
/// checks that its token still counts.
#[derive(Debug, Clone, Copy)]
pub struct SubscriptionLimits {
    pub per_user: usize,
    pub per_socket: usize,
    pub total: usize,
    pub recheck: Duration,
}

/// Bounds on what one request may ask for.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_depth: usize,
    pub max_complexity: usize,
    pub max_body_bytes: usize,
}

/// Sign-in and registration attempts allowed per window before
/// `RATE_LIMITED` (see [`crate::ratelimit`]). Every limit is at least 1.
#[derive(Debug, Clone, Copy)]
pub struct SignInLimits {
    /// `SYNCCHAIN_SIGNIN_MAX_PER_ACCOUNT`: sign-ins on one account from
    /// one client address (IPv6: /64).
    pub per_account: u32,
    /// `SYNCCHAIN_SIGNIN_MAX_PER_ACCOUNT_GLOBAL`: sign-ins on one account
    /// from anywhere.
    pub per_account_global: u32,
    /// `SYNCCHAIN_SIGNIN_MAX_PER_ADDRESS`: sign-ins from one client address.
    pub per_address: u32,
    /// `SYNCCHAIN_REGISTER_MAX_PER_ADDRESS`: registrations from one client address.
    pub register_per_address: u32,
    /// `SYNCCHAIN_REGISTER_MAX_PER_EMAIL`: registrations of one email.
    pub register_per_email: u32,
    /// `SYNCCHAIN_SIGNIN_WINDOW`: the window of all of these.
    pub window: Duration,
}

impl SignInLimits {
    fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let limit = |name: &str, default: u32| -> Result<u32, ConfigError> {
            match env.get(name, default)? {
                0 => Err(ConfigError::new(name, "must be at least 1")),
                n => Ok(n),
            }
        };
        let limits = Self {
            per_account: limit("SYNCCHAIN_SIGNIN_MAX_PER_ACCOUNT", 10)?,
            per_account_global: limit("SYNCCHAIN_SIGNIN_MAX_PER_ACCOUNT_GLOBAL", 100)?,
            per_address: limit("SYNCCHAIN_SIGNIN_MAX_PER_ADDRESS", 100)?,
            register_per_address: limit("SYNCCHAIN_REGISTER_MAX_PER_ADDRESS", 20)?,
            register_per_email: limit("SYNCCHAIN_REGISTER_MAX_PER_EMAIL", 5)?,
            window: env.duration("SYNCCHAIN_SIGNIN_WINDOW", Duration::from_secs(900))?,
        };
        if limits.window.as_secs() == 0 {
            return Err(ConfigError::new(
                "SYNCCHAIN_SIGNIN_WINDOW",
                "must be at least one second",
            ));
        }
        Ok(limits)
    }
}

impl Config {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let mode = Mode::from_env(env)?;
        let secret = JwtSecret::from_env(env)?.ok_or_else(|| {
            ConfigError::new(
                "SYNCCHAIN_JWT_SECRET",
                "not set: give a secret of at least 32 bytes (or SYNCCHAIN_JWT_SECRET_FILE naming a file holding one)",
            )
        })?;
        let ttl = syncchain_platform::auth::token_ttl(env)?;
        let dev = mode == Mode::Dev;
        let place_order_wait =
            env.duration("SYNCCHAIN_PLACE_ORDER_WAIT", Duration::from_secs(2))?;
        if place_order_wait > Duration::from_secs(30) {
            return Err(ConfigError::new(
                "SYNCCHAIN_PLACE_ORDER_WAIT",
                "must be at most 30 s",
            ));
        }
        let limits = Limits {
            max_depth: env.get("SYNCCHAIN_MAX_QUERY_DEPTH", 12)?,
            max_complexity: env.get("SYNCCHAIN_MAX_QUERY_COMPLEXITY", 1000)?,
            max_body_bytes: env.get("SYNCCHAIN_MAX_BODY_BYTES", 1 << 20)?,
        };
        let signin = SignInLimits::from_env(env)?;
        let http = http_limits(env, place_order_wait)?;
        let subscriptions = subscription_limits(env)?;
        Ok(Self {
            mode,
            services: ServiceUrls {
                users: service_url(env, &roles::USERS),
                products: service_url(env, &roles::PRODUCTS),
                orders: service_url(env, &roles::ORDERS),
            },
            place_order_wait,
            redis_url: env.string("SYNCCHAIN_REDIS_URL", "redis://127.0.0.1:6379"),
            redis_prefix: env.string("SYNCCHAIN_REDIS_PREFIX", "syncchain"),
            keys: TokenKeys::new(&secret, ttl),
            limits,
            signin,
            graphiql: env.flag("SYNCCHAIN_GRAPHIQL", dev)?,
            introspection: env.flag("SYNCCHAIN_INTROSPECTION", dev)?,
            trust_proxy: env.flag("SYNCCHAIN_TRUST_PROXY", false)?,
            http,
            subscriptions,
            events: EventsConfig::from_env(env)?,
            product_reads: env.get("SYNCCHAIN_GATEWAY_PRODUCT_READS", 10_000)?,
        })
    }
}

/// Where the gateway calls a service: its URL variable, else its default
/// address from the roles table.
fn service_url(env: &Env, role: &RoleSpec) -> String {
    env.string(role.called_at(), &role.default_url())
}

fn positive(env: &Env, name: &str, default: Duration) -> Result<Duration, ConfigError> {
    let value = env.duration(name, default)?;
    if value.is_zero() {
        return Err(ConfigError::new(name, "must be positive"));
    }
    Ok(value)
}

fn count(env: &Env, name: &str, default: usize, max: usize) -> Result<usize, ConfigError> {
    let value = env.get(name, default)?;
    if value == 0 || value > max {
        return Err(ConfigError::new(name, format!("must be 1 to {max}")));
    }
    Ok(value)
}

fn http_limits(env: &Env, place_order_wait: Duration) -> Result<HttpLimits, ConfigError> {
    let limits = HttpLimits {
        header_timeout: positive(
            env,
            "SYNCCHAIN_HTTP_HEADER_TIMEOUT",
            Duration::from_secs(10),
        )?,
        body_timeout: positive(env, "SYNCCHAIN_HTTP_BODY_TIMEOUT", Duration::from_secs(10))?,
        idle_timeout: positive(env, "SYNCCHAIN_HTTP_IDLE_TIMEOUT", Duration::from_secs(60))?,
        max_connections: count(env, "SYNCCHAIN_HTTP_MAX_CONNECTIONS", 10_000, 1_000_000)?,
        request_timeout: positive(
            env,
            "SYNCCHAIN_HTTP_REQUEST_TIMEOUT",
            Duration::from_secs(40),
        )?,
    };
    if limits.request_timeout <= place_order_wait {
        return Err(ConfigError::new(
            "SYNCCHAIN_HTTP_REQUEST_TIMEOUT",
            "must be longer than SYNCCHAIN_PLACE_ORDER_WAIT",
        ));
    }
    Ok(limits)
}

fn subscription_limits(env: &Env) -> Result<SubscriptionLimits, ConfigError> {
    Ok(SubscriptionLimits {
        per_user: count(env, "SYNCCHAIN_SUBSCRIPTIONS_PER_USER", 20, 100_000)?,
        per_socket: count(env, "SYNCCHAIN_SUBSCRIPTIONS_PER_SOCKET", 20, 100_000)?,
        total: count(env, "SYNCCHAIN_SUBSCRIPTIONS_TOTAL", 10_000, 1_000_000)?,
        recheck: positive(
            env,
            "SYNCCHAIN_SUBSCRIPTION_RECHECK",
            Duration::from_secs(5),
        )?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_in_and_registration_limits_have_defaults() {
        let limits = SignInLimits::from_env(&Env::default()).unwrap();
        assert_eq!(
            (
                limits.per_account,
                limits.per_account_global,
                limits.per_address,
                limits.register_per_address,
                limits.register_per_email,
                limits.window,
            ),
            (10, 100, 100, 20, 5, Duration::from_secs(900))
        );
    }

    #[test]
    fn a_zero_or_unreadable_limit_is_named() {
        for var in [
            "SYNCCHAIN_SIGNIN_MAX_PER_ACCOUNT",
            "SYNCCHAIN_SIGNIN_MAX_PER_ACCOUNT_GLOBAL",
            "SYNCCHAIN_SIGNIN_MAX_PER_ADDRESS",
            "SYNCCHAIN_REGISTER_MAX_PER_ADDRESS",
            "SYNCCHAIN_REGISTER_MAX_PER_EMAIL",
        ] {
            for value in ["0", "-1", "lots"] {
                let err = SignInLimits::from_env(&Env::from_pairs([(var, value)])).unwrap_err();
                assert_eq!(err.var, var, "{value}");
            }
        }
        let err = SignInLimits::from_env(&Env::from_pairs([("SYNCCHAIN_SIGNIN_WINDOW", "0")]))
            .unwrap_err();
        assert_eq!(err.var, "SYNCCHAIN_SIGNIN_WINDOW");
    }
}
