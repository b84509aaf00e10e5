//! The GraphQL schema, split by domain and merged here. Resolvers do three
//! things only: authorise, call a service, and map its answer; anything
//! more belongs in the service.

mod account;
mod context;
mod convert;
mod loaders;
mod order_updates;
mod orders;
pub(crate) mod paging;
pub(crate) mod products;
mod users;

use async_graphql::{MergedObject, MergedSubscription, Schema, SchemaBuilder};

pub use context::{ClientAddress, PlaceOrderWait, RequestContext};

use crate::{config::Limits, cost::Budget};

#[derive(MergedObject, Default)]
pub struct Query(
    users::UsersQuery,
    account::AccountQuery,
    products::ProductsQuery,
    orders::OrdersQuery,
);

#[derive(MergedObject, Default)]
pub struct Mutation(
    users::UsersMutation,
    account::AccountMutation,
    products::ProductsMutation,
    orders::OrdersMutation,
);

#[derive(MergedSubscription, Default)]
pub struct Subscription(orders::OrdersSubscription);

pub type AppSchema = Schema<Query, Mutation, Subscription>;

/// What the schema tells clients about itself.
#[derive(Debug, Clone, Copy)]
pub struct Openness {
    pub introspection: bool,
    /// "Did you mean …" hints on unknown fields: they map the schema for
    /// anyone, so only in dev mode.
    pub suggestions: bool,
}

/// The schema with its limits; the caller adds shared data and finishes it.
///
/// The cost guard comes first and bounds every document; the engine's own
/// depth and complexity limits stay as a second line, cheap on a bounded
/// document.
pub fn builder(limits: Limits, openness: Openness) -> SchemaBuilder<Query, Mutation, Subscription> {
    let budget = Budget {
        max_cost: u64::try_from(limits.max_complexity).unwrap_or(u64::MAX),
        max_depth: limits.max_depth,
    };
    let mut builder = Schema::build(
        Query::default(),
        Mutation::default(),
        Subscription::default(),
    )
    .limit_depth(limits.max_depth)
    .limit_complexity(limits.max_complexity)
    .limit_recursive_depth(limits.max_depth.max(16))
    .limit_directives(16)
    .extension(crate::extensions::CostGuard(budget))
    .extension(crate::extensions::ErrorCodes)
    .extension(crate::extensions::SubscriptionsOnlyOnSockets);
    if !openness.introspection {
        builder = builder.disable_introspection();
    }
    if !openness.suggestions {
        builder = builder.disable_suggestions();
    }
    builder
}

/// The schema in SDL, as committed in `schema.graphql`.
pub fn sdl() -> String {
    Schema::build(
        Query::default(),
        Mutation::default(),
        Subscription::default(),
    )
    .finish()
    .sdl()
}

#[cfg(test)]
mod tests {
    /// The public contract: any change to the schema shows up in review as a
    /// change to `schema.graphql`. After an intended change, regenerate it
    /// with `UPDATE_SCHEMA=1 cargo test -p syncchain-gateway`.
    #[test]
    fn the_schema_matches_the_committed_sdl() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/schema.graphql");
        let actual = super::sdl();
        if std::env::var_os("UPDATE_SCHEMA").is_some() {
            std::fs::write(path, &actual).expect("write schema.graphql");
        }
        let committed = std::fs::read_to_string(path).unwrap_or_default();
        assert!(
            committed == actual,
            "the schema differs from {path}; if the change is intended, run UPDATE_SCHEMA=1 cargo test -p syncchain-gateway and commit the file"
        );
    }
}
