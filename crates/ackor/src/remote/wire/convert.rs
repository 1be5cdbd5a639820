//! Conversions between ackor's types and their wire forms.

use super::*;
use crate::error::Error;
use crate::identity::{NodeName, Pid};
use crate::monitor::ExitReason;

impl From<&Pid> for WirePid {
    fn from(pid: &Pid) -> Self {
        WirePid {
            node: bytes::Bytes::copy_from_slice(pid.node().as_str().as_bytes()),
            id: pid.id(),
            creation: pid.creation(),
        }
    }
}

impl<'a> From<&'a Pid> for PidRef<'a> {
    fn from(pid: &'a Pid) -> Self {
        PidRef {
            node: pid.node().as_str().as_bytes(),
            id: pid.id(),
            creation: pid.creation(),
        }
    }
}

impl WirePid {
    /// The pid; a node name that is not UTF-8 gets replacement characters (and so
    /// names no node).
    pub(crate) fn to_pid(&self) -> Pid {
        self.as_ref().to_pid()
    }
}

impl PidRef<'_> {
    /// See [`WirePid::to_pid`].
    pub(crate) fn to_pid(self) -> Pid {
        Pid::new(
            NodeName::new(String::from_utf8_lossy(self.node)),
            self.id,
            self.creation,
        )
    }

    /// [`PidRef::to_pid`], sharing `known` when the pid is on that node (no copy of
    /// the name).
    pub(crate) fn to_pid_on(self, known: &NodeName) -> Pid {
        if self.is_on(known) {
            Pid::new(known.clone(), self.id, self.creation)
        } else {
            self.to_pid()
        }
    }

    /// Whether the pid is on node `node`.
    pub(crate) fn is_on(self, node: &NodeName) -> bool {
        self.node == node.as_str().as_bytes()
    }
}

impl From<&Error> for WireError {
    fn from(e: &Error) -> Self {
        let (kind, message) = match e {
            Error::ProcessUnknown => (ErrorKind::ProcessUnknown, String::new()),
            Error::MailboxFull => (ErrorKind::MailboxFull, String::new()),
            Error::ProcessTerminated => (ErrorKind::ProcessTerminated, String::new()),
            Error::UnknownMessage(tag) => (ErrorKind::UnknownMessage, tag.clone()),
            Error::Codec(m) => (ErrorKind::Decode, m.clone()),
            Error::Rejected(m) => (ErrorKind::Rejected, m.clone()),
            Error::ReplyDropped => (ErrorKind::ReplyDropped, String::new()),
            Error::Timeout => (ErrorKind::Timeout, String::new()),
            Error::NoConnection => (ErrorKind::NoConnection, String::new()),
            Error::ResponseIgnored => (ErrorKind::ResponseIgnored, String::new()),
            Error::CallCycle => (ErrorKind::CallCycle, String::new()),
            Error::UnknownActorKind(kind) => (ErrorKind::UnknownActorKind, kind.clone()),
            Error::NameTaken(name) => (ErrorKind::NameTaken, name.clone()),
            Error::ConnectionLost => (ErrorKind::ConnectionLost, String::new()),
            Error::ActorFailed(why) => (ErrorKind::ActorFailed, why.clone()),
            Error::Storage(why) => (ErrorKind::Storage, why.clone()),
            other => (ErrorKind::Unspecified, other.to_string()),
        };
        WireError {
            kind: kind as i32,
            message,
        }
    }
}

impl From<&WireError> for Error {
    fn from(e: &WireError) -> Self {
        match ErrorKind::try_from(e.kind).unwrap_or(ErrorKind::Unspecified) {
            ErrorKind::ProcessUnknown => Error::ProcessUnknown,
            ErrorKind::MailboxFull => Error::MailboxFull,
            ErrorKind::ProcessTerminated => Error::ProcessTerminated,
            ErrorKind::UnknownMessage => Error::UnknownMessage(e.message.clone()),
            ErrorKind::Decode => Error::Codec(e.message.clone()),
            ErrorKind::Rejected => Error::Rejected(e.message.clone()),
            ErrorKind::ReplyDropped => Error::ReplyDropped,
            ErrorKind::Timeout => Error::Timeout,
            ErrorKind::NoConnection => Error::NoConnection,
            ErrorKind::ResponseIgnored => Error::ResponseIgnored,
            ErrorKind::CallCycle => Error::CallCycle,
            ErrorKind::UnknownActorKind => Error::UnknownActorKind(e.message.clone()),
            ErrorKind::NameTaken => Error::NameTaken(e.message.clone()),
            ErrorKind::ConnectionLost => Error::ConnectionLost,
            ErrorKind::ActorFailed => Error::ActorFailed(e.message.clone()),
            ErrorKind::Storage => Error::Storage(e.message.clone()),
            ErrorKind::Unspecified => Error::Protocol(format!("remote error: {}", e.message)),
        }
    }
}

impl From<&ExitReason> for WireReason {
    fn from(r: &ExitReason) -> Self {
        let (kind, message) = match r {
            ExitReason::Normal => (ReasonKind::Normal, String::new()),
            ExitReason::Shutdown => (ReasonKind::Shutdown, String::new()),
            ExitReason::Killed => (ReasonKind::Killed, String::new()),
            ExitReason::Panic(m) => (ReasonKind::Panic, m.clone()),
            ExitReason::Error(m) => (ReasonKind::Error, m.clone()),
            ExitReason::NoProcess => (ReasonKind::NoProcess, String::new()),
            ExitReason::NoConnection => (ReasonKind::NoConnection, String::new()),
        };
        WireReason {
            kind: kind as i32,
            message,
        }
    }
}

impl From<Option<&WireReason>> for ExitReason {
    fn from(r: Option<&WireReason>) -> Self {
        let Some(r) = r else {
            return ExitReason::Error("no reason given".into());
        };
        match ReasonKind::try_from(r.kind).unwrap_or(ReasonKind::Unspecified) {
            ReasonKind::Normal => ExitReason::Normal,
            ReasonKind::Shutdown => ExitReason::Shutdown,
            ReasonKind::Killed => ExitReason::Killed,
            ReasonKind::Panic => ExitReason::Panic(r.message.clone()),
            ReasonKind::Error => ExitReason::Error(r.message.clone()),
            ReasonKind::NoProcess => ExitReason::NoProcess,
            ReasonKind::NoConnection => ExitReason::NoConnection,
            ReasonKind::Unspecified => ExitReason::Error(format!("unknown reason: {}", r.message)),
        }
    }
}

impl From<crate::trace::TraceContext> for super::WireTrace {
    fn from(t: crate::trace::TraceContext) -> Self {
        super::WireTrace {
            trace_hi: (t.trace_id >> 64) as u64,
            trace_lo: t.trace_id as u64,
            span: t.span_id,
        }
    }
}

impl super::WireTrace {
    /// The trace context, unless an id is zero (not a valid trace).
    pub(crate) fn to_trace(self) -> Option<crate::trace::TraceContext> {
        let trace_id = (u128::from(self.trace_hi) << 64) | u128::from(self.trace_lo);
        (trace_id != 0 && self.span != 0).then_some(crate::trace::TraceContext {
            trace_id,
            span_id: self.span,
        })
    }
}
