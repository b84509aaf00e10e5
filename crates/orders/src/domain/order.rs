//! An order as stored, and a request for a new one.
//!
//! An order has one or more lines, each a different product. Its own
//! `product_id`, `quantity` and `unit_price` are its first line's: what a
//! reader that knows one line only (the predecessor's fields, the version 1
//! events) is shown (ADR 0018). `total_amount` is always every line's sum.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::{OrderId, OrderStatus, ProductId, Quantity, ValidationError};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Order {
    pub id: OrderId,
    pub user_id: Uuid,
    /// The first line's product.
    pub product_id: ProductId,
    /// The first line's quantity.
    pub quantity: i64,
    /// Minor units per item of the first line, as products priced it at
    /// placement.
    pub unit_price: i64,
    /// Every line's quantity times unit price, summed.
    pub total_amount: i64,
    /// Every line, in the order the customer gave them; never empty.
    pub lines: Vec<OrderLine>,
    pub status: OrderStatus,
    /// Why products refused it; only for REJECTED.
    pub rejection_reason: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// One status an order went through: when, and why (`placed`, `stock
/// reserved`, the rejection reason, who cancelled it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryEntry {
    pub status: OrderStatus,
    pub reason: Option<String>,
    pub at: DateTime<Utc>,
}

/// One line of an order: a product, how many, at the price products gave
/// at placement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OrderLine {
    pub product_id: ProductId,
    pub quantity: i64,
    pub unit_price: i64,
}

impl OrderLine {
    /// Quantity times unit price; it fits, as the order's total was checked
    /// at placement.
    pub fn total(&self) -> i64 {
        self.quantity.saturating_mul(self.unit_price)
    }
}

/// One line a customer asks for, parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NewLine {
    pub product_id: ProductId,
    pub quantity: Quantity,
}

/// What a customer asks for, parsed: one or more lines, each product once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewOrder {
    lines: Vec<NewLine>,
    /// Asked for as `lines` rather than `productId` and `quantity`: errors
    /// then name `lines`.
    as_lines: bool,
}

impl NewOrder {
    /// One product, as the predecessor's `productId` and `quantity`.
    pub fn parse(product_id: &str, quantity: i64) -> Result<Self, ValidationError> {
        Ok(Self {
            lines: vec![NewLine {
                product_id: ProductId::parse("productId", product_id)?,
                quantity: Quantity::parse(quantity)?,
            }],
            as_lines: false,
        })
    }

    /// `lines`, each `(productId, quantity)`: at least one, each product
    /// once. Errors name `lines` and the line (counted from 1).
    pub fn parse_lines<'a>(
        lines: impl IntoIterator<Item = (&'a str, i64)>,
    ) -> Result<Self, ValidationError> {
        let mut parsed: Vec<NewLine> = Vec::new();
        let mut seen: HashMap<ProductId, usize> = HashMap::new();
        for (index, (product_id, quantity)) in lines.into_iter().enumerate() {
            let n = index + 1;
            let on_line = |e: ValidationError| {
                ValidationError::new(
                    LINES,
                    format!("has a bad line {n}: {} {}", e.field, e.message),
                )
            };
            let line = NewLine {
                product_id: ProductId::parse("productId", product_id).map_err(on_line)?,
                quantity: Quantity::parse(quantity).map_err(on_line)?,
            };
            if let Some(first) = seen.insert(line.product_id, n) {
                return Err(ValidationError::new(
                    LINES,
                    format!(
                        "name product {} on lines {first} and {n}; give each product once, with the whole quantity",
                        line.product_id
                    ),
                ));
            }
            parsed.push(line);
        }
        if parsed.is_empty() {
            return Err(ValidationError::new(LINES, "must hold at least one line"));
        }
        Ok(Self {
            lines: parsed,
            as_lines: true,
        })
    }

    pub fn lines(&self) -> &[NewLine] {
        &self.lines
    }

    /// Whether it was asked for as `lines`.
    pub fn as_lines(&self) -> bool {
        self.as_lines
    }

    /// The field errors about the order as a whole name: `lines` or
    /// `quantity`, as it was asked.
    pub fn field(&self) -> &'static str {
        if self.as_lines { LINES } else { "quantity" }
    }

    /// Items over every line.
    pub fn items(&self) -> i64 {
        self.lines.iter().map(|line| line.quantity.get()).sum()
    }
}

const LINES: &str = "lines";

#[cfg(test)]
mod tests {
    use super::*;

    fn id() -> String {
        Uuid::now_v7().to_string()
    }

    #[test]
    fn lines_are_kept_in_the_order_given() {
        let (a, b) = (id(), id());
        let order = NewOrder::parse_lines([(a.as_str(), 2), (b.as_str(), 1)]).unwrap();
        let ids: Vec<String> = order
            .lines()
            .iter()
            .map(|l| l.product_id.to_string())
            .collect();
        assert_eq!(ids, vec![a, b]);
        assert_eq!(order.items(), 3);
        assert_eq!(order.field(), "lines");
    }

    #[test]
    fn no_line_a_product_twice_or_a_bad_line_is_refused_naming_the_line() {
        let a = id();
        let cases: [(Vec<(&str, i64)>, &str); 4] = [
            (vec![], "must hold at least one line"),
            (vec![(&a, 1), (&a, 2)], "name product"),
            (
                vec![(&a, 1), ("nope", 2)],
                "has a bad line 2: productId is not a valid id",
            ),
            (vec![(&a, 0)], "has a bad line 1: quantity must be between"),
        ];
        for (lines, expected) in cases {
            let err = NewOrder::parse_lines(lines).unwrap_err();
            assert_eq!(err.field, "lines");
            assert!(err.message.starts_with(expected), "{}", err.message);
        }
    }

    #[test]
    fn the_canonical_form_follows_the_lines_and_their_order() {
        let (a, b) = (id(), id());
        let ab = NewOrder::parse_lines([(a.as_str(), 1), (b.as_str(), 2)]).unwrap();
        let ba = NewOrder::parse_lines([(b.as_str(), 2), (a.as_str(), 1)]).unwrap();
        assert_ne!(ab.canonical(), ba.canonical());
        assert_eq!(
            NewOrder::parse_lines([(a.as_str(), 3)])
                .unwrap()
                .canonical(),
            NewOrder::parse(&a, 3).unwrap().canonical(),
            "one line asks for what productId and quantity ask for"
        );
    }

    #[test]
    fn one_product_is_one_line_named_as_the_predecessor_named_it() {
        let order = NewOrder::parse(&id(), 4).unwrap();
        assert_eq!(order.lines().len(), 1);
        assert_eq!(order.field(), "quantity");
        assert_eq!(NewOrder::parse("nope", 4).unwrap_err().field, "productId");
    }
}
