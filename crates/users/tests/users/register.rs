use syncchain_platform::grpc::field_of;
use syncchain_proto::users::v1::{self as proto, GetUserRequest, RegisterRequest};
use tonic::Code;

use crate::helpers::{as_caller, registration, spawn_app, unique_email};

#[tokio::test]
async fn a_registered_user_can_be_read_back_as_typed() {
    let app = spawn_app().await;
    let email = format!("Zoë.{}@Example.COM", uuid::Uuid::new_v4().simple());
    let request = RegisterRequest {
        first_name: "  José ".into(),
        last_name: "Nguyễn-O\u{2019}Brien".into(),
        location: "São Paulo".into(),
        ..registration(&email)
    };

    let registered = app.register(request).await.unwrap();
    let token = app.token(&registered.id, syncchain_platform::auth::Role::Customer);
    let fetched = app
        .client()
        .get_user(as_caller(
            GetUserRequest {
                id: registered.id.clone(),
            },
            &token,
        ))
        .await
        .unwrap()
        .into_inner();

    assert_eq!(fetched, registered);
    assert_eq!(fetched.email, email);
    assert_eq!(fetched.first_name, "José");
    assert_eq!(fetched.last_name, "Nguyễn-O\u{2019}Brien");
    assert_eq!(fetched.role, proto::Role::Customer as i32);
    assert!(fetched.created_at.is_some());
}

#[tokio::test]
async fn an_email_taken_in_another_case_is_already_exists() {
    let app = spawn_app().await;
    let email = unique_email();
    app.register_email(&email).await;

    let status = app
        .register(registration(&email.to_uppercase()))
        .await
        .unwrap_err();

    assert_eq!(status.code(), Code::AlreadyExists);
    assert_eq!(field_of(&status).as_deref(), Some("email"));
}

#[tokio::test]
async fn each_invalid_field_is_invalid_argument_naming_it() {
    let app = spawn_app().await;
    let valid = registration(&unique_email());
    let cases = [
        (
            "email",
            RegisterRequest {
                email: "not-an-email".into(),
                ..valid.clone()
            },
        ),
        (
            "password",
            RegisterRequest {
                password: "short".into(),
                ..valid.clone()
            },
        ),
        (
            "firstName",
            RegisterRequest {
                first_name: "R2-D2".into(),
                ..valid.clone()
            },
        ),
        (
            "lastName",
            RegisterRequest {
                last_name: " ".into(),
                ..valid.clone()
            },
        ),
        (
            "location",
            RegisterRequest {
                location: String::new(),
                ..valid.clone()
            },
        ),
        (
            "contactNumber",
            RegisterRequest {
                contact_number: "12-34".into(),
                ..valid.clone()
            },
        ),
    ];

    for (field, request) in cases {
        let status = app.register(request).await.unwrap_err();
        assert_eq!(status.code(), Code::InvalidArgument, "{field}");
        assert_eq!(field_of(&status).as_deref(), Some(field));
    }
    // Nothing was stored by the refused attempts: the valid one still works.
    app.register(valid).await.unwrap();
}
