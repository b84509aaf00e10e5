//! One place sets up logging. Messages are constant strings with structured
//! fields; JSON in production so a collector can index them, readable text
//! in development. The filter comes from `SYNCCHAIN_LOG` (or `RUST_LOG`).

use std::str::FromStr;

use tracing_subscriber::{EnvFilter, fmt, prelude::*};

use crate::config::{ConfigError, Env, Mode};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Pretty,
    Json,
}

impl FromStr for LogFormat {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "pretty" | "text" => Ok(Self::Pretty),
            "json" => Ok(Self::Json),
            other => Err(format!(
                "unknown log format {other:?}, expected pretty or json"
            )),
        }
    }
}

#[derive(Debug, Clone)]
pub struct LogConfig {
    pub format: LogFormat,
    pub filter: String,
}

impl LogConfig {
    pub fn from_env(env: &Env, mode: Mode) -> Result<Self, ConfigError> {
        let default_format = match mode {
            Mode::Dev => LogFormat::Pretty,
            Mode::Production => LogFormat::Json,
        };
        let filter = env
            .raw("SYNCCHAIN_LOG")
            .or(env.raw("RUST_LOG"))
            .unwrap_or("info,sqlx=warn,async_nats=warn,tower_http=warn,h2=warn")
            .to_owned();
        EnvFilter::try_new(&filter)
            .map_err(|e| ConfigError::new("SYNCCHAIN_LOG", e.to_string()))?;
        Ok(Self {
            format: env.get("SYNCCHAIN_LOG_FORMAT", default_format)?,
            filter,
        })
    }
}

/// Installs the global subscriber. Calling it twice is harmless (the second
/// call does nothing), so tests may call it freely.
pub fn init(config: &LogConfig) {
    let filter = EnvFilter::try_new(&config.filter).unwrap_or_else(|_| EnvFilter::new("info"));
    let registry = tracing_subscriber::registry().with(filter);
    let _ = match config.format {
        LogFormat::Json => registry
            .with(
                fmt::layer()
                    .json()
                    .flatten_event(true)
                    .with_current_span(true),
            )
            .try_init(),
        LogFormat::Pretty => registry
            .with(
                fmt::layer()
                    .compact()
                    .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stdout())),
            )
            .try_init(),
    };
}
