//! Users: the predecessor's `users`, `user(id)` and `registerUser`, plus
//! `me`, a cursor-paged `usersConnection` and `setUserRole`.

use async_graphql::{Context, Enum, ID, InputObject, Object, SimpleObject};
use chrono::{DateTime, Utc};
use syncchain_platform::grpc::request;
use syncchain_proto::users::v1 as pb;

use super::{
    context::{admin, caller, services, token},
    paging::{PageInfo, page_size},
};
use crate::errors::{ApiError, ApiResult};

#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum Role {
    Customer,
    Admin,
}

impl From<Role> for pb::Role {
    fn from(role: Role) -> Self {
        match role {
            Role::Customer => pb::Role::Customer,
            Role::Admin => pb::Role::Admin,
        }
    }
}

/// A person with an account. Contact details are visible only to that
/// person and to admins.
#[derive(SimpleObject, Clone, Debug)]
pub struct User {
    pub id: ID,
    pub first_name: String,
    pub last_name: String,
    pub email: String,
    pub location: String,
    pub contact_number: String,
    pub role: Role,
    pub created_at: DateTime<Utc>,
}

impl From<pb::User> for User {
    fn from(user: pb::User) -> Self {
        let role = match user.role() {
            pb::Role::Admin => Role::Admin,
            _ => Role::Customer,
        };
        let created_at = syncchain_platform::grpc::from_timestamp(user.created_at);
        Self {
            id: ID(user.id),
            first_name: user.first_name,
            last_name: user.last_name,
            email: user.email,
            location: user.location,
            contact_number: user.contact_number,
            role,
            created_at,
        }
    }
}

#[derive(InputObject)]
pub struct RegisterInput {
    pub email: String,
    pub password: String,
    pub first_name: String,
    pub last_name: String,
    pub location: String,
    pub contact_number: String,
}

#[derive(SimpleObject)]
pub struct UserConnection {
    pub nodes: Vec<User>,
    pub page_info: PageInfo,
}

async fn list(
    ctx: &Context<'_>,
    first: Option<i32>,
    after: Option<String>,
) -> ApiResult<UserConnection> {
    admin(ctx).await?;
    let message = pb::ListUsersRequest {
        first: page_size(first)?,
        after: after.unwrap_or_default(),
    };
    let page = services(ctx)?
        .users
        .clone()
        .list_users(request(message, token(ctx)?))
        .await
        .map_err(|s| ApiError::from_status(s, "users.ListUsers"))?
        .into_inner();
    Ok(UserConnection {
        nodes: page.users.into_iter().map(User::from).collect(),
        page_info: PageInfo {
            end_cursor: (!page.end_cursor.is_empty()).then_some(page.end_cursor),
            has_next_page: page.has_next_page,
        },
    })
}

pub(crate) async fn get_user(ctx: &Context<'_>, id: String) -> ApiResult<User> {
    let user = services(ctx)?
        .users
        .clone()
        .get_user(request(pb::GetUserRequest { id }, token(ctx)?))
        .await
        .map_err(|s| ApiError::from_status(s, "users.GetUser"))?
        .into_inner();
    Ok(user.into())
}

#[derive(Default)]
pub struct UsersQuery;

#[Object]
impl UsersQuery {
    /// A page of users, oldest first (admins only). Without arguments, the
    /// first 20; see `usersConnection` for the cursor.
    async fn users(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "At most this many (1 to 100, default 20).")] first: Option<i32>,
        #[graphql(desc = "Cursor from `usersConnection.pageInfo.endCursor`.")] after: Option<
            String,
        >,
    ) -> ApiResult<Vec<User>> {
        Ok(list(ctx, first, after).await?.nodes)
    }

    /// A page of users with its cursor (admins only).
    async fn users_connection(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> ApiResult<UserConnection> {
        list(ctx, first, after).await
    }

    /// One user: yourself, or anyone for an admin.
    async fn user(&self, ctx: &Context<'_>, id: ID) -> ApiResult<User> {
        let caller = caller(ctx).await?;
        let id = super::convert::id(&id, "id")?;
        if !caller.is_admin() && caller.user_id.to_string() != id {
            return Err(ApiError::Forbidden(
                "you may only see your own account".into(),
            ));
        }
        get_user(ctx, id).await
    }

    /// The signed-in user.
    async fn me(&self, ctx: &Context<'_>) -> ApiResult<User> {
        let caller = caller(ctx).await?;
        get_user(ctx, caller.user_id.to_string()).await
    }
}

#[derive(Default)]
pub struct UsersMutation;

#[Object]
impl UsersMutation {
    /// Creates an account. Anyone may register; the new account is a customer.
    async fn register_user(&self, ctx: &Context<'_>, input: RegisterInput) -> ApiResult<User> {
        // Before anything is hashed: see `ratelimit`.
        let address = super::context::request(ctx)?.address.0;
        super::context::limiter(ctx)?
            .admit_registration(&input.email, address)
            .await?;
        let message = pb::RegisterRequest {
            email: input.email,
            password: input.password,
            first_name: input.first_name,
            last_name: input.last_name,
            location: input.location,
            contact_number: input.contact_number,
        };
        let user = services(ctx)?
            .users
            .clone()
            .register(request(message, None))
            .await
            .map_err(|s| ApiError::from_status(s, "users.Register"))?
            .into_inner();
        Ok(user.into())
    }

    /// Makes a user an admin or a customer (admins only). The user's
    /// existing tokens stop working: they sign in again to get the new role.
    async fn set_user_role(&self, ctx: &Context<'_>, id: ID, role: Role) -> ApiResult<User> {
        admin(ctx).await?;
        let id = super::convert::id(&id, "id")?;
        let user_id =
            uuid::Uuid::parse_str(&id).map_err(|_| ApiError::bad_input("id", "not a valid id"))?;
        let message = pb::SetRoleRequest {
            id,
            role: pb::Role::from(role).into(),
        };
        let user = services(ctx)?
            .users
            .clone()
            .set_role(request(message, token(ctx)?))
            .await
            .map_err(|s| ApiError::from_status(s, "users.SetRole"))?
            .into_inner();
        // The users service ended the sessions durably with the change;
        // this only brings the fast path up to date.
        super::context::revocations(ctx)?
            .sessions_ended(user_id)
            .await;
        Ok(user.into())
    }
}
