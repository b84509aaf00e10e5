//! The session replica against the real broker: revocations and cut-offs
//! published on a namespace's USERS stream are refused by a replica that
//! was following, and by one started afterwards (it replays the stream).

use std::time::Duration;

use chrono::Utc;
use syncchain_events::{
    Envelope, Event,
    payloads::users::{UserRegisteredV1, UserSessionsEndedV1, UserTokenRevokedV1},
    sessions::{Refusal, Sessions},
    streams,
};
use syncchain_platform::{
    auth::{Caller, JwtSecret, Role, TokenKeys},
    shutdown::Shutdown,
};
use syncchain_testkit::eventually;
use uuid::Uuid;

use crate::support::{Setup, WAIT, setup};

fn keys() -> TokenKeys {
    let secret = JwtSecret::new(vec![7; 32]).unwrap();
    TokenKeys::new(&secret, Duration::from_secs(300))
}

/// A freshly issued, verified token of `user_id`.
fn caller(keys: &TokenKeys, user_id: Uuid) -> Caller {
    keys.verify(&keys.issue(user_id, Role::Admin).unwrap().token)
        .unwrap()
}

async fn publish<E: Event>(setup: &Setup, event: &E) {
    let envelope = Envelope::new(event).unwrap();
    setup
        .jetstream
        .publish(
            setup.namespace.subject(E::TYPE),
            envelope.to_json().unwrap().into(),
        )
        .await
        .unwrap()
        .await
        .unwrap();
}

/// Publishes the revocation of `token`, as the users service does on sign-out.
async fn revoke(setup: &Setup, token: &Caller) {
    publish(
        setup,
        &UserTokenRevokedV1 {
            user_id: token.user_id,
            token_id: token.token_id,
            expires_at: token.expires_at,
        },
    )
    .await;
}

/// A replica following `setup`'s USERS stream until `stop` fires.
fn follow(setup: &Setup, stop: &Shutdown) -> Sessions {
    let sessions = Sessions::new(Duration::from_secs(300));
    let feed = sessions.feed(setup.jetstream.clone(), setup.namespace.clone());
    tokio::spawn(feed.run(stop.clone()));
    sessions
}

async fn refuses(sessions: &Sessions, caller: &Caller, refusal: Refusal) -> bool {
    eventually(WAIT, || async {
        sessions.admit(caller).await == Err(refusal)
    })
    .await
}

#[tokio::test]
async fn a_following_replica_refuses_a_revoked_token_and_a_token_issued_before_a_cut_off() {
    let setup = setup().await;
    let stop = Shutdown::new();
    let sessions = follow(&setup, &stop);
    let keys = keys();
    let (revoked, cut_off, fresh) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
    let revoked_token = caller(&keys, revoked);
    let other_token = caller(&keys, revoked);
    let old_token = caller(&keys, cut_off);
    assert!(eventually(WAIT, || async { sessions.is_ready() }).await);
    assert_eq!(sessions.admit(&revoked_token).await, Ok(()));

    revoke(&setup, &revoked_token).await;
    tokio::time::sleep(Duration::from_millis(2)).await;
    publish(
        &setup,
        &UserSessionsEndedV1 {
            user_id: cut_off,
            before: Utc::now(),
        },
    )
    .await;

    assert!(refuses(&sessions, &revoked_token, Refusal::Revoked).await);
    assert!(refuses(&sessions, &old_token, Refusal::RoleChanged).await);
    tokio::time::sleep(Duration::from_millis(2)).await;
    assert_eq!(sessions.admit(&other_token).await, Ok(()));
    assert_eq!(sessions.admit(&caller(&keys, cut_off)).await, Ok(()));
    assert_eq!(sessions.admit(&caller(&keys, fresh)).await, Ok(()));
    stop.cancel();
    setup.cleanup().await;
}

#[tokio::test]
async fn a_replica_started_after_the_events_replays_them_before_it_is_ready() {
    let setup = setup().await;
    let keys = keys();
    let user = Uuid::now_v7();
    let revoked = caller(&keys, user);
    let old = caller(&keys, Uuid::now_v7());
    revoke(&setup, &revoked).await;
    tokio::time::sleep(Duration::from_millis(2)).await;
    publish(
        &setup,
        &UserSessionsEndedV1 {
            user_id: old.user_id,
            before: Utc::now(),
        },
    )
    .await;
    // Other users events are on the stream too, and ignored.
    publish(
        &setup,
        &UserRegisteredV1 {
            user_id: Uuid::now_v7(),
            role: "CUSTOMER".into(),
        },
    )
    .await;

    tokio::time::sleep(Duration::from_millis(2)).await;
    let stop = Shutdown::new();
    let sessions = follow(&setup, &stop);

    // No wait on readiness first: a check before the replay has caught up
    // waits for it rather than letting the token through.
    assert_eq!(sessions.admit(&revoked).await, Err(Refusal::Revoked));
    assert_eq!(sessions.admit(&old).await, Err(Refusal::RoleChanged));
    assert!(sessions.is_ready());
    assert_eq!(sessions.admit(&caller(&keys, user)).await, Ok(()));
    stop.cancel();
    setup.cleanup().await;
}

#[tokio::test]
async fn a_revocation_that_has_expired_is_forgotten() {
    let setup = setup().await;
    let keys = keys();
    let user = Uuid::now_v7();
    let token = caller(&keys, user);
    publish(
        &setup,
        &UserTokenRevokedV1 {
            user_id: user,
            token_id: token.token_id,
            expires_at: Utc::now() - chrono::Duration::seconds(1),
        },
    )
    .await;
    let stop = Shutdown::new();
    let sessions = follow(&setup, &stop);
    assert!(eventually(WAIT, || async { sessions.is_ready() }).await);

    assert_eq!(sessions.admit(&token).await, Ok(()));
    stop.cancel();
    setup.cleanup().await;
}

#[tokio::test]
async fn a_replica_without_its_stream_is_not_ready_and_refuses_as_unavailable() {
    let setup = setup().await;
    setup
        .jetstream
        .delete_stream(setup.namespace.stream(streams::USERS))
        .await
        .unwrap();
    let keys = keys();
    let stop = Shutdown::new();
    let sessions = follow(&setup, &stop);

    assert_eq!(
        sessions.admit(&caller(&keys, Uuid::now_v7())).await,
        Err(Refusal::NotReady)
    );
    assert!(!sessions.is_ready());
    stop.cancel();
    setup.cleanup().await;
}

/// A stream created again numbers its messages from 1: a replica that
/// resumed at the old stream's next sequence would skip the revocations
/// published on the new one.
#[tokio::test]
async fn a_revocation_on_a_users_stream_created_again_is_refused() {
    let setup = setup().await;
    let keys = keys();
    for _ in 0..3 {
        publish(
            &setup,
            &UserRegisteredV1 {
                user_id: Uuid::now_v7(),
                role: "CUSTOMER".into(),
            },
        )
        .await;
    }
    let stop = Shutdown::new();
    let sessions = follow(&setup, &stop);
    assert!(eventually(WAIT, || async { sessions.is_ready() }).await);

    setup
        .jetstream
        .delete_stream(setup.namespace.stream(streams::USERS))
        .await
        .unwrap();
    streams::ensure_streams(&setup.jetstream, &setup.namespace, 1)
        .await
        .unwrap();
    let user = Uuid::now_v7();
    let revoked = caller(&keys, user);
    revoke(&setup, &revoked).await;

    assert!(refuses(&sessions, &revoked, Refusal::Revoked).await);
    assert_eq!(sessions.admit(&caller(&keys, user)).await, Ok(()));
    stop.cancel();
    setup.cleanup().await;
}
