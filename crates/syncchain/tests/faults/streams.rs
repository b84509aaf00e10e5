//! The JetStream streams disappear while everything runs (a wiped NATS
//! store looks like this to clients): the services create them again and
//! carry on, and `/readyz` says not ready while they cannot.

use std::time::Duration;

use async_nats::jetstream::{self, stream};
use serde_json::{Value, json};
use syncchain_events::{Namespace, streams};

use crate::support::{Options, System};

const DEADLINE: Duration = Duration::from_secs(60);

async fn private_jetstream(system: &System) -> (jetstream::Context, Namespace) {
    let nats = system.nats.as_ref().expect("a private nats-server");
    let jetstream = syncchain_testkit::jetstream(&nats.url()).await;
    let namespace = Namespace::new(system.namespace.clone()).expect("a valid namespace");
    (jetstream, namespace)
}

/// Places an order and waits until it is CONFIRMED; false if it never is.
async fn confirmed(system: &System, token: &str, product: &str) -> bool {
    let placed = system.place_order(token, product, 1).await;
    let id = placed["data"]["placeOrder"]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("order placed: {placed}"))
        .to_owned();
    syncchain_testkit::eventually(DEADLINE, || async {
        let body = system
            .gql(
                "query($id: ID!) { order(id: $id) { status } }",
                json!({ "id": id }),
                Some(token),
            )
            .await;
        body["data"]["order"]["status"] == "CONFIRMED"
    })
    .await
}

/// The products service's `/readyz`: (HTTP status, body).
async fn products_readiness(system: &System) -> (u16, Value) {
    let url = format!("{}/readyz", system.products.url());
    match reqwest::get(&url).await {
        Ok(response) => {
            let status = response.status().as_u16();
            (status, response.json().await.unwrap_or(Value::Null))
        }
        Err(_) => (0, Value::Null),
    }
}

#[tokio::test]
async fn streams_wiped_while_the_services_run_are_created_again_and_orders_still_confirm() {
    let system = System::start(Options {
        private_nats: true,
        ..Options::default()
    })
    .await;
    let admin = system.admin_token().await;
    let product = system.product(&admin, "Washer", 100, 10).await;
    let token = system.customers(1).await.remove(0);
    assert!(
        confirmed(&system, &token, &product).await,
        "before the wipe"
    );
    let (jetstream, namespace) = private_jetstream(&system).await;

    for (name, _) in streams::STREAMS {
        jetstream
            .delete_stream(namespace.stream(name))
            .await
            .expect("stream deleted");
    }

    assert!(
        confirmed(&system, &token, &product).await,
        "an order placed after the wipe never confirmed"
    );
}

#[tokio::test]
async fn readiness_is_lost_while_the_streams_cannot_be_created_and_comes_back_after() {
    let system = System::start(Options {
        private_nats: true,
        ..Options::default()
    })
    .await;
    let admin = system.admin_token().await;
    let product = system.product(&admin, "Spring", 100, 10).await;
    let token = system.customers(1).await.remove(0);
    let (jetstream, namespace) = private_jetstream(&system).await;
    let orders = namespace.stream(streams::ORDERS);

    // A stream holding the ORDERS subjects under another name: ORDERS
    // cannot be created again while it exists.
    jetstream.delete_stream(&orders).await.expect("deleted");
    let blocker = format!("BLOCK_{orders}");
    jetstream
        .create_stream(stream::Config {
            name: blocker.clone(),
            subjects: vec![namespace.subject("orders.>")],
            storage: stream::StorageType::Memory,
            ..stream::Config::default()
        })
        .await
        .expect("blocker created");
    let not_ready = syncchain_testkit::eventually(DEADLINE, || async {
        let (status, body) = products_readiness(&system).await;
        status == 503 && body["checks"]["jetstream"] == "down"
    })
    .await;
    jetstream.delete_stream(&blocker).await.expect("deleted");
    let ready = syncchain_testkit::eventually(DEADLINE, || async {
        products_readiness(&system).await.0 == 200
    })
    .await;

    assert!(
        not_ready,
        "ready without its stream: {:?}",
        products_readiness(&system).await
    );
    assert!(
        ready,
        "not ready again: {:?}",
        products_readiness(&system).await
    );
    assert!(
        confirmed(&system, &token, &product).await,
        "after the recovery"
    );
}
