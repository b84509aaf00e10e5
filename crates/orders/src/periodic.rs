//! What the service's periodic sweeps share: ticking at start and then every
//! period until shutdown (a late tick delays the next rather than bursting),
//! and logging a failure once when it begins and once when it ends, not on
//! every failed pass.

use std::time::Duration;

use syncchain_platform::{failure::chain, shutdown::Shutdown};
use tokio::time::{Interval, MissedTickBehavior};

pub struct Sweep {
    name: &'static str,
    ticks: Interval,
    failing: bool,
}

impl Sweep {
    /// `name` is how the logs call it ("pending order sweep").
    pub fn every(name: &'static str, period: Duration) -> Self {
        let mut ticks = tokio::time::interval(period);
        ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
        Self {
            name,
            ticks,
            failing: false,
        }
    }

    /// Waits for the next pass; `false` once `stop` has fired.
    pub async fn next(&mut self, stop: &Shutdown) -> bool {
        tokio::select! {
            () = stop.cancelled() => {
                tracing::info!(sweep = self.name, "stopped");
                false
            }
            _ = self.ticks.tick() => true,
        }
    }

    /// Records how a pass ended.
    pub fn passed<E: std::error::Error + 'static>(&mut self, result: Result<(), E>) {
        match result {
            Ok(()) if self.failing => {
                self.failing = false;
                tracing::info!(sweep = self.name, "works again");
            }
            Ok(()) => {}
            Err(error) => {
                if !self.failing {
                    tracing::warn!(sweep = self.name, error = %chain(&error), "failed, retrying at the next pass");
                }
                self.failing = true;
            }
        }
    }
}
