//! A limit on how often something peers cause is logged: a flood of refused
//! connections must not become a flood of log lines.
//!
//! Hand-written rather than taken from a crate: what is needed is one line per period
//! with the count of those held back since the last one, which rate limiters such as
//! `governor` do not keep (they only answer yes or no), for a dozen lines of code.

use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

/// Lets one event per period be logged and counts the others.
pub(crate) struct LogLimit {
    period: Duration,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// When the last line was let through.
    last: Option<Instant>,
    /// Events held back since then.
    suppressed: u64,
}

impl LogLimit {
    /// At most one line per `period`.
    pub(crate) fn new(period: Duration) -> Self {
        LogLimit {
            period,
            state: Mutex::new(State::default()),
        }
    }

    /// `Some(n)` when this event may be logged, `n` being how many were held back since
    /// the last line; `None` (and counted) when it may not.
    pub(crate) fn allow(&self) -> Option<u64> {
        let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        match st.last {
            Some(last) if now.duration_since(last) < self.period => {
                st.suppressed += 1;
                None
            }
            _ => {
                st.last = Some(now);
                Some(std::mem::take(&mut st.suppressed))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn one_line_per_period_with_the_count_held_back() {
        let limit = LogLimit::new(Duration::from_secs(1));
        assert_eq!(limit.allow(), Some(0));
        for _ in 0..99 {
            assert_eq!(limit.allow(), None);
        }
        tokio::time::advance(Duration::from_millis(999)).await;
        assert_eq!(limit.allow(), None);
        tokio::time::advance(Duration::from_millis(1)).await;
        assert_eq!(limit.allow(), Some(100));
        tokio::time::advance(Duration::from_secs(5)).await;
        assert_eq!(limit.allow(), Some(0));
    }
}
