//! What the orders side does with products' answer about an order. Usually
//! the answer moves a PENDING order on; a repeated or late answer changes
//! nothing. One case needs more: stock reserved for an order that is already
//! REJECTED or CANCELLED would never come back on its own, so it is given
//! back (an `orders.cancelled`, which products answers by releasing what it
//! reserved for that order, at most once). Both the saga consumer and the
//! property test of the saga call this, so they cannot disagree.

use super::{OrderStatus, Transition, Trigger};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reaction {
    /// Move the order on.
    Apply(Transition),
    /// Stock was set aside for an order that cannot use it: release it.
    Release,
    /// Nothing to do.
    Ignore,
}

/// The reaction to `trigger` (products' answer) for an order in `status`.
pub fn react(status: OrderStatus, trigger: Trigger) -> Reaction {
    if let Some(transition) = Transition::new(status, trigger) {
        return Reaction::Apply(transition);
    }
    match (trigger, status) {
        (Trigger::StockReserved, OrderStatus::Rejected | OrderStatus::Cancelled) => {
            Reaction::Release
        }
        _ => Reaction::Ignore,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use OrderStatus::*;

    #[test]
    fn an_answer_for_a_pending_order_is_applied() {
        for trigger in [Trigger::StockReserved, Trigger::StockRejected] {
            assert!(matches!(react(Pending, trigger), Reaction::Apply(t) if t.from() == Pending));
        }
    }

    #[test]
    fn stock_reserved_for_an_order_that_cannot_use_it_is_released() {
        assert_eq!(react(Rejected, Trigger::StockReserved), Reaction::Release);
        assert_eq!(react(Cancelled, Trigger::StockReserved), Reaction::Release);
    }

    #[test]
    fn a_repeated_answer_changes_nothing() {
        assert_eq!(react(Confirmed, Trigger::StockReserved), Reaction::Ignore);
        for status in [Confirmed, Rejected, Cancelled] {
            assert_eq!(react(status, Trigger::StockRejected), Reaction::Ignore);
        }
    }
}
