//! A running `orderUpdated` outlives a restart of the orders service: the
//! gateway's one change feed opens again, and every subscription reads its
//! order again, since changes may have been missed meanwhile.

use std::time::Duration;

use serde_json::json;

use crate::{
    support::{Options, System, unique_email},
    ws::{connect, receive_for, status, subscribe},
};

#[tokio::test]
async fn a_subscription_keeps_getting_updates_after_the_orders_service_restarts() {
    let system = System::start(Options::default()).await;
    let admin = system.admin_token().await;
    let product = system.product(&admin, "Widget", 100, 5).await;
    let (_, token) = system.customer(&unique_email("ada")).await;
    let placed = system.place_order(&token, &product, 1).await;
    let order = placed["data"]["placeOrder"]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("placed: {placed}"))
        .to_owned();
    let mut socket = connect(&system, &token).await;
    subscribe(&mut socket, "1", &order).await;
    loop {
        let message = receive_for(&mut socket, "1").await;
        match status(&message) {
            Some("CONFIRMED") => break,
            Some("PENDING") => {}
            _ => panic!("expected the order confirmed: {message}"),
        }
    }

    system.orders.kill().await;
    system.orders.start().await;
    let cancelled = syncchain_testkit::eventually(Duration::from_secs(20), || async {
        let body = system
            .gql(
                "mutation($id: ID!) { cancelOrder(id: $id) { status } }",
                json!({ "id": order }),
                Some(&token),
            )
            .await;
        body["data"]["cancelOrder"]["status"] == json!("CANCELLED")
    })
    .await;
    assert!(
        cancelled,
        "the order could not be cancelled after the restart"
    );
    let update = receive_for(&mut socket, "1").await;

    assert_eq!(status(&update), Some("CANCELLED"), "{update}");
}
