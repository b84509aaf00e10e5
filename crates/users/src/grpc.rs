//! The gRPC edge. Wire messages become domain types here, the caller's
//! token is verified here, and each [`UsersError`] becomes a [`Status`]
//! here, exactly once: bad input names its field (as clients know it), a
//! database that is away is UNAVAILABLE, and unexpected failures are logged
//! with their cause chain and cross the wire as a bare "internal error".

use syncchain_platform::{
    auth::{Role, TokenKeys},
    grpc::{
        FIELD, database_failure, from_timestamp, internal, invalid_argument, require_caller,
        timestamp,
    },
};
use syncchain_proto::users::v1 as proto;
use tonic::{Request, Response, Status, metadata::MetadataValue};

use crate::{
    accounts::Accounts,
    domain::{Cursor, NewUser, NewUserInput, PageSize, User, UserId, ValidationError},
    error::UsersError,
    password::PasswordError,
    sessions::{Entry, SessionStatus, Sessions, StateCursor},
};

pub use proto::users_server::UsersServer;

/// Implements `syncchain.users.v1.Users`.
#[derive(Clone)]
pub struct UsersApi {
    accounts: Accounts,
    sessions: Sessions,
    keys: TokenKeys,
}

impl UsersApi {
    pub fn new(accounts: Accounts, keys: TokenKeys) -> Self {
        Self {
            sessions: accounts.sessions(),
            accounts,
            keys,
        }
    }
}

#[tonic::async_trait]
impl proto::users_server::Users for UsersApi {
    async fn register(
        &self,
        request: Request<proto::RegisterRequest>,
    ) -> Result<Response<proto::User>, Status> {
        let r = request.into_inner();
        let result = async {
            let new = NewUser::parse(NewUserInput {
                email: &r.email,
                password: &r.password,
                first_name: &r.first_name,
                last_name: &r.last_name,
                location: &r.location,
                contact_number: &r.contact_number,
            })?;
            self.accounts.register(new).await
        }
        .await;
        respond("register", result.map(to_proto))
    }

    async fn get_user(
        &self,
        request: Request<proto::GetUserRequest>,
    ) -> Result<Response<proto::User>, Status> {
        let caller = require_caller(request.metadata(), &self.keys)?;
        let result = async {
            let id = UserId::parse("id", &request.get_ref().id)?;
            self.accounts.get(&caller, id).await
        }
        .await;
        respond("get user", result.map(to_proto))
    }

    async fn get_users(
        &self,
        request: Request<proto::GetUsersRequest>,
    ) -> Result<Response<proto::GetUsersResponse>, Status> {
        let caller = require_caller(request.metadata(), &self.keys)?;
        let result = async {
            let ids = request
                .get_ref()
                .ids
                .iter()
                .map(|raw| UserId::parse("id", raw))
                .collect::<Result<Vec<_>, _>>()?;
            self.accounts.get_many(&caller, &ids).await
        }
        .await;
        respond(
            "get users",
            result.map(|users| proto::GetUsersResponse {
                users: users.into_iter().map(to_proto).collect(),
            }),
        )
    }

    async fn list_users(
        &self,
        request: Request<proto::ListUsersRequest>,
    ) -> Result<Response<proto::ListUsersResponse>, Status> {
        let caller = require_caller(request.metadata(), &self.keys)?;
        let result = async {
            let r = request.get_ref();
            let after = Cursor::decode(&r.after).map_err(ValidationError::from)?;
            self.accounts
                .list(&caller, after, PageSize::new(r.first))
                .await
        }
        .await;
        respond(
            "list users",
            result.map(|page| proto::ListUsersResponse {
                users: page.items.into_iter().map(to_proto).collect(),
                end_cursor: page.end_cursor.map(|c| c.encode()).unwrap_or_default(),
                has_next_page: page.has_next_page,
            }),
        )
    }

    async fn verify_credentials(
        &self,
        request: Request<proto::VerifyCredentialsRequest>,
    ) -> Result<Response<proto::User>, Status> {
        let r = request.into_inner();
        let result = self
            .accounts
            .verify_credentials(&r.email, &r.password)
            .await;
        respond("verify credentials", result.map(to_proto))
    }

    async fn set_role(
        &self,
        request: Request<proto::SetRoleRequest>,
    ) -> Result<Response<proto::User>, Status> {
        let caller = require_caller(request.metadata(), &self.keys)?;
        let result = async {
            let r = request.get_ref();
            let id = UserId::parse("id", &r.id)?;
            let role = role_from_proto(r.role)?;
            self.accounts.set_role(&caller, id, role).await
        }
        .await;
        respond("set role", result.map(to_proto))
    }

    async fn revoke_token(
        &self,
        request: Request<proto::RevokeTokenRequest>,
    ) -> Result<Response<proto::RevokeTokenResponse>, Status> {
        let caller = require_caller(request.metadata(), &self.keys)?;
        let result = self.sessions.revoke(&caller).await;
        respond(
            "revoke token",
            result.map(|()| proto::RevokeTokenResponse {
                expires_at: Some(timestamp(caller.expires_at)),
            }),
        )
    }

    async fn check_session(
        &self,
        request: Request<proto::CheckSessionRequest>,
    ) -> Result<Response<proto::CheckSessionResponse>, Status> {
        let caller = require_caller(request.metadata(), &self.keys)?;
        let result = self.sessions.check(&caller).await;
        respond(
            "check session",
            result.map(|status| proto::CheckSessionResponse {
                status: session_status_to_proto(status) as i32,
            }),
        )
    }

    async fn list_session_state(
        &self,
        request: Request<proto::ListSessionStateRequest>,
    ) -> Result<Response<proto::ListSessionStateResponse>, Status> {
        let r = request.into_inner();
        let result = async {
            let after = StateCursor::decode(&r.after)?;
            let since = from_timestamp(r.cutoffs_since);
            self.sessions.list(since, after, r.first).await
        }
        .await;
        respond(
            "list session state",
            result.map(|page| {
                let mut response = proto::ListSessionStateResponse {
                    end_cursor: page.end_cursor.map(|c| c.encode()).unwrap_or_default(),
                    has_next_page: page.has_next_page,
                    ..Default::default()
                };
                for entry in page.entries {
                    match entry {
                        Entry::Revoked {
                            token_id,
                            user_id,
                            expires_at,
                        } => response.revoked.push(proto::RevokedToken {
                            token_id: token_id.to_string(),
                            user_id: user_id.to_string(),
                            expires_at: Some(timestamp(expires_at)),
                        }),
                        Entry::Cutoff {
                            user_id,
                            valid_after,
                        } => response.cutoffs.push(proto::SessionCutoff {
                            user_id: user_id.to_string(),
                            valid_after: Some(timestamp(valid_after)),
                        }),
                    }
                }
                response
            }),
        )
    }
}

fn session_status_to_proto(status: SessionStatus) -> proto::SessionStatus {
    match status {
        SessionStatus::Valid => proto::SessionStatus::Valid,
        SessionStatus::Revoked => proto::SessionStatus::Revoked,
        SessionStatus::Ended => proto::SessionStatus::Ended,
    }
}

/// The one place a [`UsersError`] becomes a [`Status`].
fn respond<T>(context: &'static str, result: Result<T, UsersError>) -> Result<Response<T>, Status> {
    result.map(Response::new).map_err(|error| match error {
        UsersError::Invalid(e) => invalid_argument(e.field, e.to_string()),
        UsersError::EmailTaken => {
            let mut status = Status::already_exists(error.to_string());
            status
                .metadata_mut()
                .insert(FIELD, MetadataValue::from_static("email"));
            status
        }
        UsersError::NotFound => Status::not_found(error.to_string()),
        UsersError::Forbidden => Status::permission_denied(error.to_string()),
        UsersError::InvalidCredentials => Status::unauthenticated(error.to_string()),
        UsersError::Database(ref cause) => {
            database_failure(context, "the users database", cause, &error)
        }
        // Overload, not a fault: the caller may try again shortly.
        UsersError::Password(PasswordError::Busy) => {
            Status::resource_exhausted("too many password checks at once; try again shortly")
        }
        UsersError::Password(_) | UsersError::Event(_) => internal(context, &error),
    })
}

fn to_proto(user: User) -> proto::User {
    proto::User {
        id: user.id.to_string(),
        email: user.email,
        first_name: user.first_name,
        last_name: user.last_name,
        location: user.location,
        contact_number: user.contact_number,
        role: role_to_proto(user.role) as i32,
        created_at: Some(timestamp(user.created_at)),
    }
}

pub fn role_to_proto(role: Role) -> proto::Role {
    match role {
        Role::Customer => proto::Role::Customer,
        Role::Admin => proto::Role::Admin,
    }
}

pub fn role_from_proto(raw: i32) -> Result<Role, ValidationError> {
    match proto::Role::try_from(raw) {
        Ok(proto::Role::Customer) => Ok(Role::Customer),
        Ok(proto::Role::Admin) => Ok(Role::Admin),
        Ok(proto::Role::Unspecified) | Err(_) => {
            Err(ValidationError::new("role", "must be CUSTOMER or ADMIN"))
        }
    }
}
