//! One order is one trace: with the standard OTLP variables set, the
//! gateway, users, products and orders, each a `syncchain serve` process of
//! its own, export their spans to a collector (here, one in the test that
//! takes OTLP/HTTP JSON), and the spans of one `placeOrder` share one trace
//! id across the gateway, orders, both relays and products and back, each
//! with its parent in the same trace.

use std::{
    collections::{HashMap, HashSet},
    process::Stdio,
    sync::{Arc, Mutex},
    time::Duration,
};

use axum::{Router, body::Bytes, extract::State, routing::post};
use serde_json::Value;
use syncchain_platform::roles::{self, RoleSpec};
use tokio::{net::TcpListener, process::Command};

use crate::support::{Client, Settings, unique_email};

/// A span the trace must hold: process, span name, and an attribute that
/// tells it apart, if one must.
type Expected = (
    &'static str,
    &'static str,
    Option<(&'static str, &'static str)>,
);

/// A span as the collector received it.
#[derive(Debug, Clone)]
struct Span {
    service: String,
    trace_id: String,
    span_id: String,
    parent_id: String,
    name: String,
    start: u64,
    end: u64,
    attributes: HashMap<String, String>,
}

#[derive(Clone, Default)]
struct Collected(Arc<Mutex<Vec<Span>>>);

impl Collected {
    fn spans(&self) -> Vec<Span> {
        self.0.lock().map(|s| s.clone()).unwrap_or_default()
    }
}

async fn receive(State(collected): State<Collected>, body: Bytes) -> &'static str {
    let Ok(export) = serde_json::from_slice::<Value>(&body) else {
        return "{}";
    };
    let mut received = Vec::new();
    for resource in export["resourceSpans"].as_array().into_iter().flatten() {
        let service = attributes(&resource["resource"]["attributes"])
            .remove("service.name")
            .unwrap_or_default();
        for scope in resource["scopeSpans"].as_array().into_iter().flatten() {
            for span in scope["spans"].as_array().into_iter().flatten() {
                received.push(Span {
                    service: service.clone(),
                    trace_id: text(&span["traceId"]),
                    span_id: text(&span["spanId"]),
                    parent_id: text(&span["parentSpanId"]),
                    name: text(&span["name"]),
                    start: number(&span["startTimeUnixNano"]),
                    end: number(&span["endTimeUnixNano"]),
                    attributes: attributes(&span["attributes"]),
                });
            }
        }
    }
    if let Ok(mut spans) = collected.0.lock() {
        spans.extend(received);
    }
    "{}"
}

fn text(value: &Value) -> String {
    value.as_str().unwrap_or_default().to_owned()
}

fn number(value: &Value) -> u64 {
    value
        .as_u64()
        .or_else(|| value.as_str().and_then(|s| s.parse().ok()))
        .unwrap_or(0)
}

fn attributes(list: &Value) -> HashMap<String, String> {
    list.as_array()
        .into_iter()
        .flatten()
        .map(|kv| {
            let value = &kv["value"];
            let value = value["stringValue"]
                .as_str()
                .map(str::to_owned)
                .unwrap_or_else(|| value.to_string());
            (text(&kv["key"]), value)
        })
        .collect()
}

/// A `syncchain serve <role>` process, killed when dropped.
fn serve(role: &str, vars: &[(String, String)]) -> tokio::process::Child {
    Command::new(env!("CARGO_BIN_EXE_syncchain"))
        .args(["serve", role])
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .envs(vars.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .expect("syncchain starts")
}

async fn wait_ready(http: &reqwest::Client, port: u16) {
    let url = format!("http://127.0.0.1:{port}/readyz");
    let ready = syncchain_testkit::eventually(Duration::from_secs(30), || async {
        matches!(http.get(&url).send().await, Ok(r) if r.status().is_success())
    })
    .await;
    assert!(ready, "{url} did not become ready");
}

#[tokio::test]
async fn one_orders_spans_share_one_trace_across_every_process() {
    let collected = Collected::default();
    let collector = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let collector_url = format!("http://{}", collector.local_addr().expect("bound"));
    let app = Router::new()
        .route("/v1/traces", post(receive))
        .with_state(collected.clone());
    tokio::spawn(async move { axum::serve(collector, app).await });

    let mut settings = Settings::fresh(&syncchain_testkit::nats_url()).await;
    settings.set("SYNCCHAIN_LOG", "warn");
    settings.set("OTEL_EXPORTER_OTLP_ENDPOINT", &collector_url);
    settings.set("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json");
    settings.set("OTEL_BSP_SCHEDULE_DELAY", "100");
    let port = |_: &RoleSpec| syncchain_testkit::process::spare_port();
    let ports: Vec<(&RoleSpec, u16)> = [
        &roles::USERS,
        &roles::PRODUCTS,
        &roles::ORDERS,
        &roles::GATEWAY,
        &roles::GATEWAY_ADMIN,
    ]
    .into_iter()
    .map(|role| (role, port(role)))
    .collect();
    for (role, port) in &ports {
        settings.set(role.addr_var, &format!("127.0.0.1:{port}"));
        if let Some(url_var) = role.url_var {
            settings.set(url_var, &format!("http://127.0.0.1:{port}"));
        }
    }
    let port_of = |name: &str| {
        ports
            .iter()
            .find(|(role, _)| role.name == name)
            .map(|(_, port)| *port)
            .expect("a port")
    };

    let http = reqwest::Client::new();
    let mut processes = Vec::new();
    for role in ["users", "products", "orders"] {
        processes.push(serve(role, settings.vars()));
    }
    for role in ["users", "products", "orders"] {
        wait_ready(&http, port_of(role)).await;
    }
    processes.push(serve("gateway", settings.vars()));
    wait_ready(&http, port_of("gateway admin")).await;

    let client = Client::new(
        format!("http://127.0.0.1:{}", port_of("gateway")),
        format!("http://127.0.0.1:{}", port_of("gateway admin")),
        settings.admin_email.clone(),
    );
    let admin = client.admin_token().await;
    let product = client.product(&admin, "Traced", 300, 4).await;
    let (_, customer) = client.customer(&unique_email("traced")).await;
    let placed = client.place_order(&customer, &product, 1).await;
    assert_eq!(
        placed["data"]["placeOrder"]["status"], "CONFIRMED",
        "{placed}"
    );

    // The spans that must be in the order's trace: (process, span name,
    // an attribute it has, if one tells it apart).
    let expected: [Expected; 9] = [
        ("syncchain-gateway", "http_request", None),
        (
            "syncchain-gateway",
            "graphql_operation",
            Some(("operation", "placeOrder")),
        ),
        (
            "syncchain-orders",
            "grpc_call",
            Some(("method", "orders.v1.Orders/PlaceOrder")),
        ),
        (
            "syncchain-products",
            "grpc_call",
            Some(("method", "products.v1.Products/GetProduct")),
        ),
        (
            "syncchain-orders",
            "outbox_publish",
            Some(("event.type", "orders.placed")),
        ),
        (
            "syncchain-products",
            "consume",
            Some(("event.type", "orders.placed")),
        ),
        (
            "syncchain-products",
            "outbox_publish",
            Some(("event.type", "stock.reserved")),
        ),
        (
            "syncchain-orders",
            "consume",
            Some(("event.type", "stock.reserved")),
        ),
        (
            "syncchain-orders",
            "outbox_publish",
            Some(("event.type", "orders.settled")),
        ),
    ];
    let trace = |spans: &[Span]| -> Option<Vec<Span>> {
        let root = spans.iter().find(|s| {
            s.name == "graphql_operation"
                && s.attributes.get("operation").map(String::as_str) == Some("placeOrder")
        })?;
        let trace: Vec<Span> = spans
            .iter()
            .filter(|s| s.trace_id == root.trace_id)
            .cloned()
            .collect();
        let complete = expected.iter().all(|(service, name, attribute)| {
            trace.iter().any(|s| {
                s.service == *service
                    && s.name == *name
                    && attribute
                        .is_none_or(|(k, v)| s.attributes.get(k).map(String::as_str) == Some(v))
            })
        });
        complete.then_some(trace)
    };
    let mut found = None;
    for _ in 0..100 {
        found = trace(&collected.spans());
        if found.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let spans = collected.spans();
    let Some(mut trace) = found else {
        let seen: Vec<String> = spans
            .iter()
            .map(|s| format!("{} {} {} {:?}", s.trace_id, s.service, s.name, s.attributes))
            .collect();
        panic!(
            "the order's trace is incomplete; spans received:\n{}",
            seen.join("\n")
        );
    };

    // One trace, whole: every span but the root has its parent in it.
    let ids: HashSet<&str> = trace.iter().map(|s| s.span_id.as_str()).collect();
    let roots: Vec<&Span> = trace.iter().filter(|s| s.parent_id.is_empty()).collect();
    assert_eq!(roots.len(), 1, "one root: {roots:#?}");
    assert_eq!(roots[0].name, "http_request");
    for span in &trace {
        assert!(
            span.parent_id.is_empty() || ids.contains(span.parent_id.as_str()),
            "{} {} has its parent outside the trace",
            span.service,
            span.name
        );
    }
    let services: HashSet<&str> = trace.iter().map(|s| s.service.as_str()).collect();
    assert!(
        [
            "syncchain-gateway",
            "syncchain-orders",
            "syncchain-products"
        ]
        .iter()
        .all(|s| services.contains(s)),
        "{services:?}"
    );

    trace.sort_by_key(|s| s.start);
    let first = trace[0].start;
    for span in &trace {
        eprintln!(
            "{:>8.2} ms +{:>8.2} ms  {:<20} {:<18} {}",
            (span.start.saturating_sub(first)) as f64 / 1e6,
            (span.end.saturating_sub(span.start)) as f64 / 1e6,
            span.service,
            span.name,
            ["operation", "method", "event.type"]
                .iter()
                .filter_map(|k| span.attributes.get(*k))
                .cloned()
                .collect::<Vec<_>>()
                .join(" ")
        );
    }
    drop(processes);
}
