//! Session state kept durably by the users service: revoked tokens and the
//! cut-off every role change sets, the RPCs that read them, and the events
//! that tell the other services.

use std::time::Duration;

use chrono::Utc;
use syncchain_events::{
    Envelope, outbox,
    payloads::users::{UserSessionsEndedV1, UserTokenRevokedV1},
    streams,
};
use syncchain_platform::auth::{Claims, Role};
use syncchain_proto::users::v1::{
    self as proto, CheckSessionRequest, ListSessionStateRequest, RevokeTokenRequest, SessionStatus,
    SetRoleRequest,
};
use syncchain_testkit::{eventually, poll};
use syncchain_users::config::DATABASE_URL_VAR;
use uuid::Uuid;

use crate::helpers::{PASSWORD, TestApp, as_caller, spawn_app, spawn_app_with, unique_email};

const DEADLINE: Duration = Duration::from_secs(10);

async fn session_status(app: &TestApp, token: &str) -> Result<SessionStatus, tonic::Status> {
    let answer = app
        .client()
        .check_session(as_caller(CheckSessionRequest {}, token))
        .await?
        .into_inner();
    Ok(SessionStatus::try_from(answer.status).expect("a known status"))
}

async fn revoke(app: &TestApp, token: &str) -> Result<(), tonic::Status> {
    app.client()
        .revoke_token(as_caller(RevokeTokenRequest {}, token))
        .await
        .map(|_| ())
}

/// The users stream of the app's namespace (only this test writes to it).
async fn users_stream(app: &TestApp) -> async_nats::jetstream::stream::Stream {
    let namespace = app.namespace.clone();
    let nats = async_nats::connect(syncchain_testkit::nats_url())
        .await
        .unwrap();
    async_nats::jetstream::new(nats)
        .get_stream(namespace.stream(streams::USERS))
        .await
        .unwrap()
}

async fn last_event(app: &TestApp, event_type: &str) -> Option<Envelope> {
    let namespace = app.namespace.clone();
    let message = users_stream(app)
        .await
        .get_last_raw_message_by_subject(&namespace.subject(event_type))
        .await
        .ok()?;
    Envelope::from_json(&message.payload).ok()
}

async fn drained(app: &TestApp) -> bool {
    eventually(DEADLINE, || async {
        outbox::pending(&app.pool).await.is_ok_and(|n| n == 0)
    })
    .await
}

#[tokio::test]
async fn a_revoked_token_is_reported_revoked_and_the_users_other_tokens_are_not() {
    let app = spawn_app().await;
    let (user, token) = app.customer().await;
    let other = app.token(&user.id, Role::Customer);
    assert_eq!(
        session_status(&app, &token).await.unwrap(),
        SessionStatus::Valid
    );

    revoke(&app, &token).await.unwrap();

    assert_eq!(
        session_status(&app, &token).await.unwrap(),
        SessionStatus::Revoked
    );
    assert_eq!(
        session_status(&app, &other).await.unwrap(),
        SessionStatus::Valid
    );
}

#[tokio::test]
async fn revoking_twice_succeeds_and_publishes_users_token_revoked_once() {
    let app = spawn_app().await;
    let (user, token) = app.customer().await;
    let caller = app.keys.verify(&token).unwrap();

    revoke(&app, &token).await.unwrap();
    revoke(&app, &token).await.unwrap();

    let published = eventually(DEADLINE, || async {
        last_event(&app, "users.token_revoked")
            .await
            .is_some_and(|e| {
                e.decode::<UserTokenRevokedV1>().is_ok_and(|p| {
                    p.token_id == caller.token_id
                        && p.user_id.to_string() == user.id
                        && p.expires_at == caller.expires_at
                })
            })
    })
    .await;
    assert!(published, "users.token_revoked was not published in time");
    assert!(drained(&app).await, "the outbox was not drained in time");
    let messages = users_stream(&app)
        .await
        .info()
        .await
        .unwrap()
        .state
        .messages;
    assert_eq!(
        messages, 2,
        "one users.registered and one users.token_revoked"
    );
}

#[tokio::test]
async fn revoking_and_checking_need_a_valid_token() {
    let app = spawn_app().await;

    let revoked = app.client().revoke_token(RevokeTokenRequest {}).await;
    let checked = app
        .client()
        .check_session(as_caller(CheckSessionRequest {}, "not-a-token"))
        .await;

    assert_eq!(revoked.unwrap_err().code(), tonic::Code::Unauthenticated);
    assert_eq!(checked.unwrap_err().code(), tonic::Code::Unauthenticated);
}

#[tokio::test]
async fn a_role_change_ends_the_sessions_issued_before_it_and_publishes_users_sessions_ended() {
    let app = spawn_app().await;
    let (_, admin) = app.admin().await;
    let (customer, old_token) = app.customer().await;
    let started = Utc::now();

    app.client()
        .set_role(as_caller(
            SetRoleRequest {
                id: customer.id.clone(),
                role: proto::Role::Admin as i32,
            },
            &admin,
        ))
        .await
        .unwrap();

    assert_eq!(
        session_status(&app, &old_token).await.unwrap(),
        SessionStatus::Ended
    );
    // The cut-off is rounded up to the next millisecond: a token issued
    // shortly after the change counts.
    let fresh = poll(
        DEADLINE,
        || async {
            let token = app.token(&customer.id, Role::Admin);
            session_status(&app, &token).await.ok()
        },
        |status| *status == Some(SessionStatus::Valid),
    )
    .await;
    assert_eq!(fresh, Some(SessionStatus::Valid));
    let published = eventually(DEADLINE, || async {
        last_event(&app, "users.sessions_ended")
            .await
            .is_some_and(|e| {
                e.decode::<UserSessionsEndedV1>()
                    .is_ok_and(|p| p.user_id.to_string() == customer.id && p.before > started)
            })
    })
    .await;
    assert!(published, "users.sessions_ended was not published in time");
}

#[tokio::test]
async fn setting_the_role_someone_already_has_ends_no_session() {
    let app = spawn_app().await;
    let (_, admin) = app.admin().await;
    let (customer, token) = app.customer().await;

    app.client()
        .set_role(as_caller(
            SetRoleRequest {
                id: customer.id.clone(),
                role: proto::Role::Customer as i32,
            },
            &admin,
        ))
        .await
        .unwrap();

    assert_eq!(
        session_status(&app, &token).await.unwrap(),
        SessionStatus::Valid
    );
}

#[tokio::test]
async fn the_start_up_admin_promotion_ends_the_sessions_of_the_account() {
    let first = spawn_app().await;
    let email = unique_email();
    let user = first.register_email(&email).await;
    let database_url = first.database_url.clone();
    first.stop().await.unwrap();
    let before_start = Utc::now() - chrono::Duration::seconds(1);

    let app = spawn_app_with(&[
        (DATABASE_URL_VAR, database_url.as_str()),
        ("SYNCCHAIN_ADMIN_EMAIL", email.as_str()),
        // The account's own password: only then is an existing account
        // promoted at start.
        ("SYNCCHAIN_ADMIN_PASSWORD", PASSWORD),
    ])
    .await;
    let old_token = app
        .keys
        .sign(&Claims {
            sub: Uuid::parse_str(&user.id).unwrap(),
            role: Role::Customer,
            iss: "syncchain".into(),
            iat: before_start.timestamp(),
            iat_ms: Some(before_start.timestamp_millis()),
            exp: (Utc::now() + chrono::Duration::minutes(5)).timestamp(),
            jti: Uuid::new_v4(),
        })
        .unwrap();

    assert_eq!(
        session_status(&app, &old_token).await.unwrap(),
        SessionStatus::Ended
    );
}

#[tokio::test]
async fn the_session_state_lists_every_revocation_and_recent_cutoff_page_by_page() {
    let app = spawn_app().await;
    let (_, admin) = app.admin().await;
    let (customer, _) = app.customer().await;
    let mut revoked = Vec::new();
    for _ in 0..3 {
        let token = app.token(&customer.id, Role::Customer);
        revoke(&app, &token).await.unwrap();
        revoked.push(app.keys.verify(&token).unwrap().token_id.to_string());
    }
    app.client()
        .set_role(as_caller(
            SetRoleRequest {
                id: customer.id.clone(),
                role: proto::Role::Admin as i32,
            },
            &admin,
        ))
        .await
        .unwrap();
    let since = Some(syncchain_platform::grpc::timestamp(
        Utc::now() - chrono::Duration::hours(1),
    ));

    let (mut tokens, mut cutoffs, mut after, mut pages) = (vec![], vec![], String::new(), 0);
    loop {
        let page = app
            .client()
            .list_session_state(ListSessionStateRequest {
                cutoffs_since: since,
                first: 2,
                after,
            })
            .await
            .unwrap()
            .into_inner();
        pages += 1;
        assert!(page.revoked.len() + page.cutoffs.len() <= 2);
        tokens.extend(page.revoked.into_iter().map(|r| r.token_id));
        cutoffs.extend(page.cutoffs.into_iter().map(|c| c.user_id));
        if !page.has_next_page {
            break;
        }
        after = page.end_cursor;
    }
    let future = app
        .client()
        .list_session_state(ListSessionStateRequest {
            cutoffs_since: Some(syncchain_platform::grpc::timestamp(
                Utc::now() + chrono::Duration::hours(1),
            )),
            first: 0,
            after: String::new(),
        })
        .await
        .unwrap()
        .into_inner();

    tokens.sort();
    revoked.sort();
    assert_eq!(tokens, revoked);
    // The admin's own promotion set a cut-off too.
    assert!(cutoffs.contains(&customer.id), "{cutoffs:?}");
    assert!(pages >= 2, "the answer came in pages");
    assert_eq!(future.revoked.len(), 3);
    assert!(future.cutoffs.is_empty(), "old cut-offs are left out");
}

#[tokio::test]
async fn a_malformed_session_state_cursor_is_refused_naming_the_field() {
    let app = spawn_app().await;

    let status = app
        .client()
        .list_session_state(ListSessionStateRequest {
            cutoffs_since: None,
            first: 0,
            after: "garbage".into(),
        })
        .await
        .unwrap_err();

    assert_eq!(status.code(), tonic::Code::InvalidArgument);
    assert_eq!(
        syncchain_platform::grpc::field_of(&status).as_deref(),
        Some("after")
    );
}

#[tokio::test]
async fn revoking_a_token_prunes_revocations_long_expired() {
    let app = spawn_app().await;
    let (user, token) = app.customer().await;
    let stale = Uuid::new_v4();
    sqlx::query(
        "INSERT INTO revoked_tokens (token_id, user_id, expires_at)
         VALUES ($1, $2, now() - interval '1 hour')",
    )
    .bind(stale)
    .bind(Uuid::parse_str(&user.id).unwrap())
    .execute(&app.pool)
    .await
    .unwrap();

    revoke(&app, &token).await.unwrap();

    let left: i64 = sqlx::query_scalar("SELECT count(*) FROM revoked_tokens WHERE token_id = $1")
        .bind(stale)
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(left, 0);
}
