//! The products domain. Wire input is parsed into these types at the gRPC
//! boundary ("parse, don't validate"): once a [`NewProduct`] or a
//! [`ProductChanges`] exists, every value in it keeps the catalogue's rules,
//! and the core never handles raw strings or unchecked numbers.
//!
//! Each rule reports a [`ValidationError`] naming the field as clients know
//! it (the GraphQL input names: `name`, `description`, `price`, `quantity`),
//! so the gateway can point at it.

mod description;
mod new_product;
mod price;
mod product;
mod product_id;
mod product_name;
mod search;
mod stock;

pub use description::Description;
pub use new_product::{NewProduct, NewProductInput, ProductChanges, ProductChangesInput};
pub use price::Price;
pub use product::Product;
pub use product_id::ProductId;
pub use product_name::ProductName;
pub use search::NameSearch;
pub use stock::{Quantity, Stock};
pub use syncchain_platform::paging::{Cursor, Page, PageSize};
pub use syncchain_platform::validation::ValidationError;
