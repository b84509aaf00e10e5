//! Property test of the saga: random interleavings of placements, stock
//! answers, cancellations, restocks, redeliveries (the same event again),
//! reordering (any queued event may be delivered next) and republications
//! (the same order announced again under a new event id, which event-id
//! deduplication cannot catch).
//!
//! The orders side is the REAL state machine and reaction
//! (`domain::react`, `Transition`); the stock side is a model of products'
//! rule: a conditional decrement that never goes below zero, one
//! reservation per order, released at most once. Properties: no step makes
//! a transition outside the table, the stock is never negative, no order is
//! reserved or released twice, and once every queued event is delivered,
//! initial stock + restocks = stock + quantities of CONFIRMED orders, with
//! stock held exactly for the CONFIRMED orders.

use std::collections::{HashMap, HashSet};

use proptest::prelude::*;
use syncchain_orders::domain::{
    OrderStatus, Reaction, Transition, Trigger, react,
    status::{TRANSITIONS, next},
};

#[derive(Debug, Clone, Copy)]
enum Message {
    Placed {
        event: u64,
        order: usize,
    },
    Cancelled {
        event: u64,
        order: usize,
    },
    Answer {
        event: u64,
        order: usize,
        trigger: Trigger,
    },
}

impl Message {
    fn event(self) -> u64 {
        match self {
            Self::Placed { event, .. }
            | Self::Cancelled { event, .. }
            | Self::Answer { event, .. } => event,
        }
    }
}

#[derive(Debug, Clone)]
enum Op {
    Place(i64),
    Restock(i64),
    Cancel(usize),
    /// Republish an order's `orders.placed` under a new event id.
    Republish(usize),
    /// Deliver one queued message to products; keep a copy to redeliver.
    ToProducts {
        pick: usize,
        again: bool,
    },
    /// Deliver one queued message to orders; keep a copy to redeliver.
    ToOrders {
        pick: usize,
        again: bool,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        2 => (1i64..=4).prop_map(Op::Place),
        1 => (0i64..=3).prop_map(Op::Restock),
        1 => any::<usize>().prop_map(Op::Cancel),
        1 => any::<usize>().prop_map(Op::Republish),
        4 => (any::<usize>(), any::<bool>()).prop_map(|(pick, again)| Op::ToProducts { pick, again }),
        4 => (any::<usize>(), any::<bool>()).prop_map(|(pick, again)| Op::ToOrders { pick, again }),
    ]
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reservation {
    Reserved,
    Released,
}

#[derive(Debug, Default)]
struct World {
    initial: i64,
    restocked: i64,
    events: u64,
    // The orders side.
    orders: Vec<(OrderStatus, i64)>,
    orders_seen: HashSet<u64>,
    // The products side.
    stock: i64,
    reservations: HashMap<usize, Reservation>,
    products_seen: HashSet<u64>,
    reserves: HashMap<usize, u32>,
    releases: HashMap<usize, u32>,
    // In flight, in any order.
    to_products: Vec<Message>,
    to_orders: Vec<Message>,
}

impl World {
    fn new(initial: i64) -> Self {
        Self {
            initial,
            stock: initial,
            ..Self::default()
        }
    }

    fn event(&mut self) -> u64 {
        self.events += 1;
        self.events
    }

    fn apply(&mut self, op: Op) {
        match op {
            Op::Place(quantity) => {
                self.orders.push((OrderStatus::Pending, quantity));
                let (event, order) = (self.event(), self.orders.len() - 1);
                self.to_products.push(Message::Placed { event, order });
            }
            Op::Restock(quantity) => {
                self.stock += quantity;
                self.restocked += quantity;
            }
            Op::Cancel(pick) if !self.orders.is_empty() => {
                let order = pick % self.orders.len();
                // Exactly what CancelOrder does; refused unless the table allows it.
                if let Some(transition) = Transition::new(self.orders[order].0, Trigger::Cancel) {
                    self.transition(order, transition);
                    let event = self.event();
                    self.to_products.push(Message::Cancelled { event, order });
                }
            }
            Op::Republish(pick) if !self.orders.is_empty() => {
                let (event, order) = (self.event(), pick % self.orders.len());
                self.to_products.push(Message::Placed { event, order });
            }
            Op::ToProducts { pick, again } if !self.to_products.is_empty() => {
                let message = take(&mut self.to_products, pick, again);
                self.products_receive(message);
            }
            Op::ToOrders { pick, again } if !self.to_orders.is_empty() => {
                let message = take(&mut self.to_orders, pick, again);
                self.orders_receive(message);
            }
            _ => {}
        }
    }

    /// Products' rule: reserve with a conditional decrement, once per
    /// order; release what was reserved, once.
    fn products_receive(&mut self, message: Message) {
        if !self.products_seen.insert(message.event()) {
            return;
        }
        match message {
            Message::Placed { order, .. } if !self.reservations.contains_key(&order) => {
                let quantity = self.orders[order].1;
                let trigger = if self.stock >= quantity {
                    self.stock -= quantity;
                    self.reservations.insert(order, Reservation::Reserved);
                    *self.reserves.entry(order).or_default() += 1;
                    Trigger::StockReserved
                } else {
                    Trigger::StockRejected
                };
                let event = self.event();
                self.to_orders.push(Message::Answer {
                    event,
                    order,
                    trigger,
                });
            }
            Message::Cancelled { order, .. }
                if self.reservations.get(&order) == Some(&Reservation::Reserved) =>
            {
                self.stock += self.orders[order].1;
                self.reservations.insert(order, Reservation::Released);
                *self.releases.entry(order).or_default() += 1;
            }
            _ => {}
        }
    }

    /// The saga consumer: the real reaction to products' answer.
    fn orders_receive(&mut self, message: Message) {
        if !self.orders_seen.insert(message.event()) {
            return;
        }
        let Message::Answer { order, trigger, .. } = message else {
            return;
        };
        match react(self.orders[order].0, trigger) {
            Reaction::Apply(transition) => self.transition(order, transition),
            Reaction::Release => {
                let event = self.event();
                self.to_products.push(Message::Cancelled { event, order });
            }
            Reaction::Ignore => {}
        }
    }

    fn transition(&mut self, order: usize, transition: Transition) {
        let from = self.orders[order].0;
        assert_eq!(transition.from(), from, "a transition from another status");
        assert_eq!(next(from, transition.trigger()), Some(transition.to()));
        assert!(
            TRANSITIONS.contains(&(from, transition.trigger(), transition.to())),
            "{from} --{:?}--> {} is not in the table",
            transition.trigger(),
            transition.to()
        );
        self.orders[order].0 = transition.to();
    }

    /// Delivers everything still in flight, oldest first, until nothing is.
    fn settle(&mut self) {
        while !self.to_products.is_empty() || !self.to_orders.is_empty() {
            if !self.to_products.is_empty() {
                let message = self.to_products.remove(0);
                self.products_receive(message);
            }
            if !self.to_orders.is_empty() {
                let message = self.to_orders.remove(0);
                self.orders_receive(message);
            }
        }
    }

    fn check_always(&self) {
        assert!(self.stock >= 0, "negative stock {}", self.stock);
        for (order, count) in self.reserves.iter().chain(&self.releases) {
            assert!(
                *count <= 1,
                "order {order} reserved or released {count} times"
            );
        }
    }

    fn check_at_rest(&self) {
        let confirmed: i64 = self
            .orders
            .iter()
            .filter(|(status, _)| *status == OrderStatus::Confirmed)
            .map(|(_, quantity)| quantity)
            .sum();
        assert_eq!(self.initial + self.restocked, self.stock + confirmed);
        for (order, (status, _)) in self.orders.iter().enumerate() {
            assert_ne!(*status, OrderStatus::Pending, "order {order} never settled");
            let held = self.reservations.get(&order) == Some(&Reservation::Reserved);
            assert_eq!(
                held,
                *status == OrderStatus::Confirmed,
                "order {order} is {status}"
            );
        }
    }
}

/// Removes the message at `pick` (any queued one: reordering), or leaves it
/// queued to be delivered again when `again`.
fn take(queue: &mut Vec<Message>, pick: usize, again: bool) -> Message {
    let index = pick % queue.len();
    if again {
        queue[index]
    } else {
        queue.remove(index)
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn no_interleaving_of_events_breaks_the_state_machine_or_the_stock(
        initial in 0i64..=8,
        ops in prop::collection::vec(op(), 0..120),
    ) {
        let mut world = World::new(initial);
        for op in ops {
            world.apply(op);
            world.check_always();
        }
        world.settle();
        world.check_always();
        world.check_at_rest();
    }
}
