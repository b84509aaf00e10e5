//! The orders domain. Wire input is parsed into these types at the gRPC
//! boundary ("parse, don't validate"): a [`NewOrder`] holds lines of a
//! product id and a quantity known to be valid, each product once, and a [`Money`] total is known to fit
//! the API's 32-bit `Int`.
//!
//! The lifecycle of an order is [`status`]: one table of legal
//! transitions, and [`Transition`] values that only that table can make, so
//! the storage layer, which takes a `Transition`, cannot apply any other.
//! [`react`] decides what products' answers do to an order, the
//! compensation included.

mod idempotency;
mod ids;
mod money;
mod order;
mod quantity;
mod reaction;
pub mod status;

pub use idempotency::IdempotencyKey;
pub use ids::{OrderId, ProductId};
pub use money::{Money, UnitPrice};
pub use order::{HistoryEntry, NewLine, NewOrder, Order, OrderLine};
pub use quantity::Quantity;
pub use reaction::{Reaction, react};
pub use status::{OrderStatus, Transition, Trigger};

// Orders are paged like every list, with the shared keyset cursor, and bad
// input is reported like every service's, naming the field.
pub use syncchain_platform::paging::{Cursor, Page, PageSize};
pub use syncchain_platform::validation::ValidationError;
