//! Subscriptions cannot starve each other: each user and each socket has
//! a cap, a message larger than the body cap closes the socket unparsed,
//! and a running subscription ends once its token stops counting.

use std::time::Duration;

use serde_json::json;

use crate::{
    support::{TestApp, unique_email},
    ws::{self, connect, error_code, receive_for, status, subscribe},
};

/// Waits until operation `id` reports its order CONFIRMED.
async fn confirmed(socket: &mut ws::Socket, id: &str) {
    loop {
        let message = receive_for(socket, id).await;
        match status(&message) {
            Some("CONFIRMED") => return,
            Some("PENDING") => {}
            _ => panic!("expected the order confirmed: {message}"),
        }
    }
}

/// Places an order of one item; returns its id.
async fn order(app: &TestApp, token: &str, product: &str) -> String {
    let placed = app.place_order(token, product, 1).await;
    placed["data"]["placeOrder"]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("placed: {placed}"))
        .to_owned()
}

#[tokio::test]
async fn a_customer_at_the_caps_is_rate_limited_while_another_customers_subscription_gets_its_updates()
 {
    let app = TestApp::spawn_with(&[
        ("SYNCCHAIN_SUBSCRIPTIONS_PER_USER", "3"),
        ("SYNCCHAIN_SUBSCRIPTIONS_PER_SOCKET", "2"),
    ])
    .await;
    let admin = app.admin_token().await;
    let product = app.product(&admin, "Lamp", 900, 10).await;
    let (_, ada) = app.customer(&unique_email("ada")).await;
    let (_, bob) = app.customer(&unique_email("bob")).await;
    let adas = order(&app, &ada, &product).await;
    let bobs = order(&app, &bob, &product).await;

    let mut first = connect(&app, &ada).await;
    for id in ["1", "2"] {
        subscribe(&mut first, id, &adas).await;
        let message = receive_for(&mut first, id).await;
        assert!(status(&message).is_some(), "{message}");
    }
    subscribe(&mut first, "3", &adas).await;
    let over_socket = receive_for(&mut first, "3").await;
    let mut second = connect(&app, &ada).await;
    subscribe(&mut second, "1", &adas).await;
    let third = receive_for(&mut second, "1").await;
    subscribe(&mut second, "2", &adas).await;
    let over_user = receive_for(&mut second, "2").await;

    assert_eq!(
        error_code(&over_socket),
        Some("RATE_LIMITED"),
        "{over_socket}"
    );
    assert!(status(&third).is_some(), "{third}");
    assert_eq!(error_code(&over_user), Some("RATE_LIMITED"), "{over_user}");

    let mut bobs_socket = connect(&app, &bob).await;
    subscribe(&mut bobs_socket, "1", &bobs).await;
    confirmed(&mut bobs_socket, "1").await;
    app.gql(
        "mutation($id: ID!) { cancelOrder(id: $id) { id } }",
        json!({ "id": bobs }),
        Some(&bob),
    )
    .await;
    let changed = tokio::time::timeout(Duration::from_secs(5), receive_for(&mut bobs_socket, "1"))
        .await
        .expect("bob's update came promptly");
    assert_eq!(status(&changed), Some("CANCELLED"), "{changed}");

    // Ending subscriptions gives their places back.
    drop(first);
    let freed = syncchain_testkit::eventually(Duration::from_secs(10), || {
        let (app, ada, adas) = (&app, &ada, &adas);
        async move {
            let mut socket = connect(app, ada).await;
            subscribe(&mut socket, "1", adas).await;
            status(&receive_for(&mut socket, "1").await).is_some()
        }
    })
    .await;
    assert!(freed, "closing a socket did not free its subscriptions");
}

#[tokio::test]
async fn a_websocket_message_larger_than_the_body_cap_closes_the_socket_unparsed() {
    let app = TestApp::spawn_with(&[("SYNCCHAIN_MAX_BODY_BYTES", "65536")]).await;
    let (_, token) = app.customer(&unique_email("ada")).await;
    let mut socket = connect(&app, &token).await;

    let padding = " ".repeat(128 * 1024);
    ws::send(
        &mut socket,
        json!({ "id": "1", "type": "subscribe", "payload": {
            "query": format!("subscription {{{padding}orderUpdated(id: \"x\") {{ id }} }}") } }),
    )
    .await;
    let closed = ws::closed_within(&mut socket, Duration::from_secs(10)).await;

    assert_eq!(closed, Ok(()), "the socket must close without an answer");
}

#[tokio::test]
async fn a_running_subscription_ends_after_sign_out() {
    let app = TestApp::spawn_with(&[("SYNCCHAIN_SUBSCRIPTION_RECHECK", "500ms")]).await;
    let admin = app.admin_token().await;
    let product = app.product(&admin, "Kettle", 1200, 3).await;
    let (_, token) = app.customer(&unique_email("ada")).await;
    let placed = order(&app, &token, &product).await;
    let mut socket = connect(&app, &token).await;
    subscribe(&mut socket, "1", &placed).await;
    confirmed(&mut socket, "1").await;

    app.gql("mutation { signOut }", json!({}), Some(&token))
        .await;
    let ended = receive_for(&mut socket, "1").await;
    let complete = receive_for(&mut socket, "1").await;

    assert_eq!(error_code(&ended), Some("UNAUTHENTICATED"), "{ended}");
    assert_eq!(complete["type"], json!("complete"), "{complete}");
}

#[tokio::test]
async fn a_running_subscription_ends_after_its_admin_is_demoted() {
    let app = TestApp::spawn_with(&[("SYNCCHAIN_SUBSCRIPTION_RECHECK", "500ms")]).await;
    let admin = app.admin_token().await;
    let product = app.product(&admin, "Teapot", 1500, 3).await;
    let (ada_id, _) = app.customer(&unique_email("ada")).await;
    let (_, bob) = app.customer(&unique_email("bob")).await;
    let bobs = order(&app, &bob, &product).await;
    let set_role =
        "mutation($id: ID!, $role: Role!) { setUserRole(id: $id, role: $role) { role } }";
    let promoted = app
        .gql(
            set_role,
            json!({ "id": ada_id, "role": "ADMIN" }),
            Some(&admin),
        )
        .await;
    assert_eq!(
        promoted["data"]["setUserRole"]["role"],
        json!("ADMIN"),
        "{promoted}"
    );
    // A token issued after the promotion carries the ADMIN role.
    let ada_admin = fresh_token(&app, &ada_id).await;
    let mut socket = connect(&app, &ada_admin).await;
    subscribe(&mut socket, "1", &bobs).await;
    confirmed(&mut socket, "1").await;

    app.gql(
        set_role,
        json!({ "id": ada_id, "role": "CUSTOMER" }),
        Some(&admin),
    )
    .await;
    let ended = receive_for(&mut socket, "1").await;

    assert_eq!(error_code(&ended), Some("UNAUTHENTICATED"), "{ended}");
}

/// A new token for the user `id`, by signing in with their email.
async fn fresh_token(app: &TestApp, id: &str) -> String {
    let admin = app.admin_token().await;
    let user = app
        .gql(
            "query($id: ID!) { user(id: $id) { email } }",
            json!({ "id": id }),
            Some(&admin),
        )
        .await;
    let email = user["data"]["user"]["email"]
        .as_str()
        .unwrap_or_else(|| panic!("user read: {user}"))
        .to_owned();
    app.sign_in(&email).await
}

#[tokio::test]
async fn a_running_subscription_ends_with_unauthenticated_when_its_token_expires() {
    let app = TestApp::spawn_with(&[("SYNCCHAIN_TOKEN_TTL", "6s")]).await;
    let admin = app.admin_token().await;
    let product = app.product(&admin, "Mug", 400, 3).await;
    let (_, token) = app.customer(&unique_email("ada")).await;
    let placed = order(&app, &token, &product).await;
    let mut socket = connect(&app, &token).await;

    subscribe(&mut socket, "1", &placed).await;
    let ended = loop {
        let message = receive_for(&mut socket, "1").await;
        if status(&message).is_none() {
            break message;
        }
    };

    assert_eq!(error_code(&ended), Some("UNAUTHENTICATED"), "{ended}");
}

#[tokio::test]
async fn a_websocket_with_no_subscription_is_closed_after_the_idle_timeout() {
    let app = TestApp::spawn_with(&[("SYNCCHAIN_HTTP_IDLE_TIMEOUT", "1s")]).await;
    let (_, token) = app.customer(&unique_email("ada")).await;
    let mut socket = connect(&app, &token).await;

    let closed = ws::closed_within(&mut socket, Duration::from_secs(10)).await;

    assert_eq!(closed, Ok(()), "an idle socket is closed");
}
