//! Configuration comes from environment variables, optionally preloaded from
//! a `KEY=VALUE` file named by `SYNCCHAIN_CONFIG_FILE` (real environment
//! variables win). Each process builds its own typed settings from an [`Env`]
//! once, at start; a bad value fails there with an error naming the variable,
//! never later in the middle of a request.

use std::{collections::HashMap, fmt::Display, str::FromStr, time::Duration};

use secrecy::SecretString;

/// A variable that is missing or does not parse; names the variable.
#[derive(Debug, thiserror::Error)]
#[error("configuration variable {var}: {message}")]
pub struct ConfigError {
    pub var: String,
    pub message: String,
}

impl ConfigError {
    pub fn new(var: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            var: var.into(),
            message: message.into(),
        }
    }
}

/// A snapshot of the configuration variables, read once.
/// Settings read from the environment and validated once, at start.
pub trait FromEnv: Sized {
    fn from_env(env: &Env) -> Result<Self, ConfigError>;
}

#[derive(Clone, Default)]
pub struct Env {
    vars: HashMap<String, String>,
}

impl std::fmt::Debug for Env {
    // Values may be secrets: only the names are shown.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut names: Vec<_> = self.vars.keys().collect();
        names.sort();
        f.debug_struct("Env").field("names", &names).finish()
    }
}

impl Env {
    /// The process environment, on top of `SYNCCHAIN_CONFIG_FILE` if set.
    pub fn from_process() -> Result<Self, ConfigError> {
        let mut vars = HashMap::new();
        if let Ok(path) = std::env::var("SYNCCHAIN_CONFIG_FILE") {
            let text = std::fs::read_to_string(&path).map_err(|e| {
                ConfigError::new("SYNCCHAIN_CONFIG_FILE", format!("cannot read {path}: {e}"))
            })?;
            vars.extend(parse_file(&text).map_err(|line| {
                ConfigError::new(
                    "SYNCCHAIN_CONFIG_FILE",
                    format!("{path} line {line} is not KEY=VALUE"),
                )
            })?);
        }
        vars.extend(std::env::vars());
        Ok(Self { vars })
    }

    /// Exactly these variables; for tests and for `syncchain dev`.
    pub fn from_pairs<K: Into<String>, V: Into<String>>(
        pairs: impl IntoIterator<Item = (K, V)>,
    ) -> Self {
        Self {
            vars: pairs
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        }
    }

    /// Sets a variable, overriding what was read.
    pub fn set(&mut self, name: impl Into<String>, value: impl Into<String>) {
        self.vars.insert(name.into(), value.into());
    }

    /// The raw value when set and not empty.
    pub fn raw(&self, name: &str) -> Option<&str> {
        self.vars
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.trim().is_empty())
    }

    /// A parsed value, or `default` when the variable is unset.
    pub fn get<T>(&self, name: &str, default: T) -> Result<T, ConfigError>
    where
        T: FromStr,
        T::Err: Display,
    {
        Ok(self.optional(name)?.unwrap_or(default))
    }

    /// A parsed value when set.
    pub fn optional<T>(&self, name: &str) -> Result<Option<T>, ConfigError>
    where
        T: FromStr,
        T::Err: Display,
    {
        self.raw(name)
            .map(|raw| {
                raw.trim()
                    .parse::<T>()
                    .map_err(|e| ConfigError::new(name, format!("invalid value: {e}")))
            })
            .transpose()
    }

    /// A string, or `default` when unset.
    pub fn string(&self, name: &str, default: &str) -> String {
        self.raw(name).unwrap_or(default).to_owned()
    }

    /// A boolean (`true`/`false`/`1`/`0`/`yes`/`no`), or `default`.
    pub fn flag(&self, name: &str, default: bool) -> Result<bool, ConfigError> {
        match self.raw(name).map(|v| v.trim().to_ascii_lowercase()) {
            None => Ok(default),
            Some(v) if matches!(v.as_str(), "1" | "true" | "yes" | "on") => Ok(true),
            Some(v) if matches!(v.as_str(), "0" | "false" | "no" | "off") => Ok(false),
            Some(_) => Err(ConfigError::new(name, "expected true or false")),
        }
    }

    /// A duration written in whole seconds (`30`) or milliseconds (`250ms`).
    pub fn duration(&self, name: &str, default: Duration) -> Result<Duration, ConfigError> {
        let Some(raw) = self.raw(name).map(str::trim) else {
            return Ok(default);
        };
        let parsed = if let Some(ms) = raw.strip_suffix("ms") {
            ms.trim().parse().map(Duration::from_millis)
        } else {
            raw.strip_suffix('s')
                .unwrap_or(raw)
                .trim()
                .parse()
                .map(Duration::from_secs)
        };
        parsed.map_err(|_| ConfigError::new(name, "expected seconds (30) or milliseconds (250ms)"))
    }

    /// A secret value, never shown by `Debug`.
    pub fn secret(&self, name: &str) -> Option<SecretString> {
        self.raw(name).map(|v| SecretString::from(v.to_owned()))
    }
}

fn parse_file(text: &str) -> Result<Vec<(String, String)>, usize> {
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
        .map(|(i, l)| {
            let (k, v) = l.split_once('=').ok_or(i + 1)?;
            let v = v.trim();
            let v = v
                .strip_prefix('"')
                .and_then(|v| v.strip_suffix('"'))
                .unwrap_or(v);
            Ok((k.trim().to_owned(), v.to_owned()))
        })
        .collect()
}

/// Whether the process runs for local development or in production. Dev
/// relaxes what is safe to relax (GraphiQL, introspection, readable logs);
/// production insists on explicit secrets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Dev,
    Production,
}

impl FromStr for Mode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "dev" | "development" => Ok(Self::Dev),
            "prod" | "production" => Ok(Self::Production),
            other => Err(format!(
                "unknown mode {other:?}, expected dev or production"
            )),
        }
    }
}

impl Mode {
    /// `SYNCCHAIN_ENV`, production unless said otherwise.
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        env.get("SYNCCHAIN_ENV", Mode::Production)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bad_value_names_its_variable() {
        let env = Env::from_pairs([("SYNCCHAIN_X", "abc")]);
        let err = env.get::<u32>("SYNCCHAIN_X", 1).unwrap_err();
        assert_eq!(err.var, "SYNCCHAIN_X");
        assert!(err.to_string().contains("SYNCCHAIN_X"));
    }

    #[test]
    fn unset_and_empty_values_fall_back_to_the_default() {
        let env = Env::from_pairs([("SYNCCHAIN_EMPTY", " ")]);
        assert_eq!(env.get("SYNCCHAIN_EMPTY", 7u32).unwrap(), 7);
        assert_eq!(env.get("SYNCCHAIN_UNSET", 8u32).unwrap(), 8);
    }

    #[test]
    fn durations_read_seconds_and_milliseconds() {
        let env = Env::from_pairs([("A", "30"), ("B", "250ms"), ("C", "2s"), ("D", "x")]);
        let d = Duration::ZERO;
        assert_eq!(env.duration("A", d).unwrap(), Duration::from_secs(30));
        assert_eq!(env.duration("B", d).unwrap(), Duration::from_millis(250));
        assert_eq!(env.duration("C", d).unwrap(), Duration::from_secs(2));
        assert!(env.duration("D", d).is_err());
    }

    #[test]
    fn a_config_file_reads_key_value_lines_and_comments() {
        let parsed = parse_file("# c\nA=1\n B = \"two\" \n\n").unwrap();
        assert_eq!(
            parsed,
            vec![("A".into(), "1".into()), ("B".into(), "two".into())]
        );
        assert_eq!(parse_file("A=1\nnot a pair"), Err(2));
    }

    #[test]
    fn debug_output_shows_names_but_never_values() {
        let env = Env::from_pairs([("SYNCCHAIN_JWT_SECRET", "hunter2hunter2")]);
        let shown = format!("{env:?}");
        assert!(shown.contains("SYNCCHAIN_JWT_SECRET"));
        assert!(!shown.contains("hunter2"));
    }
}
