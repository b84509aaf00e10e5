//! Whether this process can publish and consume its events right now, for
//! `/readyz`.
//!
//! Reaching NATS is not enough: a server whose store was wiped answers, but
//! has no streams to publish to or bind on. The relay and every consumer
//! report here whether their last attempt reached its stream, and the
//! `jetstream` check is up only while none of them is failing. They also
//! heal what they can (re-creating missing streams and consumers), so a
//! failing report means the streams cannot be created either: JetStream
//! off, an account limit, a conflicting stream.

use std::{
    collections::BTreeMap,
    sync::{Arc, Mutex, PoisonError},
};

use syncchain_platform::health::Check;

/// Shared by the relay and consumers of one process. Cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct JetStreamHealth {
    /// Per task (`relay`, a consumer's name): did its last attempt work?
    tasks: Arc<Mutex<BTreeMap<String, bool>>>,
}

impl JetStreamHealth {
    pub fn new() -> Self {
        Self::default()
    }

    /// Records the outcome of `task`'s last attempt.
    pub(crate) fn report(&self, task: &str, up: bool) {
        let mut tasks = self.tasks.lock().unwrap_or_else(PoisonError::into_inner);
        match tasks.get_mut(task) {
            Some(state) => *state = up,
            None => {
                tasks.insert(task.to_owned(), up);
            }
        }
    }

    /// True unless a task's last attempt failed; a task that has not yet
    /// tried counts as up (the streams were made at start).
    pub fn is_up(&self) -> bool {
        let tasks = self.tasks.lock().unwrap_or_else(PoisonError::into_inner);
        tasks.values().all(|up| *up)
    }

    /// The `jetstream` readiness check.
    pub fn check(&self) -> Check {
        let health = self.clone();
        Check::new("jetstream", move || {
            let up = health.is_up();
            async move { up }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_failing_task_makes_jetstream_down_until_it_recovers() {
        let health = JetStreamHealth::new();
        assert!(health.is_up());
        health.report("relay", true);
        health.report("saga", false);
        assert!(!health.is_up());
        health.report("saga", true);
        assert!(health.is_up());
    }
}
