//! Who sees what: an order is its owner's and every admin's.

use syncchain_platform::grpc::field_of;
use syncchain_proto::orders::v1::{
    CancelOrderRequest, GetOrdersRequest, ListOrdersRequest, WatchOrderRequest,
};
use tonic::Code;

use crate::helpers::{as_caller, spawn_app};

#[tokio::test]
async fn another_customers_order_is_refused_for_reading_cancelling_and_watching() {
    let app = spawn_app().await;
    let (_, owner) = app.customer();
    let (_, stranger) = app.customer();
    let order = app.pending_order(&owner, 1).await;
    let id = order.id.clone();

    let read = app.get(&stranger, &id).await.unwrap_err();
    let cancel = app
        .client()
        .cancel_order(as_caller(CancelOrderRequest { id: id.clone() }, &stranger))
        .await
        .unwrap_err();
    let watch = app
        .client()
        .watch_order(as_caller(WatchOrderRequest { id: id.clone() }, &stranger))
        .await
        .err()
        .unwrap();

    assert_eq!(read.code(), Code::PermissionDenied);
    assert_eq!(cancel.code(), Code::PermissionDenied);
    assert_eq!(watch.code(), Code::PermissionDenied);
    assert_eq!(app.get(&owner, &id).await.unwrap(), order);
    assert_eq!(app.get(&app.admin_token(), &id).await.unwrap(), order);
}

#[tokio::test]
async fn an_unknown_order_is_not_found_and_a_malformed_id_names_the_field() {
    let app = spawn_app().await;
    let (_, token) = app.customer();

    let unknown = app
        .get(&token, &uuid::Uuid::new_v4().to_string())
        .await
        .unwrap_err();
    let malformed = app.get(&token, "42").await.unwrap_err();
    let anonymous = app
        .client()
        .get_order(syncchain_proto::orders::v1::GetOrderRequest { id: "42".into() })
        .await
        .unwrap_err();

    assert_eq!(unknown.code(), Code::NotFound);
    assert_eq!(malformed.code(), Code::InvalidArgument);
    assert_eq!(field_of(&malformed).as_deref(), Some("id"));
    assert_eq!(anonymous.code(), Code::Unauthenticated);
}

#[tokio::test]
async fn customers_list_their_own_orders_and_admins_list_all_newest_first() {
    let app = spawn_app().await;
    let (_, alice) = app.customer();
    let (_, bob) = app.customer();
    let mut alices = Vec::new();
    for quantity in 1..=3 {
        alices.push(app.pending_order(&alice, quantity).await.id);
    }
    let bobs = app.pending_order(&bob, 1).await.id;

    let list = |token: String, first: u32, after: String| {
        let mut client = app.client();
        async move {
            client
                .list_orders(as_caller(ListOrdersRequest { first, after }, &token))
                .await
                .unwrap()
                .into_inner()
        }
    };
    let ids = |page: &syncchain_proto::orders::v1::ListOrdersResponse| -> Vec<String> {
        page.orders.iter().map(|o| o.id.clone()).collect()
    };

    let own = list(alice.clone(), 0, String::new()).await;
    assert_eq!(ids(&own), alices.iter().rev().cloned().collect::<Vec<_>>());
    assert!(!own.has_next_page);

    let first = list(app.admin_token(), 3, String::new()).await;
    assert_eq!(
        ids(&first),
        [&bobs, &alices[2], &alices[1]].map(String::clone)
    );
    assert!(first.has_next_page);
    let rest = list(app.admin_token(), 3, first.end_cursor.clone()).await;
    assert_eq!(ids(&rest), [alices[0].clone()]);
    assert!(!rest.has_next_page);
}

#[tokio::test]
async fn a_forged_cursor_is_refused_naming_after() {
    let app = spawn_app().await;
    let (_, token) = app.customer();
    let request = ListOrdersRequest {
        first: 10,
        after: "not-a-cursor".into(),
    };

    let status = app
        .client()
        .list_orders(as_caller(request, &token))
        .await
        .unwrap_err();

    assert_eq!(status.code(), Code::InvalidArgument);
    assert_eq!(field_of(&status).as_deref(), Some("after"));
}

#[tokio::test]
async fn a_batch_read_leaves_out_what_the_caller_may_not_see_and_keeps_the_order_asked() {
    let app = spawn_app().await;
    let (_, alice) = app.customer();
    let (_, bob) = app.customer();
    let first = app.pending_order(&alice, 1).await.id;
    let second = app.pending_order(&alice, 2).await.id;
    let bobs = app.pending_order(&bob, 1).await.id;
    let asked = vec![second.clone(), bobs.clone(), first.clone(), second.clone()];

    let get = |token: String| {
        let mut client = app.client();
        let ids = asked.clone();
        async move {
            let response = client
                .get_orders(as_caller(GetOrdersRequest { ids }, &token))
                .await
                .unwrap()
                .into_inner();
            response
                .orders
                .into_iter()
                .map(|o| o.id)
                .collect::<Vec<_>>()
        }
    };

    assert_eq!(get(alice.clone()).await, [second.clone(), first.clone()]);
    assert_eq!(get(app.admin_token()).await, [second, bobs, first]);
    let malformed = app
        .client()
        .get_orders(as_caller(
            GetOrdersRequest {
                ids: vec!["x".into()],
            },
            &alice,
        ))
        .await
        .unwrap_err();
    assert_eq!(field_of(&malformed).as_deref(), Some("ids"));
}
