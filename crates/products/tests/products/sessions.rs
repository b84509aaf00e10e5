//! Products does not take a token's word for its role: a token signed out,
//! or issued before its user's role changed, is refused on a write once the
//! users service's event about it is on the USERS stream, while a token the
//! same user got afterwards works.

use chrono::Utc;
use syncchain_events::payloads::users::{UserSessionsEndedV1, UserTokenRevokedV1};
use syncchain_platform::auth::Role;
use syncchain_proto::products::v1::CreateProductRequest;
use syncchain_testkit::eventually;
use tonic::Code;
use uuid::Uuid;

use crate::helpers::{DEADLINE, TestApp, as_caller, spawn_app};

async fn create(app: &TestApp, token: &str) -> Result<(), tonic::Status> {
    let request = CreateProductRequest {
        name: "Lamp".into(),
        description: "A lamp.".into(),
        price: 1_000,
        stock: 3,
    };
    app.client()
        .create_product(as_caller(request, token))
        .await
        .map(drop)
}

async fn refused(app: &TestApp, token: &str) -> bool {
    eventually(DEADLINE, || async {
        create(app, token)
            .await
            .is_err_and(|s| s.code() == Code::Unauthenticated)
    })
    .await
}

fn admin_token(app: &TestApp, user_id: Uuid) -> String {
    app.keys.issue(user_id, Role::Admin).unwrap().token
}

#[tokio::test]
async fn a_signed_out_admin_token_cannot_create_a_product() {
    let app = spawn_app().await;
    let admin = Uuid::now_v7();
    let token = admin_token(&app, admin);
    create(&app, &token).await.unwrap();
    let claims = app.keys.verify(&token).unwrap();

    app.publish(&UserTokenRevokedV1 {
        user_id: admin,
        token_id: claims.token_id,
        expires_at: claims.expires_at,
    })
    .await;

    assert!(refused(&app, &token).await);
    create(&app, &admin_token(&app, admin)).await.unwrap();
}

#[tokio::test]
async fn an_admin_token_issued_before_a_demotion_cannot_create_a_product() {
    let app = spawn_app().await;
    let admin = Uuid::now_v7();
    let token = admin_token(&app, admin);
    // Tokens know their issue time to the millisecond: step past it.
    tokio::time::sleep(std::time::Duration::from_millis(2)).await;

    app.publish(&UserSessionsEndedV1 {
        user_id: admin,
        before: Utc::now(),
    })
    .await;

    assert!(refused(&app, &token).await);
    tokio::time::sleep(std::time::Duration::from_millis(2)).await;
    create(&app, &admin_token(&app, admin)).await.unwrap();
}

#[tokio::test]
async fn readiness_reports_the_session_replica_once_it_has_replayed_the_users_stream() {
    let app = spawn_app().await;

    let body = syncchain_testkit::poll(
        DEADLINE,
        || async {
            let response = reqwest::get(format!("http://{}/readyz", app.addr))
                .await
                .unwrap();
            response.json::<serde_json::Value>().await.unwrap()
        },
        |body| body["checks"]["sessions"] == "up",
    )
    .await;

    assert_eq!(body["checks"]["sessions"], "up", "{body}");
    assert_eq!(body["status"], "ready", "{body}");
}
