//! What the users service does, independent of how it is called: the gRPC
//! layer, the start-up admin and the `admin` command all come through here.
//!
//! Authorization lives here too, against the database rather than the
//! token: a token proves who the caller is, but whether they are an admin
//! *now* is read from their account, so a demotion takes effect at once and
//! not only when old tokens expire.
//!
//! Every write that others care about enqueues its event in the same
//! transaction (the outbox), so an event is published if and only if the
//! change committed.

use std::collections::HashSet;

use sqlx::{PgConnection, PgPool};
use syncchain_events::{
    Envelope, outbox,
    payloads::users::{UserRegisteredV1, UserRoleChangedV1},
};
use syncchain_platform::{
    auth::{Caller, Role},
    paging::Page,
};

use crate::{
    domain::{Cursor, Email, NewUser, PageSize, Password, User, UserId, ValidationError},
    error::UsersError,
    password::PasswordHasher,
    sessions::{self, Sessions},
    storage::{self, NewRow},
};

/// The most ids one batch read may ask for.
pub const MAX_BATCH: usize = 1000;

/// A role before and after a change; equal when nothing changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RoleChange {
    pub user_id: UserId,
    pub from: Role,
    pub to: Role,
}

impl RoleChange {
    pub fn changed(&self) -> bool {
        self.from != self.to
    }
}

/// Why the start-up admin could not be ensured.
#[derive(Debug, thiserror::Error)]
pub enum BootstrapError {
    #[error(
        "an account with the email in SYNCCHAIN_ADMIN_EMAIL already exists and \
         SYNCCHAIN_ADMIN_PASSWORD is not its password, so it was not made an admin \
         (whoever registered it would have been); set SYNCCHAIN_ADMIN_PASSWORD to that \
         account's password, promote it with `syncchain admin promote`, or choose another email"
    )]
    NotTheirPassword,
    #[error(transparent)]
    Users(#[from] UsersError),
}

#[derive(Clone)]
pub struct Accounts {
    pool: PgPool,
    hasher: PasswordHasher,
}

impl Accounts {
    pub fn new(pool: PgPool, hasher: PasswordHasher) -> Self {
        Self { pool, hasher }
    }

    /// The session state (revocations, cut-offs) on the same database.
    pub fn sessions(&self) -> Sessions {
        Sessions::new(self.pool.clone())
    }

    #[tracing::instrument(skip_all)]
    pub async fn register(&self, new: NewUser) -> Result<User, UsersError> {
        // Hashing first means a taken email costs the same as a free one.
        let password_hash = self.hasher.hash(&new.password).await?;
        let mut tx = self.pool.begin().await?;
        let user = insert(&mut tx, &new, &password_hash, Role::Customer).await?;
        tx.commit().await?;
        tracing::info!(user.id = %user.id, "user registered");
        Ok(user)
    }

    #[tracing::instrument(skip_all, fields(caller.id = %caller.user_id, user.id = %id))]
    pub async fn get(&self, caller: &Caller, id: UserId) -> Result<User, UsersError> {
        if caller.user_id != id.as_uuid() {
            self.require_admin(caller).await?;
        }
        storage::find(&self.pool, id)
            .await?
            .ok_or(UsersError::NotFound)
    }

    /// The accounts among `ids` the caller may see, in the order asked,
    /// each once.
    #[tracing::instrument(skip_all, fields(caller.id = %caller.user_id, count = ids.len()))]
    pub async fn get_many(&self, caller: &Caller, ids: &[UserId]) -> Result<Vec<User>, UsersError> {
        if ids.len() > MAX_BATCH {
            return Err(ValidationError::new("ids", "at most 1000 ids at once").into());
        }
        let mut seen = HashSet::new();
        let mut wanted: Vec<UserId> = ids.iter().copied().filter(|id| seen.insert(*id)).collect();
        let only_self = wanted.iter().all(|id| id.as_uuid() == caller.user_id);
        if !only_self && !self.is_admin(caller).await? {
            wanted.retain(|id| id.as_uuid() == caller.user_id);
        }
        if wanted.is_empty() {
            return Ok(Vec::new());
        }
        let mut found = storage::find_many(&self.pool, &wanted).await?;
        found.sort_by_key(|user| wanted.iter().position(|id| *id == user.id));
        Ok(found)
    }

    #[tracing::instrument(skip_all, fields(caller.id = %caller.user_id))]
    pub async fn list(
        &self,
        caller: &Caller,
        after: Option<Cursor>,
        size: PageSize,
    ) -> Result<Page<User>, UsersError> {
        self.require_admin(caller).await?;
        let users = storage::list(&self.pool, after, size.get() + 1).await?;
        Ok(Page::from_rows(users, size, |u| Cursor {
            created_at: u.created_at,
            id: u.id.as_uuid(),
        }))
    }

    /// The account these credentials belong to. Every failure is the same
    /// [`UsersError::InvalidCredentials`], and every plausible attempt costs
    /// one Argon2 verification whether or not the account exists.
    #[tracing::instrument(skip_all)]
    pub async fn verify_credentials(
        &self,
        email: &str,
        password: &str,
    ) -> Result<User, UsersError> {
        // No stored password is longer; refusing early also caps the work an
        // anonymous caller can ask for. The cost reveals nothing about accounts.
        if password.chars().count() > Password::MAX_CHARS {
            return Err(UsersError::InvalidCredentials);
        }
        let account = match Email::parse(email) {
            Ok(email) => storage::credentials(&self.pool, &email.canonical()).await?,
            Err(_) => None,
        };
        let (user, stored) = match account {
            Some((user, hash)) => (Some(user), Some(hash)),
            None => (None, None),
        };
        let matches = self.hasher.verify(password, stored).await?;
        match user {
            Some(user) if matches => Ok(user),
            _ => Err(UsersError::InvalidCredentials),
        }
    }

    #[tracing::instrument(skip_all, fields(caller.id = %caller.user_id, user.id = %id, role = %role))]
    pub async fn set_role(
        &self,
        caller: &Caller,
        id: UserId,
        role: Role,
    ) -> Result<User, UsersError> {
        self.require_admin(caller).await?;
        let mut tx = self.pool.begin().await?;
        let user = storage::lock(&mut tx, id)
            .await?
            .ok_or(UsersError::NotFound)?;
        let user = change_role(&mut tx, user, role).await?.0;
        tx.commit().await?;
        Ok(user)
    }

    /// Makes sure an admin with this email exists: creates it when no
    /// account has the email (compared canonically), and otherwise promotes
    /// the account only if `password` is its password. Anyone may register
    /// an email before the operator configures it; promoting that account
    /// would hand the registrant the admin role, so a mismatch stops here.
    #[tracing::instrument(skip_all)]
    pub async fn ensure_admin(
        &self,
        email: &Email,
        password: &Password,
    ) -> Result<User, BootstrapError> {
        let canonical = email.canonical();
        // Two instances starting together may both try to create it; the
        // loser finds the winner's account on its second pass.
        for _ in 0..2 {
            let mut tx = self.pool.begin().await.map_err(UsersError::from)?;
            if let Some((user, stored)) = storage::lock_by_email(&mut tx, &canonical)
                .await
                .map_err(UsersError::from)?
            {
                if user.role == Role::Admin {
                    return Ok(user);
                }
                if !self
                    .hasher
                    .verify(password.expose(), Some(stored))
                    .await
                    .map_err(UsersError::from)?
                {
                    return Err(BootstrapError::NotTheirPassword);
                }
                let (user, _) = change_role(&mut tx, user, Role::Admin).await?;
                tx.commit().await.map_err(UsersError::from)?;
                tracing::info!(user.id = %user.id, "start-up admin promoted");
                return Ok(user);
            }
            let password_hash = self.hasher.hash(password).await.map_err(UsersError::from)?;
            let new = NewUser {
                email: email.clone(),
                password: password.clone(),
                ..placeholder_profile()?
            };
            match insert(&mut tx, &new, &password_hash, Role::Admin).await {
                Ok(user) => {
                    tx.commit().await.map_err(UsersError::from)?;
                    tracing::info!(user.id = %user.id, "start-up admin created");
                    return Ok(user);
                }
                Err(UsersError::EmailTaken) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(UsersError::EmailTaken.into())
    }

    async fn is_admin(&self, caller: &Caller) -> Result<bool, UsersError> {
        let role = storage::role_of(&self.pool, UserId::from(caller.user_id)).await?;
        Ok(role == Some(Role::Admin))
    }

    async fn require_admin(&self, caller: &Caller) -> Result<(), UsersError> {
        if self.is_admin(caller).await? {
            Ok(())
        } else {
            Err(UsersError::Forbidden)
        }
    }
}

/// Sets the role of the account with this email, for operators: no caller
/// and no password hasher, since whoever can run the command owns the
/// deployment.
#[tracing::instrument(skip_all, fields(role = %role))]
pub async fn set_role_by_email(
    pool: &PgPool,
    email: &Email,
    role: Role,
) -> Result<RoleChange, UsersError> {
    let mut tx = pool.begin().await?;
    let (user, _) = storage::lock_by_email(&mut tx, &email.canonical())
        .await?
        .ok_or(UsersError::NotFound)?;
    let (_, change) = change_role(&mut tx, user, role).await?;
    tx.commit().await?;
    Ok(change)
}

async fn insert(
    conn: &mut PgConnection,
    new: &NewUser,
    password_hash: &str,
    role: Role,
) -> Result<User, UsersError> {
    let user = storage::insert(
        conn,
        NewRow {
            id: UserId::generate(),
            email: new.email.as_str(),
            email_canonical: &new.email.canonical(),
            password_hash,
            first_name: new.first_name.as_str(),
            last_name: new.last_name.as_str(),
            location: new.location.as_str(),
            contact_number: new.contact_number.as_str(),
            role,
        },
    )
    .await?;
    let event = Envelope::new(&UserRegisteredV1 {
        user_id: user.id.as_uuid(),
        role: role.as_str().to_owned(),
    })?;
    outbox::enqueue(conn, &event).await?;
    Ok(user)
}

/// Changes a locked account's role and enqueues the event, unless the role
/// is already the one asked for. A change also ends the account's sessions
/// (tokens carry the role) and enqueues that event, in the same transaction.
async fn change_role(
    conn: &mut PgConnection,
    user: User,
    role: Role,
) -> Result<(User, RoleChange), UsersError> {
    let change = RoleChange {
        user_id: user.id,
        from: user.role,
        to: role,
    };
    if !change.changed() {
        return Ok((user, change));
    }
    let user = storage::set_role(conn, user.id, role).await?;
    let event = Envelope::new(&UserRoleChangedV1 {
        user_id: user.id.as_uuid(),
        from: change.from.as_str().to_owned(),
        to: change.to.as_str().to_owned(),
    })?;
    outbox::enqueue(conn, &event).await?;
    sessions::end_all(conn, user.id).await?;
    tracing::info!(user.id = %user.id, from = %change.from, to = %change.to, "user role changed");
    Ok((user, change))
}

/// The profile of an admin created from the environment, which gives only
/// an email and a password: plain placeholders that pass every rule.
fn placeholder_profile() -> Result<NewUser, UsersError> {
    use crate::domain::NewUserInput;
    Ok(NewUser::parse(NewUserInput {
        email: "admin@localhost.invalid",
        password: "placeholder-never-used",
        first_name: "Admin",
        last_name: "Admin",
        location: "Unknown",
        contact_number: "0000000",
    })?)
}
