//! Trace context: which trace a handled message belongs to, carried with every
//! message its handler sends (on this node and across nodes), so that a call from
//! node a to b to c is one trace.
//!
//! While a subscriber listens at `DEBUG` for target `ackor`, every handled message
//! runs in a span `ackor.handle` with the fields `actor`, `message`, `pid`,
//! `trace_id` and `span_id` (W3C `traceparent` sizes: 128 and 64 bits, in hex), and
//! `parent_span_id`, the sender's span, when the message came with a trace. A
//! message that comes without a trace starts one; a message sent while a handler
//! runs (from the handler's own task: `ActorRef::send`, `call`, `send_important`, the
//! `Context` verbs, local or remote) carries the handler's trace, and its handling is
//! a child span in the same trace. Work the handler hands to another task takes the
//! context along explicitly ([`current`], [`TraceContext::scope`]).
//!
//! When nothing listens at that level, no trace is made and nothing is carried: the
//! cost is a check of the span's level per message.
//!
//! With the feature `otlp`, `telemetry::otlp` exports these spans to an OpenTelemetry
//! collector with these very ids: a call chain across nodes is one trace there.
//!
//! ```
//! use ackor::trace::TraceContext;
//!
//! let t = TraceContext::parse("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01").unwrap();
//! assert_eq!(t.trace_id, 0x4bf92f3577b34da6a3ce929d0e0e4736);
//! assert_eq!(t.traceparent(), "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
//! ```

use std::cell::Cell;

/// A position in a trace: the trace and the span (the handling of one message) that
/// is the parent of what is sent from it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TraceContext {
    /// The trace, 128 bits, never 0.
    pub trace_id: u128,
    /// The span within it, 64 bits, never 0.
    pub span_id: u64,
}

thread_local! {
    /// The trace of the handler being polled on this thread, if any.
    static CURRENT: Cell<Option<TraceContext>> = const { Cell::new(None) };
    /// This thread's generator of ids (xorshift64*, seeded from the OS once).
    static RNG: Cell<u64> = const { Cell::new(0) };
}

/// The trace of the handler running on this thread now, if it has one.
pub fn current() -> Option<TraceContext> {
    CURRENT.with(Cell::get)
}

impl TraceContext {
    /// A new trace, with its first span.
    pub fn root() -> TraceContext {
        let trace_id = (u128::from(next_id()) << 64) | u128::from(next_id());
        TraceContext {
            trace_id,
            span_id: next_id(),
        }
    }

    /// A new span in the same trace.
    pub fn child(&self) -> TraceContext {
        TraceContext {
            trace_id: self.trace_id,
            span_id: next_id(),
        }
    }

    /// The W3C `traceparent` header for this context (version 00, sampled).
    pub fn traceparent(&self) -> String {
        format!("00-{:032x}-{:016x}-01", self.trace_id, self.span_id)
    }

    /// Reads a W3C `traceparent` (version 00); `None` if malformed or all-zero ids.
    pub fn parse(traceparent: &str) -> Option<TraceContext> {
        let mut parts = traceparent.split('-');
        let (version, trace, span, _flags) = (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
        if version != "00" || trace.len() != 32 || span.len() != 16 || parts.next().is_some() {
            return None;
        }
        let trace_id = u128::from_str_radix(trace, 16).ok().filter(|t| *t != 0)?;
        let span_id = u64::from_str_radix(span, 16).ok().filter(|s| *s != 0)?;
        Some(TraceContext { trace_id, span_id })
    }

    /// Runs `f` as if handling a message in this trace: what it sends carries it.
    /// For work a handler hands to another task.
    ///
    /// ```
    /// use ackor::trace::{self, TraceContext};
    ///
    /// let t = TraceContext::root();
    /// assert_eq!(t.scope(trace::current), Some(t));
    /// assert_eq!(trace::current(), None);
    /// ```
    pub fn scope<R>(self, f: impl FnOnce() -> R) -> R {
        with_current(Some(self), f)
    }
}

/// Runs `f` with `trace` as this thread's current trace, then restores the previous.
pub(crate) fn with_current<R>(trace: Option<TraceContext>, f: impl FnOnce() -> R) -> R {
    let before = CURRENT.with(|c| c.replace(trace));
    let out = f();
    CURRENT.with(|c| c.set(before));
    out
}

/// A non-zero 64-bit id: trace and span ids need to be unique, not secret.
fn next_id() -> u64 {
    RNG.with(|state| {
        let mut x = state.get();
        if x == 0 {
            let mut seed = [0u8; 8];
            x = match getrandom::fill(&mut seed) {
                Ok(()) => u64::from_le_bytes(seed),
                Err(_) => 0x9e37_79b9_7f4a_7c15,
            } | 1;
        }
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        state.set(x);
        x.wrapping_mul(0x2545_f491_4f6c_dd1d).max(1)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn traceparent_round_trips_and_bad_ones_are_refused() {
        let t = TraceContext::root();
        assert_eq!(TraceContext::parse(&t.traceparent()), Some(t));
        assert_ne!(t.child().span_id, t.span_id);
        assert_eq!(t.child().trace_id, t.trace_id);
        for bad in [
            "",
            "00-0-0-01",
            "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "00-4bf92f3577b34da6a3ce929d0e0e473x-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-xx",
        ] {
            assert_eq!(TraceContext::parse(bad), None, "{bad}");
        }
    }
}
