//! The users domain. Wire input is parsed into these types at the gRPC
//! boundary ("parse, don't validate"): once a [`NewUser`] exists, every field
//! in it is known to be valid, and the core never handles raw strings.
//!
//! Each rule reports a [`ValidationError`] naming the field as clients know
//! it (the GraphQL input names), so the gateway can point at it.

mod contact_number;
mod email;
mod location;
mod new_user;
mod password;
mod person_name;
mod user;
mod user_id;

pub use contact_number::ContactNumber;
pub use email::Email;
pub use location::Location;
pub use new_user::{NewUser, NewUserInput};
pub use password::Password;
pub use person_name::PersonName;
pub use syncchain_platform::validation::ValidationError;
pub use user::User;
pub use user_id::UserId;

// Accounts are paged like every list, with the shared keyset cursor.
pub use syncchain_platform::paging::{Cursor, PageSize};
