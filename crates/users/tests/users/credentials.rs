use syncchain_proto::users::v1::VerifyCredentialsRequest;
use tonic::Code;

use crate::helpers::{PASSWORD, spawn_app, unique_email};

fn credentials(email: &str, password: &str) -> VerifyCredentialsRequest {
    VerifyCredentialsRequest {
        email: email.into(),
        password: password.into(),
    }
}

#[tokio::test]
async fn the_right_password_returns_the_account_whatever_the_email_case() {
    let app = spawn_app().await;
    let email = unique_email();
    let registered = app.register_email(&email).await;

    let user = app
        .client()
        .verify_credentials(credentials(&email.to_uppercase(), PASSWORD))
        .await
        .unwrap()
        .into_inner();

    assert_eq!(user.id, registered.id);
}

#[tokio::test]
async fn a_wrong_password_and_an_unknown_email_fail_alike() {
    let app = spawn_app().await;
    let email = unique_email();
    app.register_email(&email).await;

    let wrong_password = app
        .client()
        .verify_credentials(credentials(&email, "not the password"))
        .await
        .unwrap_err();
    let unknown_email = app
        .client()
        .verify_credentials(credentials(&unique_email(), PASSWORD))
        .await
        .unwrap_err();
    let malformed_email = app
        .client()
        .verify_credentials(credentials("nobody", PASSWORD))
        .await
        .unwrap_err();

    for status in [&wrong_password, &unknown_email, &malformed_email] {
        assert_eq!(status.code(), Code::Unauthenticated);
        assert_eq!(status.message(), wrong_password.message());
    }
}
