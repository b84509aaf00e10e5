use syncchain_platform::grpc::field_of;
use syncchain_proto::users::v1::{GetUserRequest, GetUsersRequest, ListUsersRequest};
use tonic::Code;

use crate::helpers::{as_caller, spawn_app};

fn get(id: &str) -> GetUserRequest {
    GetUserRequest { id: id.into() }
}

#[tokio::test]
async fn a_customer_cannot_read_another_users_account() {
    let app = spawn_app().await;
    let (_, token) = app.customer().await;
    let (other, _) = app.customer().await;

    let status = app
        .client()
        .get_user(as_caller(get(&other.id), &token))
        .await
        .unwrap_err();

    assert_eq!(status.code(), Code::PermissionDenied);
}

#[tokio::test]
async fn an_admin_reads_any_account_and_learns_when_there_is_none() {
    let app = spawn_app().await;
    let (_, admin) = app.admin().await;
    let (customer, _) = app.customer().await;

    let found = app
        .client()
        .get_user(as_caller(get(&customer.id), &admin))
        .await
        .unwrap();
    let missing = app
        .client()
        .get_user(as_caller(get(&uuid::Uuid::new_v4().to_string()), &admin))
        .await
        .unwrap_err();

    assert_eq!(found.into_inner(), customer);
    assert_eq!(missing.code(), Code::NotFound);
}

#[tokio::test]
async fn reading_an_account_needs_a_valid_token_and_a_valid_id() {
    let app = spawn_app().await;
    let (user, token) = app.customer().await;

    let anonymous = app.client().get_user(get(&user.id)).await.unwrap_err();
    let tampered = app
        .client()
        .get_user(as_caller(get(&user.id), &format!("{token}x")))
        .await
        .unwrap_err();
    let bad_id = app
        .client()
        .get_user(as_caller(get("42"), &token))
        .await
        .unwrap_err();

    assert_eq!(anonymous.code(), Code::Unauthenticated);
    assert_eq!(tampered.code(), Code::Unauthenticated);
    assert_eq!(bad_id.code(), Code::InvalidArgument);
    assert_eq!(field_of(&bad_id).as_deref(), Some("id"));
}

#[tokio::test]
async fn a_batch_read_returns_only_what_the_caller_may_see() {
    let app = spawn_app().await;
    let (me, my_token) = app.customer().await;
    let (other, _) = app.customer().await;
    let (_, admin) = app.admin().await;
    let ids = vec![
        other.id.clone(),
        me.id.clone(),
        uuid::Uuid::new_v4().to_string(),
    ];

    let as_customer = app
        .client()
        .get_users(as_caller(GetUsersRequest { ids: ids.clone() }, &my_token))
        .await
        .unwrap()
        .into_inner();
    let as_admin = app
        .client()
        .get_users(as_caller(GetUsersRequest { ids }, &admin))
        .await
        .unwrap()
        .into_inner();

    assert_eq!(as_customer.users, vec![me.clone()]);
    assert_eq!(as_admin.users, vec![other, me]);
}

#[tokio::test]
async fn listing_users_is_for_admins_only() {
    let app = spawn_app().await;
    let (_, customer) = app.customer().await;

    let as_customer = app
        .client()
        .list_users(as_caller(ListUsersRequest::default(), &customer))
        .await
        .unwrap_err();
    let anonymous = app
        .client()
        .list_users(ListUsersRequest::default())
        .await
        .unwrap_err();

    assert_eq!(as_customer.code(), Code::PermissionDenied);
    assert_eq!(anonymous.code(), Code::Unauthenticated);
}

#[tokio::test]
async fn an_admin_pages_through_every_user_in_creation_order() {
    let app = spawn_app().await;
    let (admin_user, admin) = app.admin().await;
    let mut expected = vec![admin_user.id.clone()];
    for _ in 0..4 {
        expected.push(app.customer().await.0.id);
    }

    let mut seen = Vec::new();
    let mut after = String::new();
    let mut pages = 0;
    loop {
        let page = app
            .client()
            .list_users(as_caller(
                ListUsersRequest {
                    first: 2,
                    after: after.clone(),
                },
                &admin,
            ))
            .await
            .unwrap()
            .into_inner();
        pages += 1;
        assert!(page.users.len() <= 2);
        seen.extend(page.users.into_iter().map(|u| u.id));
        if !page.has_next_page {
            break;
        }
        after = page.end_cursor;
    }

    assert_eq!(seen, expected);
    assert_eq!(pages, 3);
}

#[tokio::test]
async fn a_forged_cursor_is_invalid_argument_naming_after() {
    let app = spawn_app().await;
    let (_, admin) = app.admin().await;

    let status = app
        .client()
        .list_users(as_caller(
            ListUsersRequest {
                first: 0,
                after: "bm9wZQ".into(),
            },
            &admin,
        ))
        .await
        .unwrap_err();

    assert_eq!(status.code(), Code::InvalidArgument);
    assert_eq!(field_of(&status).as_deref(), Some("after"));
}
