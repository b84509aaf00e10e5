//! An account as stored. It never carries the password hash: that stays in
//! the storage module, which hands it out only to the credential check.

use chrono::{DateTime, Utc};
use syncchain_platform::auth::Role;

use super::UserId;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub id: UserId,
    pub email: String,
    pub first_name: String,
    pub last_name: String,
    pub location: String,
    pub contact_number: String,
    pub role: Role,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}
