//! Events the users service emits. They carry ids and roles only: no email,
//! name or phone number ever leaves the users database through an event.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::Event;

/// A new account exists.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct UserRegisteredV1 {
    pub user_id: Uuid,
    pub role: String,
}

impl Event for UserRegisteredV1 {
    const TYPE: &'static str = "users.registered";
    const VERSION: u16 = 1;
}

/// An account's role changed (promotion or demotion).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct UserRoleChangedV1 {
    pub user_id: Uuid,
    pub from: String,
    pub to: String,
}

impl Event for UserRoleChangedV1 {
    const TYPE: &'static str = "users.role_changed";
    const VERSION: u16 = 1;
}

/// Every token issued to `user_id` before `before` stops counting: its
/// role changed (promotion or demotion), and tokens carry the role. Tokens
/// issued at or after `before` are unaffected.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct UserSessionsEndedV1 {
    pub user_id: Uuid,
    /// The cut-off, in milliseconds precision: a token whose `iat_ms` is
    /// earlier is refused.
    pub before: chrono::DateTime<chrono::Utc>,
}

impl Event for UserSessionsEndedV1 {
    const TYPE: &'static str = "users.sessions_ended";
    const VERSION: u16 = 1;
}

/// One token was signed out; it is refused until it would have expired.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct UserTokenRevokedV1 {
    pub user_id: Uuid,
    /// The token's `jti`.
    pub token_id: Uuid,
    /// When the token expires anyway; the revocation can be forgotten after.
    pub expires_at: chrono::DateTime<chrono::Utc>,
}

impl Event for UserTokenRevokedV1 {
    const TYPE: &'static str = "users.token_revoked";
    const VERSION: u16 = 1;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Envelope;

    #[test]
    fn user_events_round_trip_through_an_envelope() {
        let registered = UserRegisteredV1 {
            user_id: Uuid::now_v7(),
            role: "USER".into(),
        };
        let changed = UserRoleChangedV1 {
            user_id: registered.user_id,
            from: "USER".into(),
            to: "ADMIN".into(),
        };
        let a = Envelope::new(&registered).unwrap();
        let b = Envelope::new(&changed).unwrap();
        assert_eq!(a.event_type, "users.registered");
        assert_eq!(b.event_type, "users.role_changed");
        assert_eq!(a.decode::<UserRegisteredV1>().unwrap(), registered);
        assert_eq!(b.decode::<UserRoleChangedV1>().unwrap(), changed);
    }
}
