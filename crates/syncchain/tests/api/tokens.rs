use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use serde_json::{Value, json};

use crate::support::{ME, PASSWORD, TestApp, code, unique_email};

fn me_request() -> Value {
    json!({ "query": ME })
}

#[tokio::test]
async fn a_token_works_with_and_without_the_bearer_prefix() {
    let app = TestApp::spawn().await;
    let email = unique_email("ada");
    let (id, token) = app.customer(&email).await;

    let (_, bare) = app.post_raw(&me_request(), Some(&token)).await;
    let (_, bearer) = app
        .post_raw(&me_request(), Some(&format!("Bearer {token}")))
        .await;

    assert_eq!(bare["data"]["me"]["id"], json!(id), "{bare}");
    assert_eq!(bearer["data"]["me"]["id"], json!(id), "{bearer}");
    assert_eq!(bearer["data"]["me"]["email"], json!(email));
}

#[tokio::test]
async fn the_predecessors_signin_query_returns_a_usable_token() {
    let app = TestApp::spawn().await;
    let email = unique_email("legacy");
    app.register(&email).await;

    let body = app
        .gql(
            "query($input: SigninInput!) { signin(input: $input) { token } }",
            json!({ "input": { "email": email, "password": PASSWORD } }),
            None,
        )
        .await;
    let token = body["data"]["signin"]["token"].as_str().unwrap_or_default();
    let (_, me) = app.post_raw(&me_request(), Some(token)).await;

    assert_eq!(me["data"]["me"]["email"], json!(email), "{body} {me}");
}

#[tokio::test]
async fn a_wrong_password_and_an_unknown_email_fail_alike() {
    let app = TestApp::spawn().await;
    let email = unique_email("ada");
    app.register(&email).await;
    let sign_in = "mutation($input: SigninInput!) { signIn(input: $input) { token } }";

    let wrong = app
        .gql(
            sign_in,
            json!({ "input": { "email": email, "password": "not the password" } }),
            None,
        )
        .await;
    let unknown = app
        .gql(
            sign_in,
            json!({ "input": { "email": unique_email("nobody"), "password": PASSWORD } }),
            None,
        )
        .await;

    assert_eq!(code(&wrong), "UNAUTHENTICATED", "{wrong}");
    assert_eq!(wrong["errors"], unknown["errors"]);
}

#[tokio::test]
async fn expired_tampered_and_unsigned_tokens_are_rejected() {
    let app = TestApp::spawn().await;
    let (id, token) = app.customer(&unique_email("ada")).await;
    let parts: Vec<&str> = token.split('.').collect();
    let now = chrono::Utc::now().timestamp();

    let expired = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &json!({ "sub": id, "role": "CUSTOMER", "iss": "syncchain", "iat": now - 7200, "exp": now - 3600, "jti": uuid::Uuid::new_v4() }),
        &jsonwebtoken::EncodingKey::from_secret(app.secret.as_bytes()),
    )
    .expect("sign");
    let admin_claims = URL_SAFE_NO_PAD.encode(
        json!({ "sub": id, "role": "ADMIN", "iss": "syncchain", "iat": now, "exp": now + 3600, "jti": uuid::Uuid::new_v4() }).to_string(),
    );
    let tampered = format!("{}.{}.{}", parts[0], admin_claims, parts[2]);
    let none_header = URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT"}"#);
    let unsigned = format!("{none_header}.{admin_claims}.");
    let other_secret = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &json!({ "sub": id, "role": "ADMIN", "iss": "syncchain", "iat": now, "exp": now + 3600, "jti": uuid::Uuid::new_v4() }),
        &jsonwebtoken::EncodingKey::from_secret(b"another secret of at least thirty-two bytes"),
    )
    .expect("sign");

    for (name, bad) in [
        ("expired", expired),
        ("tampered", tampered),
        ("alg none", unsigned),
        ("other secret", other_secret),
        ("garbage", "not-a-token".to_owned()),
    ] {
        let (_, body) = app
            .post_raw(&me_request(), Some(&format!("Bearer {bad}")))
            .await;
        assert_eq!(code(&body), "UNAUTHENTICATED", "{name}: {body}");
        assert!(body["data"].is_null(), "{name}: {body}");
    }
}

#[tokio::test]
async fn a_token_is_rejected_after_sign_out() {
    let app = TestApp::spawn().await;
    let (_, token) = app.customer(&unique_email("ada")).await;
    let other_session = app.sign_in(&app_email_of(&app, &token).await).await;

    let out = app
        .gql("mutation { signOut }", json!({}), Some(&token))
        .await;
    let after = app.gql(ME, json!({}), Some(&token)).await;
    let other = app.gql(ME, json!({}), Some(&other_session)).await;

    assert_eq!(out["data"]["signOut"], json!(true), "{out}");
    assert_eq!(code(&after), "UNAUTHENTICATED", "{after}");
    assert!(
        other["data"]["me"]["id"].is_string(),
        "other sessions stay valid: {other}"
    );
}

async fn app_email_of(app: &TestApp, token: &str) -> String {
    let me = app.gql(ME, json!({}), Some(token)).await;
    me["data"]["me"]["email"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}
