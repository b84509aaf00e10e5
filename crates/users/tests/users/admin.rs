use syncchain_platform::{auth::Role, grpc::field_of};
use syncchain_proto::users::v1::{
    self as proto, ListUsersRequest, SetRoleRequest, VerifyCredentialsRequest,
};
use syncchain_users::{
    admin::{AdminError, set_role_by_email},
    config::DATABASE_URL_VAR,
};
use tonic::Code;

use crate::helpers::{as_caller, spawn_app, spawn_app_with, unique_email};

#[tokio::test]
async fn the_operator_command_promotes_by_email_in_any_case_and_says_what_changed() {
    let app = spawn_app().await;
    let email = unique_email();
    let user = app.register_email(&email).await;

    let first = set_role_by_email(&app.config, &email.to_uppercase(), Role::Admin)
        .await
        .unwrap();
    let again = set_role_by_email(&app.config, &email, Role::Admin)
        .await
        .unwrap();

    assert_eq!(first.user_id.to_string(), user.id);
    assert_eq!((first.from, first.to), (Role::Customer, Role::Admin));
    assert!(first.changed());
    assert!(!again.changed());
}

#[tokio::test]
async fn the_operator_command_names_an_email_nobody_registered() {
    let app = spawn_app().await;

    let err = set_role_by_email(&app.config, "nobody@example.com", Role::Admin)
        .await
        .unwrap_err();

    assert!(
        matches!(
            err.downcast_ref::<AdminError>(),
            Some(AdminError::NoSuchUser(_))
        ),
        "{err:#}"
    );
    assert!(err.to_string().contains("nobody@example.com"));
}

#[tokio::test]
async fn a_demoted_admin_loses_access_at_once_even_with_an_admin_token() {
    let app = spawn_app().await;
    let email = unique_email();
    let user = app.register_email(&email).await;
    set_role_by_email(&app.config, &email, Role::Admin)
        .await
        .unwrap();
    let admin_token = app.token(&user.id, Role::Admin);
    app.client()
        .list_users(as_caller(ListUsersRequest::default(), &admin_token))
        .await
        .unwrap();

    set_role_by_email(&app.config, &email, Role::Customer)
        .await
        .unwrap();
    let status = app
        .client()
        .list_users(as_caller(ListUsersRequest::default(), &admin_token))
        .await
        .unwrap_err();

    assert_eq!(status.code(), Code::PermissionDenied);
}

#[tokio::test]
async fn an_admin_sets_roles_and_a_customer_cannot() {
    let app = spawn_app().await;
    let (_, admin) = app.admin().await;
    let (customer, customer_token) = app.customer().await;
    let promote = |id: &str, role: proto::Role| SetRoleRequest {
        id: id.into(),
        role: role as i32,
    };

    let refused = app
        .client()
        .set_role(as_caller(
            promote(&customer.id, proto::Role::Admin),
            &customer_token,
        ))
        .await
        .unwrap_err();
    let unspecified = app
        .client()
        .set_role(as_caller(
            promote(&customer.id, proto::Role::Unspecified),
            &admin,
        ))
        .await
        .unwrap_err();
    let promoted = app
        .client()
        .set_role(as_caller(promote(&customer.id, proto::Role::Admin), &admin))
        .await
        .unwrap()
        .into_inner();
    let unknown = app
        .client()
        .set_role(as_caller(
            promote(&uuid::Uuid::new_v4().to_string(), proto::Role::Admin),
            &admin,
        ))
        .await
        .unwrap_err();

    assert_eq!(refused.code(), Code::PermissionDenied);
    assert_eq!(unspecified.code(), Code::InvalidArgument);
    assert_eq!(field_of(&unspecified).as_deref(), Some("role"));
    assert_eq!(promoted.role, proto::Role::Admin as i32);
    assert_eq!(unknown.code(), Code::NotFound);
}

#[tokio::test]
async fn the_start_up_admin_from_the_environment_exists_and_can_list_users() {
    let email = unique_email();
    let app = spawn_app_with(&[
        ("SYNCCHAIN_ADMIN_EMAIL", email.as_str()),
        ("SYNCCHAIN_ADMIN_PASSWORD", "bootstrap password"),
    ])
    .await;

    let admin = app
        .client()
        .verify_credentials(VerifyCredentialsRequest {
            email: email.clone(),
            password: "bootstrap password".into(),
        })
        .await
        .unwrap()
        .into_inner();
    let token = app.token(&admin.id, Role::Admin);
    let page = app
        .client()
        .list_users(as_caller(ListUsersRequest::default(), &token))
        .await
        .unwrap()
        .into_inner();

    assert_eq!(admin.role, proto::Role::Admin as i32);
    assert_eq!(page.users, vec![admin]);
}

#[tokio::test]
async fn the_start_up_admin_promotes_an_existing_account_only_with_its_password() {
    let first = spawn_app().await;
    let email = unique_email();
    first.register_email(&email).await;
    let database_url = first.database_url.clone();
    first.stop().await.unwrap();

    let app = spawn_app_with(&[
        (DATABASE_URL_VAR, database_url.as_str()),
        ("SYNCCHAIN_ADMIN_EMAIL", email.to_uppercase().as_str()),
        ("SYNCCHAIN_ADMIN_PASSWORD", crate::helpers::PASSWORD),
    ])
    .await;
    let user = app
        .client()
        .verify_credentials(VerifyCredentialsRequest {
            email,
            password: crate::helpers::PASSWORD.into(),
        })
        .await
        .unwrap()
        .into_inner();

    assert_eq!(user.role, proto::Role::Admin as i32);
}

#[tokio::test]
async fn the_start_up_admin_refuses_to_promote_an_account_whose_password_differs() {
    let first = spawn_app().await;
    let email = unique_email();
    first.register_email(&email).await;
    let database_url = first.database_url.clone();

    let env = syncchain_platform::config::Env::from_pairs([
        ("SYNCCHAIN_JWT_SECRET", "0123456789abcdef0123456789abcdef"),
        (DATABASE_URL_VAR, database_url.as_str()),
        ("SYNCCHAIN_USERS_DB_MAX_CONNECTIONS", "2"),
        ("SYNCCHAIN_NATS_URL", syncchain_testkit::nats_url().as_str()),
        ("SYNCCHAIN_EVENTS_NAMESPACE", first.namespace.as_str()),
        ("SYNCCHAIN_ADMIN_EMAIL", email.as_str()),
        ("SYNCCHAIN_ADMIN_PASSWORD", "a different password"),
    ]);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let started = syncchain_users::Application::build(
        &env,
        listener,
        syncchain_platform::shutdown::Shutdown::new(),
        &syncchain_platform::metrics::Metrics::new(),
    )
    .await;
    let user = first
        .client()
        .verify_credentials(VerifyCredentialsRequest {
            email,
            password: crate::helpers::PASSWORD.into(),
        })
        .await
        .unwrap()
        .into_inner();

    let error = format!("{:#}", started.err().expect("start-up fails"));
    assert!(error.contains("SYNCCHAIN_ADMIN_PASSWORD"), "{error}");
    assert!(error.contains("not made an admin"), "{error}");
    assert_eq!(user.role, proto::Role::Customer as i32);
}
