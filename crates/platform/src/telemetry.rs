//! One place sets up logging and tracing. Messages are constant strings
//! with structured fields; JSON in production so a collector can index
//! them, readable text in development. The filter comes from
//! `SYNCCHAIN_LOG` (or `RUST_LOG`).
//!
//! Spans are exported with OTLP over HTTP when the standard variables ask
//! for it ([`TraceConfig`]): `OTEL_EXPORTER_OTLP_ENDPOINT` (or
//! `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`), `OTEL_EXPORTER_OTLP_PROTOCOL`
//! (`http/protobuf`, the default, or `http/json`), `OTEL_SERVICE_NAME`, and
//! `OTEL_TRACES_SAMPLER` with `OTEL_TRACES_SAMPLER_ARG`, which the SDK reads
//! itself, as it does `OTEL_BSP_*`. Without an endpoint there is no
//! exporter, no propagator and no OpenTelemetry layer: nothing is exported
//! and nothing is slowed.

use std::str::FromStr;

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::{Protocol, WithExportConfig};
use opentelemetry_sdk::{
    Resource,
    propagation::TraceContextPropagator,
    trace::{SdkTracer, SdkTracerProvider},
};
use tracing::Subscriber;
use tracing_subscriber::{EnvFilter, Layer, fmt, prelude::*, registry::LookupSpan};

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

/// The samplers `OTEL_TRACES_SAMPLER` may name.
const SAMPLERS: [&str; 6] = [
    "always_on",
    "always_off",
    "traceidratio",
    "parentbased_always_on",
    "parentbased_always_off",
    "parentbased_traceidratio",
];

/// Where and how spans are exported; `None` from [`TraceConfig::from_env`]
/// when no endpoint is set.
#[derive(Debug, Clone, PartialEq)]
pub struct TraceConfig {
    /// The traces URL itself: `<OTEL_EXPORTER_OTLP_ENDPOINT>/v1/traces`,
    /// or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` as given.
    pub endpoint: String,
    pub json: bool,
    pub service_name: String,
}

impl TraceConfig {
    /// Reads the standard variables; `default_service` names the process
    /// when `OTEL_SERVICE_NAME` does not.
    pub fn from_env(env: &Env, default_service: &str) -> Result<Option<Self>, ConfigError> {
        let non_empty = |name| env.raw(name).map(str::trim).filter(|v| !v.is_empty());
        let endpoint = match (
            non_empty("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"),
            non_empty("OTEL_EXPORTER_OTLP_ENDPOINT"),
        ) {
            (Some(traces), _) => ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", traces.to_owned()),
            (None, Some(base)) => (
                "OTEL_EXPORTER_OTLP_ENDPOINT",
                format!("{}/v1/traces", base.trim_end_matches('/')),
            ),
            (None, None) => return Ok(None),
        };
        let (variable, endpoint) = endpoint;
        if !(endpoint.starts_with("http://") || endpoint.starts_with("https://")) {
            return Err(ConfigError::new(
                variable,
                format!("{endpoint:?} is not an http:// or https:// URL"),
            ));
        }
        let json = match non_empty("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
            .or(non_empty("OTEL_EXPORTER_OTLP_PROTOCOL"))
        {
            None | Some("http/protobuf") => false,
            Some("http/json") => true,
            Some(other) => {
                return Err(ConfigError::new(
                    "OTEL_EXPORTER_OTLP_PROTOCOL",
                    format!("{other:?} is not supported; use http/protobuf or http/json"),
                ));
            }
        };
        if let Some(sampler) = non_empty("OTEL_TRACES_SAMPLER")
            && !SAMPLERS.contains(&sampler)
        {
            return Err(ConfigError::new(
                "OTEL_TRACES_SAMPLER",
                format!("{sampler:?} is not one of {}", SAMPLERS.join(", ")),
            ));
        }
        if let Some(ratio) = non_empty("OTEL_TRACES_SAMPLER_ARG")
            && !ratio.parse::<f64>().is_ok_and(|r| (0.0..=1.0).contains(&r))
        {
            return Err(ConfigError::new(
                "OTEL_TRACES_SAMPLER_ARG",
                format!("{ratio:?} is not a ratio from 0 to 1"),
            ));
        }
        Ok(Some(Self {
            endpoint,
            json,
            service_name: non_empty("OTEL_SERVICE_NAME")
                .unwrap_or(default_service)
                .to_owned(),
        }))
    }
}

/// What [`init`] set up; [`Telemetry::shutdown`] sends the spans still
/// buffered before the process exits.
#[must_use]
pub struct Telemetry {
    provider: Option<SdkTracerProvider>,
}

impl Telemetry {
    pub fn shutdown(self) {
        if let Some(provider) = self.provider
            && let Err(error) = provider.shutdown()
        {
            tracing::warn!(%error, "cannot send the last spans");
        }
    }
}

/// Installs the global subscriber, with span export when `traces` says
/// where. Calling it twice is harmless (the second call does nothing), so
/// tests may call it freely. Fails only when the exporter cannot be built.
pub fn init(config: &LogConfig, traces: Option<&TraceConfig>) -> anyhow::Result<Telemetry> {
    let provider = traces.map(exporter).transpose()?;
    let tracer = provider.as_ref().map(|p| p.tracer("syncchain"));
    if provider.is_some() {
        opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
    }
    // The log filter is the fmt layer's alone: `SYNCCHAIN_LOG=warn` keeps
    // the logs quiet without dropping the info-level spans of a trace.
    let filter = EnvFilter::try_new(&config.filter).unwrap_or_else(|_| EnvFilter::new("info"));
    let registry = tracing_subscriber::registry().with(spans(tracer));
    let _ = match config.format {
        LogFormat::Json => registry
            .with(
                fmt::layer()
                    .json()
                    .flatten_event(true)
                    .with_current_span(true)
                    .with_filter(filter),
            )
            .try_init(),
        LogFormat::Pretty => registry
            .with(
                fmt::layer()
                    .compact()
                    .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stdout()))
                    .with_filter(filter),
            )
            .try_init(),
    };
    Ok(Telemetry { provider })
}

/// The layer that turns our info-level spans into OpenTelemetry spans,
/// when exporting.
fn spans<S>(tracer: Option<SdkTracer>) -> Option<impl Layer<S>>
where
    S: Subscriber + for<'span> LookupSpan<'span>,
{
    tracer.map(|tracer| {
        tracing_opentelemetry::layer()
            .with_tracer(tracer)
            .with_filter(EnvFilter::new("warn,syncchain=info,syncchain_gateway=info,syncchain_users=info,syncchain_products=info,syncchain_orders=info,syncchain_events=info,syncchain_host=info,syncchain_platform=info"))
    })
}

fn exporter(config: &TraceConfig) -> anyhow::Result<SdkTracerProvider> {
    let protocol = if config.json {
        Protocol::HttpJson
    } else {
        Protocol::HttpBinary
    };
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_protocol(protocol)
        .with_endpoint(config.endpoint.clone())
        .build()?;
    Ok(SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(
            Resource::builder()
                .with_service_name(config.service_name.clone())
                .build(),
        )
        .build())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(pairs: &[(&str, &str)]) -> Result<Option<TraceConfig>, ConfigError> {
        TraceConfig::from_env(&Env::from_pairs(pairs.iter().copied()), "syncchain-orders")
    }

    #[test]
    fn without_an_endpoint_nothing_is_exported() {
        assert!(matches!(config(&[]), Ok(None)));
        assert!(matches!(
            config(&[("OTEL_EXPORTER_OTLP_ENDPOINT", " ")]),
            Ok(None)
        ));
    }

    #[test]
    fn the_standard_variables_pick_the_url_the_protocol_and_the_name() {
        let traced = config(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318/")])
            .expect("valid")
            .expect("exported");
        assert_eq!(traced.endpoint, "http://collector:4318/v1/traces");
        assert!(!traced.json);
        assert_eq!(traced.service_name, "syncchain-orders");

        let traced = config(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://ignored:4318"),
            (
                "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
                "https://traces.example/otlp",
            ),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json"),
            ("OTEL_SERVICE_NAME", "orders-eu-1"),
        ])
        .expect("valid")
        .expect("exported");
        assert_eq!(traced.endpoint, "https://traces.example/otlp");
        assert!(traced.json);
        assert_eq!(traced.service_name, "orders-eu-1");
    }

    #[test]
    fn unsupported_or_malformed_settings_name_their_variable() {
        let endpoint = ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318");
        for (pairs, variable) in [
            (
                vec![("OTEL_EXPORTER_OTLP_ENDPOINT", "collector:4318")],
                "OTEL_EXPORTER_OTLP_ENDPOINT",
            ),
            (
                vec![endpoint, ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")],
                "OTEL_EXPORTER_OTLP_PROTOCOL",
            ),
            (
                vec![endpoint, ("OTEL_TRACES_SAMPLER", "sometimes")],
                "OTEL_TRACES_SAMPLER",
            ),
            (
                vec![endpoint, ("OTEL_TRACES_SAMPLER_ARG", "1.5")],
                "OTEL_TRACES_SAMPLER_ARG",
            ),
        ] {
            let error = config(&pairs).expect_err("refused");
            assert!(error.to_string().contains(variable), "{error}");
        }
    }
}
