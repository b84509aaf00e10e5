//! One request id ties a request's log lines together in every role it
//! reaches: the gateway answers with it, and the lines of the gateway, of
//! orders and of products (which orders asks for the price) carry it.

use std::{
    io,
    sync::{Arc, Mutex},
};

use serde_json::json;
use tracing_subscriber::fmt::format::FmtSpan;

use crate::support::{TestApp, unique_email};

/// Log lines written in this test, as JSON.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl io::Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        if let Ok(mut buffer) = self.0.lock() {
            buffer.extend_from_slice(bytes);
        }
        Ok(bytes.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn lines(&self) -> Vec<serde_json::Value> {
        let bytes = self.0.lock().map(|b| b.clone()).unwrap_or_default();
        String::from_utf8_lossy(&bytes)
            .lines()
            .filter_map(|line| serde_json::from_str(line).ok())
            .collect()
    }
}

async fn place_with_id(app: &TestApp, token: &str, product: &str, id: &str) -> reqwest::Response {
    app.http
        .post(&app.graphql_url)
        .header("authorization", format!("Bearer {token}"))
        .header("x-request-id", id)
        .json(&json!({
            "query": "mutation($input: OrderInput!) { placeOrder(input: $input) { id status } }",
            "variables": { "input": { "productId": product, "quantity": 1 } },
        }))
        .send()
        .await
        .expect("the gateway answers")
}

// The test's runtime runs on this thread only, so a subscriber set for
// this thread sees every line the in-process roles write.
#[tokio::test(flavor = "current_thread")]
async fn a_request_id_reaches_the_log_lines_of_every_role_the_request_crosses() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .json()
        .with_span_list(true)
        .with_span_events(FmtSpan::CLOSE)
        .with_max_level(tracing::Level::INFO)
        .with_writer(move || writer.clone())
        .finish();
    let _logging = tracing::subscriber::set_default(subscriber);

    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let product = app.product(&admin, "Traced", 100, 5).await;
    let (_, customer) = app.customer(&unique_email("traced")).await;

    let id = format!("probe-{}", uuid::Uuid::new_v4().simple());
    let response = place_with_id(&app, &customer, &product, &id).await;
    assert_eq!(
        response
            .headers()
            .get("x-request-id")
            .and_then(|v| v.to_str().ok()),
        Some(id.as_str())
    );
    let body: serde_json::Value = response.json().await.expect("json");
    assert_eq!(body["data"]["placeOrder"]["status"], "CONFIRMED", "{body}");

    let lines = captured.lines();
    let carrying: Vec<&serde_json::Value> = lines
        .iter()
        .filter(|line| line.to_string().contains(&id))
        .collect();
    // Each role's own span around the request, closing with the id.
    for (span, method) in [
        ("http_request", None),
        ("grpc_call", Some("orders.v1.Orders/PlaceOrder")),
        ("grpc_call", Some("products.v1.Products/GetProduct")),
    ] {
        let closed = carrying.iter().any(|line| {
            line["span"]["name"] == span
                && line["span"]["request_id"] == id.as_str()
                && method.is_none_or(|m| line["span"]["method"] == m)
        });
        assert!(
            closed,
            "no {span} {method:?} line carries {id}: {carrying:#?}"
        );
    }
    let placed = carrying
        .iter()
        .find(|line| line["fields"]["message"] == "order placed")
        .unwrap_or_else(|| panic!("the order placed line carries the id: {carrying:#?}"));
    assert!(placed.to_string().contains(&id));

    // An implausible id is replaced, never echoed or logged.
    let hostile = "x\" injected=1";
    let response = app
        .http
        .post(&app.graphql_url)
        .header("x-request-id", hostile)
        .json(&json!({ "query": "{ __typename }" }))
        .send()
        .await
        .expect("answers");
    let given = response
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert_eq!(given.len(), 32, "{given}");
    assert!(
        !captured
            .lines()
            .iter()
            .any(|l| l.to_string().contains("injected"))
    );
}
