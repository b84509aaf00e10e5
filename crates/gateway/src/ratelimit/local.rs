//! The limits held in this process, for while Redis cannot be reached: the
//! same counters and the same fixed windows, so a Redis outage never turns
//! the limits off. Each gateway instance counts for itself here, so with
//! several instances the effective budget is that many times larger for
//! the length of the outage; that is bounded, which "no limit" is not.
//!
//! The map is bounded too. Expired counters are swept when it fills (at
//! most once a second, so a full map cannot make every request walk it);
//! when it is still full, attempts that need a new counter are refused.
//! Evicting live counters instead would let anyone reset a victim's limit
//! by filling the map.

use std::{
    collections::HashMap,
    sync::{Mutex, PoisonError},
    time::{Duration, Instant},
};

use super::{
    Admission,
    keys::{Counter, CounterKey},
};

/// Counters held at most: a few MiB.
pub const CAPACITY: usize = 100_000;
const SWEEP_INTERVAL: Duration = Duration::from_secs(1);

pub struct LocalCounters {
    capacity: usize,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    slots: HashMap<CounterKey, Slot>,
    last_sweep: Option<Instant>,
}

#[derive(Clone, Copy)]
struct Slot {
    count: u32,
    resets_at: Instant,
}

impl LocalCounters {
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity,
            state: Mutex::new(State::default()),
        }
    }

    /// Like the Redis script: if every counter has room, counts the attempt
    /// on all of them; otherwise counts nothing and says how long to wait.
    pub fn admit(&self, counters: &[Counter], window: Duration, now: Instant) -> Admission {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let live = |slot: &Slot| slot.resets_at > now;
        for counter in counters {
            if let Some(slot) = state.slots.get(&counter.key)
                && live(slot)
                && slot.count >= counter.limit
            {
                return Admission::Refused {
                    retry_after: seconds_until(slot.resets_at, now),
                };
            }
        }
        let new = counters
            .iter()
            .filter(|c| !state.slots.contains_key(&c.key))
            .count();
        if state.slots.len() + new > self.capacity {
            let due = state
                .last_sweep
                .is_none_or(|at| now.duration_since(at) >= SWEEP_INTERVAL);
            if due {
                state.slots.retain(|_, slot| live(slot));
                state.last_sweep = Some(now);
            }
            if state.slots.len() + new > self.capacity {
                return Admission::Refused {
                    retry_after: window.as_secs().max(1),
                };
            }
        }
        for counter in counters {
            let slot = state.slots.entry(counter.key).or_insert(Slot {
                count: 0,
                resets_at: now + window,
            });
            if !live(slot) {
                *slot = Slot {
                    count: 0,
                    resets_at: now + window,
                };
            }
            slot.count += 1;
        }
        Admission::Admitted
    }

    /// Takes one attempt back from each counter that still holds one.
    pub fn refund(&self, keys: &[CounterKey], now: Instant) {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        for key in keys {
            if let Some(slot) = state.slots.get_mut(key)
                && slot.resets_at > now
            {
                slot.count = slot.count.saturating_sub(1);
            }
        }
    }
}

fn seconds_until(at: Instant, now: Instant) -> u64 {
    at.saturating_duration_since(now)
        .as_secs_f64()
        .ceil()
        .max(1.0) as u64
}

#[cfg(test)]
mod tests {
    use std::net::{IpAddr, Ipv4Addr};

    use super::*;
    use crate::ratelimit::keys::ClientKey;

    const WINDOW: Duration = Duration::from_secs(60);

    fn counter(n: u8, limit: u32) -> Counter {
        let client = ClientKey::from(IpAddr::V4(Ipv4Addr::new(192, 0, 2, n)));
        Counter {
            key: CounterKey::sign_in_client(client),
            limit,
        }
    }

    fn admitted(admission: Admission) -> bool {
        matches!(admission, Admission::Admitted)
    }

    #[test]
    fn a_counter_admits_its_limit_then_refuses_until_the_window_ends() {
        let counters = LocalCounters::new(10);
        let start = Instant::now();
        let limited = [counter(1, 3)];

        let first: Vec<bool> = (0..5)
            .map(|_| admitted(counters.admit(&limited, WINDOW, start)))
            .collect();
        let later = counters.admit(&limited, WINDOW, start + Duration::from_secs(20));
        let next_window = counters.admit(&limited, WINDOW, start + WINDOW);

        assert_eq!(first, [true, true, true, false, false]);
        assert!(matches!(later, Admission::Refused { retry_after: 40 }));
        assert!(admitted(next_window));
    }

    #[test]
    fn a_refused_attempt_counts_on_no_counter() {
        let counters = LocalCounters::new(10);
        let now = Instant::now();
        let (full, other) = (counter(1, 1), counter(2, 2));
        assert!(admitted(counters.admit(&[full], WINDOW, now)));

        for _ in 0..5 {
            assert!(!admitted(counters.admit(&[other, full], WINDOW, now)));
        }

        assert!(admitted(counters.admit(&[other], WINDOW, now)));
        assert!(admitted(counters.admit(&[other], WINDOW, now)));
    }

    #[test]
    fn a_refund_gives_one_attempt_back() {
        let counters = LocalCounters::new(10);
        let now = Instant::now();
        let limited = [counter(1, 1)];
        assert!(admitted(counters.admit(&limited, WINDOW, now)));

        counters.refund(&[limited[0].key], now);

        assert!(admitted(counters.admit(&limited, WINDOW, now)));
        assert!(!admitted(counters.admit(&limited, WINDOW, now)));
    }

    #[test]
    fn a_full_map_refuses_new_counters_but_never_evicts_live_ones() {
        let counters = LocalCounters::new(2);
        let now = Instant::now();
        let victim = counter(1, 1);
        assert!(admitted(counters.admit(&[victim], WINDOW, now)));
        assert!(admitted(counters.admit(&[counter(2, 5)], WINDOW, now)));

        let newcomer = counters.admit(&[counter(3, 5)], WINDOW, now);
        let victim_again = counters.admit(&[victim], WINDOW, now);

        assert!(!admitted(newcomer));
        assert!(!admitted(victim_again), "the victim's counter survived");
    }

    #[test]
    fn expired_counters_make_room_when_the_map_is_full() {
        let counters = LocalCounters::new(2);
        let now = Instant::now();
        assert!(admitted(counters.admit(&[counter(1, 5)], WINDOW, now)));
        assert!(admitted(counters.admit(&[counter(2, 5)], WINDOW, now)));

        let later = now + WINDOW + Duration::from_secs(1);

        assert!(admitted(counters.admit(&[counter(3, 5)], WINDOW, later)));
    }
}
