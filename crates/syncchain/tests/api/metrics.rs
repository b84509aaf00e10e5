//! `/metrics` on every listener of the system: the gateway's admin port and
//! each service's own port answer in the Prometheus text format, and the
//! series move when an order goes through. Labels come only from closed
//! sets: a client's operation names, made-up fields and made-up gRPC paths
//! never become series.

use std::time::Duration;

use serde_json::json;

use crate::support::{Client, TestApp, unique_email};

pub(crate) async fn scrape(app: &Client, base: &str) -> String {
    let response = app
        .http
        .get(format!("{base}/metrics"))
        .send()
        .await
        .unwrap_or_else(|e| panic!("GET {base}/metrics: {e}"));
    assert_eq!(response.status(), 200, "{base}/metrics");
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert!(
        content_type.starts_with("text/plain; version=0.0.4"),
        "{content_type}"
    );
    response.text().await.expect("text")
}

/// The value of the series `name` whose labels include every one of
/// `labels`, if the exposition has it.
pub(crate) fn value(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .filter(|line| {
            line.strip_prefix(name)
                .is_some_and(|rest| rest.starts_with('{') || rest.starts_with(' '))
        })
        .find(|line| {
            labels
                .iter()
                .all(|(k, v)| line.contains(&format!("{k}=\"{v}\"")))
        })
        .and_then(|line| line.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

fn service_url(app: &TestApp, var: &str) -> String {
    app.env
        .iter()
        .find(|(name, _)| name == var)
        .map(|(_, url)| url.clone())
        .unwrap_or_else(|| panic!("{var} is set"))
}

#[tokio::test]
async fn every_listener_serves_metrics_and_an_order_moves_the_series() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let product = app.product(&admin, "Metered", 250, 5).await;
    let (_, customer) = app.customer(&unique_email("metered")).await;
    let placed = app.place_order(&customer, &product, 2).await;
    assert_eq!(
        placed["data"]["placeOrder"]["status"], "CONFIRMED",
        "{placed}"
    );
    let refused = app.place_order(&customer, &product, 10).await;
    assert_eq!(
        refused["data"]["placeOrder"]["status"], "REJECTED",
        "{refused}"
    );
    app.stock(&product).await;

    let gateway = scrape(&app, &app.admin_url).await;
    let ok = [("operation", "placeOrder"), ("outcome", "ok")];
    assert_eq!(
        value(&gateway, "syncchain_graphql_requests_total", &ok),
        Some(2.0),
        "{gateway}"
    );
    assert!(
        value(
            &gateway,
            "syncchain_graphql_request_duration_seconds_count",
            &[("operation", "placeOrder")]
        ) == Some(2.0),
        "{gateway}"
    );
    assert!(
        value(
            &gateway,
            "syncchain_grpc_client_requests_total",
            &[("method", "orders.v1.Orders/PlaceOrder")]
        ) >= Some(2.0),
        "{gateway}"
    );

    // Each service's own port; in this test all roles share one process,
    // so each shows the whole registry, as `serve all` does.
    for (var, service, method) in [
        (
            "SYNCCHAIN_USERS_URL",
            "users",
            "users.v1.Users/VerifyCredentials",
        ),
        (
            "SYNCCHAIN_PRODUCTS_URL",
            "products",
            "products.v1.Products/CreateProduct",
        ),
        (
            "SYNCCHAIN_ORDERS_URL",
            "orders",
            "orders.v1.Orders/PlaceOrder",
        ),
    ] {
        let text = scrape(&app, &service_url(&app, var)).await;
        let call = [("service", service), ("method", method), ("code", "Ok")];
        assert!(
            value(&text, "syncchain_grpc_server_requests_total", &call) >= Some(1.0),
            "{service}: {text}"
        );
        assert!(
            value(
                &text,
                "syncchain_db_pool_max_connections",
                &[("service", service)]
            )
            .is_some(),
            "{service}: {text}"
        );
    }

    // The saga's series, once the samplers and consumers have reported.
    let orders_url = service_url(&app, "SYNCCHAIN_ORDERS_URL");
    let mut text = String::new();
    for _ in 0..40 {
        text = scrape(&app, &orders_url).await;
        let sampled = value(&text, "syncchain_outbox_rows", &[("service", "orders")]).is_some()
            && value(
                &text,
                "syncchain_consumer_pending",
                &[("consumer", "products")],
            )
            .is_some();
        if sampled {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    for (name, labels, at_least) in [
        (
            "syncchain_order_transitions_total",
            vec![("status", "PENDING")],
            2.0,
        ),
        (
            "syncchain_order_transitions_total",
            vec![("status", "CONFIRMED")],
            1.0,
        ),
        (
            "syncchain_order_transitions_total",
            vec![("status", "REJECTED")],
            1.0,
        ),
        (
            "syncchain_order_settle_duration_seconds_count",
            vec![("status", "CONFIRMED")],
            1.0,
        ),
        (
            "syncchain_stock_reservations_total",
            vec![("result", "reserved")],
            1.0,
        ),
        (
            "syncchain_stock_reservations_total",
            vec![("result", "rejected"), ("reason", "insufficient_stock")],
            1.0,
        ),
        (
            "syncchain_consumer_messages_total",
            vec![("consumer", "products"), ("outcome", "applied")],
            2.0,
        ),
        (
            "syncchain_consumer_messages_total",
            vec![("consumer", "orders"), ("outcome", "applied")],
            2.0,
        ),
        (
            "syncchain_consumer_handle_duration_seconds_count",
            vec![("consumer", "orders")],
            2.0,
        ),
        (
            "syncchain_outbox_published_total",
            vec![("service", "orders")],
            2.0,
        ),
        (
            "syncchain_outbox_published_total",
            vec![("service", "products")],
            2.0,
        ),
        (
            "syncchain_outbox_publish_duration_seconds_count",
            vec![("service", "orders")],
            2.0,
        ),
        ("syncchain_outbox_rows", vec![("service", "orders")], 0.0),
        ("syncchain_dead_letters", vec![("service", "orders")], 0.0),
        (
            "syncchain_consumer_pending",
            vec![("consumer", "products")],
            0.0,
        ),
        (
            "syncchain_cache_requests_total",
            vec![("entry", "product")],
            1.0,
        ),
        ("syncchain_password_hashes_running", vec![], 0.0),
        (
            "syncchain_db_pool_connections",
            vec![("service", "orders"), ("state", "idle")],
            0.0,
        ),
    ] {
        let found = value(&text, name, &labels);
        assert!(
            found >= Some(at_least),
            "{name}{labels:?} = {found:?}, want >= {at_least}:\n{text}"
        );
    }
    assert_eq!(
        value(&text, "syncchain_dead_letters", &[("service", "orders")]),
        Some(0.0),
        "{text}"
    );
}

#[tokio::test]
async fn what_a_client_makes_up_never_becomes_a_label() {
    let app = TestApp::spawn().await;
    for (query, operation) in [
        ("query EvilOne { evilField }", None),
        ("{ __typename }", Some("EvilTwo")),
        (
            "query EvilThree { __typename } query EvilFour { __typename }",
            Some("EvilThree"),
        ),
        ("query { evil: __typename }", None),
        ("{ __typename", None),
    ] {
        let mut body = json!({ "query": query });
        if let Some(name) = operation {
            body["operationName"] = json!(name);
        }
        app.post_raw(&body, None).await;
    }
    // A made-up gRPC method on a service's port.
    let orders_url = service_url(&app, "SYNCCHAIN_ORDERS_URL");
    let made_up = app
        .http
        .post(format!(
            "{orders_url}/syncchain.evil.v1.Evil/StealEverything"
        ))
        .header("content-type", "application/grpc")
        .body(Vec::<u8>::new())
        .send()
        .await
        .expect("the service answers");
    assert_eq!(
        made_up
            .headers()
            .get("grpc-status")
            .and_then(|v| v.to_str().ok()),
        Some("12"),
        "unimplemented"
    );

    let gateway = scrape(&app, &app.admin_url).await;
    let orders = scrape(&app, &orders_url).await;
    for text in [&gateway, &orders] {
        assert!(!text.to_lowercase().contains("evil"), "{text}");
        assert!(!text.contains("Steal"), "{text}");
    }
    assert_eq!(
        value(
            &gateway,
            "syncchain_graphql_requests_total",
            &[("operation", "__typename"), ("outcome", "ok")]
        ),
        Some(2.0),
        "the aliased and the named one ran: {gateway}"
    );
    assert!(
        value(
            &gateway,
            "syncchain_graphql_requests_total",
            &[("operation", "invalid"), ("outcome", "error")]
        ) >= Some(3.0),
        "{gateway}"
    );
    assert_eq!(
        value(
            &orders,
            "syncchain_grpc_server_requests_total",
            &[("method", "unknown"), ("code", "Unimplemented")]
        ),
        Some(1.0),
        "{orders}"
    );
}
