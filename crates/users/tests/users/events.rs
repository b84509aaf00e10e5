use std::time::Duration;

use syncchain_events::{
    Envelope, outbox,
    payloads::users::{UserRegisteredV1, UserRoleChangedV1},
    streams,
};
use syncchain_platform::auth::Role;
use syncchain_testkit::eventually;

use crate::helpers::{TestApp, spawn_app, unique_email};

const DEADLINE: Duration = Duration::from_secs(10);

/// The last event published on `event_type` in the app's namespace, if any.
async fn last_event(app: &TestApp, event_type: &str) -> Option<Envelope> {
    let namespace = app.namespace.clone();
    let nats = async_nats::connect(syncchain_testkit::nats_url())
        .await
        .ok()?;
    let jetstream = async_nats::jetstream::new(nats);
    let stream = jetstream
        .get_stream(namespace.stream(streams::USERS))
        .await
        .ok()?;
    let message = stream
        .get_last_raw_message_by_subject(&namespace.subject(event_type))
        .await
        .ok()?;
    Envelope::from_json(&message.payload).ok()
}

#[tokio::test]
async fn registering_publishes_users_registered_with_no_personal_data() {
    let app = spawn_app().await;
    let email = unique_email();

    let user = app.register_email(&email).await;

    let published = eventually(DEADLINE, || async {
        last_event(&app, "users.registered").await.is_some_and(|e| {
            e.decode::<UserRegisteredV1>()
                .is_ok_and(|p| p.user_id.to_string() == user.id && p.role == "CUSTOMER")
        })
    })
    .await;
    assert!(published, "users.registered was not published in time");
    let envelope = last_event(&app, "users.registered").await.unwrap();
    assert!(!serde_json::to_string(&envelope).unwrap().contains(&email));
    let drained = eventually(DEADLINE, || async {
        outbox::pending(&app.pool).await.is_ok_and(|n| n == 0)
    })
    .await;
    assert!(drained, "the outbox was not drained in time");
}

#[tokio::test]
async fn promoting_publishes_users_role_changed() {
    let app = spawn_app().await;
    let email = unique_email();
    let user = app.register_email(&email).await;

    syncchain_users::admin::set_role_by_email(&app.config, &email, Role::Admin)
        .await
        .unwrap();

    let published = eventually(DEADLINE, || async {
        last_event(&app, "users.role_changed")
            .await
            .is_some_and(|e| {
                e.decode::<UserRoleChangedV1>().is_ok_and(|p| {
                    p.user_id.to_string() == user.id && p.from == "CUSTOMER" && p.to == "ADMIN"
                })
            })
    })
    .await;
    assert!(published, "users.role_changed was not published in time");
}
