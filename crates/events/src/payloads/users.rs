//! Events the users service emits. They carry ids and roles only: no email,
//! name or phone number ever leaves the users database through an event.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::Event;

/// A new account exists.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserRegisteredV1 {
    pub user_id: Uuid,
    pub role: String,
}

impl Event for UserRegisteredV1 {
    const TYPE: &'static str = "users.registered";
    const VERSION: u16 = 1;
}

/// An account's role changed (promotion or demotion).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserRoleChangedV1 {
    pub user_id: Uuid,
    pub from: String,
    pub to: String,
}

impl Event for UserRoleChangedV1 {
    const TYPE: &'static str = "users.role_changed";
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
