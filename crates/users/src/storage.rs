//! All SQL of the users service, and nothing else. Queries are checked at
//! run time (no build-time database); each function takes the executor it
//! should run on, so callers decide what shares a transaction. Emails are
//! compared only through the `email_canonical` column (the form of
//! `syncchain_platform::identity::canonical_email`), never with `lower()`;
//! a unique violation on its constraint becomes [`StoreError::EmailTaken`],
//! matched by the constraint's name.

use sqlx::{PgConnection, PgExecutor, Row, postgres::PgRow};
use syncchain_platform::auth::Role;
use uuid::Uuid;

use crate::domain::{Cursor, User, UserId};

pub mod canonical;
pub mod sessions;

/// The unique constraint on `email_canonical` (see the migrations).
const EMAIL_UNIQUE_INDEX: &str = "users_email_canonical_key";

const COLUMNS: &str =
    "id, email, first_name, last_name, location, contact_number, role, created_at, updated_at";

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("an account with this email already exists")]
    EmailTaken,
    #[error("database query failed")]
    Database(#[from] sqlx::Error),
}

/// The columns of a new account.
pub struct NewRow<'a> {
    pub id: UserId,
    pub email: &'a str,
    /// `Email::canonical` of `email`.
    pub email_canonical: &'a str,
    pub password_hash: &'a str,
    pub first_name: &'a str,
    pub last_name: &'a str,
    pub location: &'a str,
    pub contact_number: &'a str,
    pub role: Role,
}

pub async fn insert(conn: &mut PgConnection, row: NewRow<'_>) -> Result<User, StoreError> {
    let sql = format!(
        "INSERT INTO users (id, email, password_hash, first_name, last_name, location, contact_number, role, email_canonical)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
         RETURNING {COLUMNS}"
    );
    let result = sqlx::query(&sql)
        .bind(row.id.as_uuid())
        .bind(row.email)
        .bind(row.password_hash)
        .bind(row.first_name)
        .bind(row.last_name)
        .bind(row.location)
        .bind(row.contact_number)
        .bind(row.role.as_str())
        .bind(row.email_canonical)
        .fetch_one(conn)
        .await;
    match result {
        Ok(row) => Ok(user_from(&row)?),
        Err(sqlx::Error::Database(e))
            if e.is_unique_violation() && e.constraint() == Some(EMAIL_UNIQUE_INDEX) =>
        {
            Err(StoreError::EmailTaken)
        }
        Err(e) => Err(e.into()),
    }
}

pub async fn find(executor: impl PgExecutor<'_>, id: UserId) -> Result<Option<User>, sqlx::Error> {
    let sql = format!("SELECT {COLUMNS} FROM users WHERE id = $1");
    let row = sqlx::query(&sql)
        .bind(id.as_uuid())
        .fetch_optional(executor)
        .await?;
    row.as_ref().map(user_from).transpose()
}

/// The accounts among `ids` that exist, in no particular order.
pub async fn find_many(
    executor: impl PgExecutor<'_>,
    ids: &[UserId],
) -> Result<Vec<User>, sqlx::Error> {
    let ids: Vec<Uuid> = ids.iter().map(|id| id.as_uuid()).collect();
    let sql = format!("SELECT {COLUMNS} FROM users WHERE id = ANY($1)");
    let rows = sqlx::query(&sql).bind(ids).fetch_all(executor).await?;
    rows.iter().map(user_from).collect()
}

/// The account's current role; `None` when there is no such account.
pub async fn role_of(
    executor: impl PgExecutor<'_>,
    id: UserId,
) -> Result<Option<Role>, sqlx::Error> {
    let role: Option<String> = sqlx::query_scalar("SELECT role FROM users WHERE id = $1")
        .bind(id.as_uuid())
        .fetch_optional(executor)
        .await?;
    role.map(|r| parse_role(&r)).transpose()
}

/// The account with this canonical email and its password hash, for the
/// credential checks only.
pub async fn credentials(
    executor: impl PgExecutor<'_>,
    email_canonical: &str,
) -> Result<Option<(User, String)>, sqlx::Error> {
    let sql = format!("SELECT {COLUMNS}, password_hash FROM users WHERE email_canonical = $1");
    let row = sqlx::query(&sql)
        .bind(email_canonical)
        .fetch_optional(executor)
        .await?;
    row.map(|row| Ok((user_from(&row)?, row.try_get("password_hash")?)))
        .transpose()
}

/// Up to `limit` accounts after `after` in `(created_at, id)` order, which
/// the `users_created_at_id_idx` index serves directly.
pub async fn list(
    executor: impl PgExecutor<'_>,
    after: Option<Cursor>,
    limit: u32,
) -> Result<Vec<User>, sqlx::Error> {
    let limit = i64::from(limit);
    let rows = match after {
        None => {
            let sql = format!("SELECT {COLUMNS} FROM users ORDER BY created_at, id LIMIT $1");
            sqlx::query(&sql).bind(limit).fetch_all(executor).await?
        }
        Some(cursor) => {
            let sql = format!(
                "SELECT {COLUMNS} FROM users WHERE (created_at, id) > ($1, $2)
                 ORDER BY created_at, id LIMIT $3"
            );
            sqlx::query(&sql)
                .bind(cursor.created_at)
                .bind(cursor.id)
                .bind(limit)
                .fetch_all(executor)
                .await?
        }
    };
    rows.iter().map(user_from).collect()
}

/// The account with this id, locked until the transaction ends.
pub async fn lock(conn: &mut PgConnection, id: UserId) -> Result<Option<User>, sqlx::Error> {
    let sql = format!("SELECT {COLUMNS} FROM users WHERE id = $1 FOR UPDATE");
    let row = sqlx::query(&sql)
        .bind(id.as_uuid())
        .fetch_optional(conn)
        .await?;
    row.as_ref().map(user_from).transpose()
}

/// The account with this canonical email and its password hash, locked
/// until the transaction ends.
pub async fn lock_by_email(
    conn: &mut PgConnection,
    email_canonical: &str,
) -> Result<Option<(User, String)>, sqlx::Error> {
    let sql =
        format!("SELECT {COLUMNS}, password_hash FROM users WHERE email_canonical = $1 FOR UPDATE");
    let row = sqlx::query(&sql)
        .bind(email_canonical)
        .fetch_optional(conn)
        .await?;
    row.map(|row| Ok((user_from(&row)?, row.try_get("password_hash")?)))
        .transpose()
}

pub async fn set_role(
    conn: &mut PgConnection,
    id: UserId,
    role: Role,
) -> Result<User, sqlx::Error> {
    let sql =
        format!("UPDATE users SET role = $2, updated_at = now() WHERE id = $1 RETURNING {COLUMNS}");
    let row = sqlx::query(&sql)
        .bind(id.as_uuid())
        .bind(role.as_str())
        .fetch_one(conn)
        .await?;
    user_from(&row)
}

fn user_from(row: &PgRow) -> Result<User, sqlx::Error> {
    Ok(User {
        id: UserId::from(row.try_get::<Uuid, _>("id")?),
        email: row.try_get("email")?,
        first_name: row.try_get("first_name")?,
        last_name: row.try_get("last_name")?,
        location: row.try_get("location")?,
        contact_number: row.try_get("contact_number")?,
        role: parse_role(row.try_get("role")?)?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

fn parse_role(raw: &str) -> Result<Role, sqlx::Error> {
    raw.parse()
        .map_err(|message: String| sqlx::Error::ColumnDecode {
            index: "role".into(),
            source: message.into(),
        })
}
