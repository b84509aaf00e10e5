//! The order lifecycle, as one table:
//!
//! ```text
//! PENDING   --stock reserved--> CONFIRMED
//! PENDING   --stock rejected--> REJECTED
//! PENDING   --cancel----------> CANCELLED
//! CONFIRMED --cancel----------> CANCELLED
//! ```
//!
//! Everything else is illegal. A cancellation may overtake products'
//! answer: stock reserved for an order already CANCELLED is given back
//! ([`super::react`]), and products releases a reservation at most once,
//! so whichever of the cancellation and the reservation comes first, the
//! stock returns exactly once. A [`Transition`] can only be made from
//! [`TRANSITIONS`], and the storage layer applies nothing but a
//! `Transition` (with `WHERE status = <from>`), so an illegal change cannot
//! be written, even by a racing caller.

use std::{fmt, str::FromStr};

use OrderStatus::{Cancelled, Confirmed, Pending, Rejected};
use Trigger::{Cancel, StockRejected, StockReserved};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OrderStatus {
    /// Placed; waiting for products to set stock aside.
    Pending,
    /// Stock is reserved; the order stands.
    Confirmed,
    /// Products could not reserve stock. Final.
    Rejected,
    /// Cancelled by its owner or an admin, before or after confirmation;
    /// whatever stock was reserved went back. Final.
    Cancelled,
}

/// What can happen to an order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Trigger {
    /// Products set stock aside (`stock.reserved`).
    StockReserved,
    /// Products could not (`stock.rejected`).
    StockRejected,
    /// Its owner or an admin cancelled it.
    Cancel,
}

/// Every legal transition: `(from, trigger, to)`.
pub const TRANSITIONS: &[(OrderStatus, Trigger, OrderStatus)] = &[
    (Pending, StockReserved, Confirmed),
    (Pending, StockRejected, Rejected),
    (Pending, Cancel, Cancelled),
    (Confirmed, Cancel, Cancelled),
];

/// Where `trigger` takes an order in `status`; `None` when it may not.
pub fn next(status: OrderStatus, trigger: Trigger) -> Option<OrderStatus> {
    TRANSITIONS
        .iter()
        .find(|(from, on, _)| *from == status && *on == trigger)
        .map(|(_, _, to)| *to)
}

/// A legal change of status, made only from [`TRANSITIONS`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transition {
    from: OrderStatus,
    trigger: Trigger,
    to: OrderStatus,
}

impl Transition {
    /// The transition `trigger` makes from `from`, if it is legal.
    pub fn new(from: OrderStatus, trigger: Trigger) -> Option<Self> {
        next(from, trigger).map(|to| Self { from, trigger, to })
    }

    pub fn from(self) -> OrderStatus {
        self.from
    }

    pub fn trigger(self) -> Trigger {
        self.trigger
    }

    pub fn to(self) -> OrderStatus {
        self.to
    }
}

impl OrderStatus {
    pub const ALL: [OrderStatus; 4] = [Pending, Confirmed, Rejected, Cancelled];

    pub fn as_str(self) -> &'static str {
        match self {
            Pending => "PENDING",
            Confirmed => "CONFIRMED",
            Rejected => "REJECTED",
            Cancelled => "CANCELLED",
        }
    }

    /// No transition leaves a final status.
    pub fn is_final(self) -> bool {
        TRANSITIONS.iter().all(|(from, _, _)| *from != self)
    }
}

impl fmt::Display for OrderStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for OrderStatus {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|status| status.as_str() == s)
            .ok_or_else(|| format!("unknown order status {s:?}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TRIGGERS: [Trigger; 3] = [StockReserved, StockRejected, Cancel];

    #[test]
    fn a_pending_order_is_confirmed_or_rejected_by_products_answer() {
        assert_eq!(next(Pending, StockReserved), Some(Confirmed));
        assert_eq!(next(Pending, StockRejected), Some(Rejected));
    }

    #[test]
    fn a_pending_or_confirmed_order_can_be_cancelled_and_nothing_else() {
        for status in OrderStatus::ALL {
            let expected = matches!(status, Pending | Confirmed).then_some(Cancelled);
            assert_eq!(next(status, Cancel), expected, "{status}");
        }
    }

    #[test]
    fn rejected_and_cancelled_are_final_and_nothing_leaves_them() {
        for status in [Rejected, Cancelled] {
            assert!(status.is_final());
            for trigger in TRIGGERS {
                assert_eq!(Transition::new(status, trigger), None);
            }
        }
        assert!(!Pending.is_final());
        assert!(!Confirmed.is_final());
    }

    #[test]
    fn the_table_has_one_row_per_status_and_trigger() {
        for status in OrderStatus::ALL {
            for trigger in TRIGGERS {
                let rows = TRANSITIONS
                    .iter()
                    .filter(|(from, on, _)| *from == status && *on == trigger)
                    .count();
                assert!(rows <= 1, "{status} {trigger:?}");
            }
        }
    }

    #[test]
    fn a_transition_remembers_where_it_comes_from_and_goes_to() {
        let t = Transition::new(Confirmed, Cancel).unwrap();
        assert_eq!(
            (t.from(), t.trigger(), t.to()),
            (Confirmed, Cancel, Cancelled)
        );
    }

    #[test]
    fn statuses_survive_the_round_trip_through_text() {
        for status in OrderStatus::ALL {
            assert_eq!(status.as_str().parse::<OrderStatus>(), Ok(status));
        }
        assert!("pending".parse::<OrderStatus>().is_err());
    }
}
