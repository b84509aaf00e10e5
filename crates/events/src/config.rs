//! Where events go: the NATS server and the namespace that prefixes every
//! subject and stream name. The namespace lets several deployments (or
//! every test) share one NATS server without seeing each other's events, so
//! it is validated once, here, and every name is derived from it.

use std::{fmt, str::FromStr};

use syncchain_platform::config::{ConfigError, Env};

/// The variable naming the NATS server.
pub const NATS_URL_VAR: &str = "SYNCCHAIN_NATS_URL";
/// The variable naming the namespace.
pub const NAMESPACE_VAR: &str = "SYNCCHAIN_EVENTS_NAMESPACE";
/// The variable giving how many NATS servers keep a copy of each stream.
pub const STREAM_REPLICAS_VAR: &str = "SYNCCHAIN_STREAM_REPLICAS";

/// JetStream replicates a stream on at most five servers.
const MAX_STREAM_REPLICAS: usize = 5;

const MAX_NAMESPACE_LEN: usize = 64;

/// Settings every process that publishes or consumes events needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventsConfig {
    pub nats_url: String,
    pub namespace: Namespace,
    /// Copies of each stream: 1 on a single server, 3 on a three-node
    /// cluster so a stream survives the loss of one server.
    pub stream_replicas: usize,
}

impl EventsConfig {
    /// Reads `SYNCCHAIN_NATS_URL`, `SYNCCHAIN_EVENTS_NAMESPACE` and
    /// `SYNCCHAIN_STREAM_REPLICAS`.
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let namespace = env
            .string(NAMESPACE_VAR, "syncchain")
            .parse()
            .map_err(|e: InvalidNamespace| ConfigError::new(NAMESPACE_VAR, e.to_string()))?;
        let replicas = env.string(STREAM_REPLICAS_VAR, "1");
        let stream_replicas = replicas
            .trim()
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=MAX_STREAM_REPLICAS).contains(n))
            .ok_or_else(|| {
                ConfigError::new(
                    STREAM_REPLICAS_VAR,
                    format!("{replicas:?} must be a whole number from 1 to {MAX_STREAM_REPLICAS}"),
                )
            })?;
        Ok(Self {
            nats_url: env.string(NATS_URL_VAR, "nats://127.0.0.1:4222"),
            namespace,
            stream_replicas,
        })
    }
}

/// A namespace that is not made of `[a-z0-9_-]`, or is empty or too long.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "namespace {0:?} must be 1 to {MAX_NAMESPACE_LEN} characters of lowercase letters, digits, '_' or '-'"
)]
pub struct InvalidNamespace(pub String);

/// The prefix of every subject (`{ns}.users.registered`) and stream name
/// (`{NS}_USERS`). Only `[a-z0-9_-]`, so it can never add a subject token,
/// a wildcard, or a character stream names forbid.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Namespace(String);

impl Namespace {
    pub fn new(value: impl Into<String>) -> Result<Self, InvalidNamespace> {
        let value = value.into();
        let valid = !value.is_empty()
            && value.len() <= MAX_NAMESPACE_LEN
            && value
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-');
        if valid {
            Ok(Self(value))
        } else {
            Err(InvalidNamespace(value))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The subject an event type is published on: `{ns}.{event_type}`.
    pub fn subject(&self, event_type: &str) -> String {
        format!("{}.{event_type}", self.0)
    }

    /// A stream name: `{NS}_{name}`, e.g. `SYNCCHAIN_USERS`.
    pub fn stream(&self, name: &str) -> String {
        format!("{}_{name}", self.0.to_ascii_uppercase())
    }
}

impl FromStr for Namespace {
    type Err = InvalidNamespace;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::new(s)
    }
}

impl fmt::Display for Namespace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_namespace_of_lowercase_letters_digits_underscores_and_hyphens_is_accepted() {
        for ok in ["syncchain", "t0123456789ab", "a_b-c", "x", &"a".repeat(64)] {
            assert!(Namespace::new(ok).is_ok(), "{ok}");
        }
    }

    #[test]
    fn a_namespace_that_could_change_a_subject_or_stream_name_is_refused() {
        for bad in [
            "",
            "Upper",
            "a.b",
            "a*",
            "a>",
            "a b",
            "a/b",
            "é",
            &"a".repeat(65),
        ] {
            assert_eq!(Namespace::new(bad), Err(InvalidNamespace(bad.to_owned())));
        }
    }

    #[test]
    fn subjects_and_streams_are_derived_from_the_namespace() {
        let ns = Namespace::new("shop-1").unwrap();
        assert_eq!(ns.subject("users.registered"), "shop-1.users.registered");
        assert_eq!(ns.stream("USERS"), "SHOP-1_USERS");
    }

    #[test]
    fn the_config_defaults_to_the_local_server_and_the_syncchain_namespace() {
        let config = EventsConfig::from_env(&Env::from_pairs::<&str, &str>([])).unwrap();
        assert_eq!(config.nats_url, "nats://127.0.0.1:4222");
        assert_eq!(config.namespace.as_str(), "syncchain");
        assert_eq!(config.stream_replicas, 1);
    }

    #[test]
    fn stream_replicas_from_one_to_five_are_accepted() {
        for n in 1..=5 {
            let value = n.to_string();
            let env = Env::from_pairs([(STREAM_REPLICAS_VAR, value.as_str())]);
            assert_eq!(EventsConfig::from_env(&env).unwrap().stream_replicas, n);
        }
    }

    #[test]
    fn stream_replicas_outside_one_to_five_are_refused_naming_the_variable() {
        for bad in ["0", "6", "-1", "three"] {
            let env = Env::from_pairs([(STREAM_REPLICAS_VAR, bad)]);
            let err = EventsConfig::from_env(&env).unwrap_err();
            assert_eq!(err.var, STREAM_REPLICAS_VAR, "{bad:?}");
        }
    }

    #[test]
    fn an_invalid_namespace_variable_is_named_in_the_error() {
        let env = Env::from_pairs([(NAMESPACE_VAR, "Not.Valid")]);
        let err = EventsConfig::from_env(&env).unwrap_err();
        assert_eq!(err.var, NAMESPACE_VAR);
    }
}
