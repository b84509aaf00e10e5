//! The two admin inputs that shape a product: a new one, and changes to an
//! existing one (each field optional). Parsed whole, so a request either
//! carries only valid values or is refused naming its first bad field.

use super::{Description, Price, Product, ProductName, Stock, ValidationError};

/// A product to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewProduct {
    pub name: ProductName,
    pub description: Description,
    pub price: Price,
    pub stock: Stock,
}

/// The raw create request.
#[derive(Debug, Clone, Copy)]
pub struct NewProductInput<'a> {
    pub name: &'a str,
    pub description: &'a str,
    pub price: i64,
    pub stock: i64,
}

impl NewProduct {
    pub fn parse(input: NewProductInput<'_>) -> Result<Self, ValidationError> {
        Ok(Self {
            name: ProductName::parse(input.name)?,
            description: Description::parse(input.description)?,
            price: Price::parse(input.price)?,
            stock: Stock::parse(input.stock)?,
        })
    }
}

/// Changes to a product's details; `None` leaves a field as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProductChanges {
    pub name: Option<ProductName>,
    pub description: Option<Description>,
    pub price: Option<Price>,
}

/// The raw update request.
#[derive(Debug, Clone, Copy, Default)]
pub struct ProductChangesInput<'a> {
    pub name: Option<&'a str>,
    pub description: Option<&'a str>,
    pub price: Option<i64>,
}

impl ProductChanges {
    pub fn parse(input: ProductChangesInput<'_>) -> Result<Self, ValidationError> {
        Ok(Self {
            name: input.name.map(ProductName::parse).transpose()?,
            description: input.description.map(Description::parse).transpose()?,
            price: input.price.map(Price::parse).transpose()?,
        })
    }

    /// `product` with these changes applied.
    pub fn apply_to(&self, product: &Product) -> Product {
        Product {
            name: self
                .name
                .as_ref()
                .map_or_else(|| product.name.clone(), |n| n.as_str().to_owned()),
            description: self
                .description
                .as_ref()
                .map_or_else(|| product.description.clone(), |d| d.as_str().to_owned()),
            price: self.price.map_or(product.price, Price::get),
            ..product.clone()
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::Utc;

    use super::*;
    use crate::domain::ProductId;

    fn input() -> NewProductInput<'static> {
        NewProductInput {
            name: "Kettle",
            description: "Boils water.",
            price: 2599,
            stock: 10,
        }
    }

    #[test]
    fn a_valid_request_becomes_a_new_product() {
        let new = NewProduct::parse(input()).unwrap();
        assert_eq!(new.name.as_str(), "Kettle");
        assert_eq!((new.price.get(), new.stock.get()), (2599, 10));
    }

    #[test]
    fn each_bad_value_is_named_by_its_api_field() {
        let cases = [
            (
                NewProductInput {
                    name: " ",
                    ..input()
                },
                "name",
            ),
            (
                NewProductInput {
                    description: &"d".repeat(5001),
                    ..input()
                },
                "description",
            ),
            (
                NewProductInput {
                    price: 0,
                    ..input()
                },
                "price",
            ),
            (
                NewProductInput {
                    stock: -1,
                    ..input()
                },
                "quantity",
            ),
        ];
        for (input, field) in cases {
            assert_eq!(NewProduct::parse(input).unwrap_err().field, field);
        }
    }

    #[test]
    fn changes_touch_only_the_fields_given() {
        let now = Utc::now();
        let product = Product {
            id: ProductId::generate(),
            name: "Kettle".into(),
            description: "Boils water.".into(),
            price: 2599,
            stock: 3,
            created_at: now,
            updated_at: now,
        };
        let changes = ProductChanges::parse(ProductChangesInput {
            price: Some(1999),
            description: Some(""),
            ..Default::default()
        })
        .unwrap();

        let changed = changes.apply_to(&product);

        assert_eq!(changed.name, "Kettle");
        assert_eq!(changed.description, "");
        assert_eq!((changed.price, changed.stock), (1999, 3));
    }

    #[test]
    fn a_bad_change_is_named_by_its_api_field() {
        let err = ProductChanges::parse(ProductChangesInput {
            price: Some(-3),
            ..Default::default()
        })
        .unwrap_err();
        assert_eq!(err.field, "price");
    }
}
