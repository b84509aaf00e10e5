//! Orders does not take a token's word for its role: a token signed out,
//! or issued before its user's role changed (an admin's old token would
//! list every customer's orders), is refused once the users service's
//! event about it is on the USERS stream, while a token the same user got
//! afterwards works.

use std::time::Duration;

use chrono::Utc;
use syncchain_events::{
    Envelope, Event,
    payloads::users::{UserSessionsEndedV1, UserTokenRevokedV1},
};
use syncchain_platform::auth::Role;
use syncchain_proto::orders::v1::ListOrdersRequest;
use syncchain_testkit::eventually;
use tonic::Code;
use uuid::Uuid;

use crate::helpers::{DEADLINE, TestApp, as_caller, spawn_app};

async fn list(app: &TestApp, token: &str) -> Result<(), tonic::Status> {
    app.client()
        .list_orders(as_caller(ListOrdersRequest::default(), token))
        .await
        .map(drop)
}

async fn refused(app: &TestApp, token: &str) -> bool {
    eventually(DEADLINE, || async {
        list(app, token)
            .await
            .is_err_and(|s| s.code() == Code::Unauthenticated)
    })
    .await
}

async fn publish<E: Event>(app: &TestApp, event: &E) {
    app.publish(&Envelope::new(event).unwrap()).await;
}

fn token(app: &TestApp, user_id: Uuid, role: Role) -> String {
    app.keys.issue(user_id, role).unwrap().token
}

#[tokio::test]
async fn a_signed_out_token_cannot_list_orders() {
    let app = spawn_app().await;
    let customer = Uuid::now_v7();
    let signed_out = token(&app, customer, Role::Customer);
    list(&app, &signed_out).await.unwrap();
    let claims = app.keys.verify(&signed_out).unwrap();

    publish(
        &app,
        &UserTokenRevokedV1 {
            user_id: customer,
            token_id: claims.token_id,
            expires_at: claims.expires_at,
        },
    )
    .await;

    assert!(refused(&app, &signed_out).await);
    list(&app, &token(&app, customer, Role::Customer))
        .await
        .unwrap();
}

#[tokio::test]
async fn an_admin_token_issued_before_a_demotion_cannot_list_orders() {
    let app = spawn_app().await;
    let admin = Uuid::now_v7();
    let old = token(&app, admin, Role::Admin);
    // Tokens know their issue time to the millisecond: step past it.
    tokio::time::sleep(Duration::from_millis(2)).await;

    publish(
        &app,
        &UserSessionsEndedV1 {
            user_id: admin,
            before: Utc::now(),
        },
    )
    .await;

    assert!(refused(&app, &old).await);
    tokio::time::sleep(Duration::from_millis(2)).await;
    list(&app, &token(&app, admin, Role::Customer))
        .await
        .unwrap();
}
