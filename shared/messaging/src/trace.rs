//! Trace context, carried hop to hop so that one order is one trace across every function.
//!
//! On the wire it is the W3C `traceparent` message attribute, which this system sets on
//! every event it publishes; where AWS sets an X-Ray header (`AWSTraceHeader` on SQS
//! messages, `Lambda-Runtime-Trace-Id` on invocations), the same trace id is read from it.
//! An X-Ray trace id `1-5759e988-bd862e3fe1be46a994272793` is the W3C trace id
//! `5759e988bd862e3fe1be46a994272793`, so the two name one trace.

use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

use uuid::Uuid;

/// The message attribute that carries the W3C trace context.
pub const TRACEPARENT: &str = "traceparent";
/// The SQS system attribute in which AWS X-Ray passes its trace header.
pub const AWS_TRACE_HEADER: &str = "AWSTraceHeader";

/// Where a message is in its trace: the trace, and the hop that carried it here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TraceContext {
    /// 128 bits; the first 32 are a Unix time, as X-Ray requires of the ids it accepts.
    pub trace_id: u128,
    /// The span (hop) that carried the context here.
    pub parent_id: u64,
    /// Whether the trace is being recorded.
    pub sampled: bool,
}

impl TraceContext {
    /// A new trace, its id stamped with the current time (as X-Ray ids are) and made unique
    /// by `seed` (a request or event id).
    pub fn start(seed: Uuid) -> Self {
        let seconds = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or_default();
        let random = seed.as_u128() & ((1u128 << 96) - 1);
        Self { trace_id: (u128::from(seconds as u32) << 96) | random, parent_id: span_id_of(seed), sampled: true }
    }

    /// The context a hop passes on with the event `event_id`: the same trace, with that
    /// event's span as the parent. Derived from the event id, so an event published again
    /// carries the same context.
    pub fn child_for(&self, event_id: Uuid) -> Self {
        Self { parent_id: span_id_of(event_id), ..*self }
    }

    /// `00-<trace id>-<parent id>-<flags>`; `None` for anything else.
    pub fn from_traceparent(text: &str) -> Option<Self> {
        let mut parts = text.trim().split('-');
        let (version, trace, parent, flags) = (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
        if version != "00" || trace.len() != 32 || parent.len() != 16 || flags.len() != 2 || parts.next().is_some() {
            return None;
        }
        let trace_id = u128::from_str_radix(trace, 16).ok().filter(|id| *id != 0)?;
        let parent_id = u64::from_str_radix(parent, 16).ok().filter(|id| *id != 0)?;
        let flags = u8::from_str_radix(flags, 16).ok()?;
        Some(Self { trace_id, parent_id, sampled: flags & 1 == 1 })
    }

    /// `Root=1-<8 hex>-<24 hex>;Parent=<16 hex>;Sampled=<0|1>` (fields in any order);
    /// `None` without a well-formed `Root`.
    pub fn from_xray(text: &str) -> Option<Self> {
        let mut root = None;
        let mut parent = None;
        let mut sampled = true;
        for field in text.split(';') {
            match field.trim().split_once('=') {
                Some(("Root", value)) => {
                    let mut parts = value.split('-');
                    let (one, time, random) = (parts.next()?, parts.next()?, parts.next()?);
                    if one != "1" || time.len() != 8 || random.len() != 24 {
                        return None;
                    }
                    root = u128::from_str_radix(&format!("{time}{random}"), 16).ok();
                }
                Some(("Parent", value)) => parent = u64::from_str_radix(value, 16).ok(),
                Some(("Sampled", value)) => sampled = value != "0",
                _ => {}
            }
        }
        let trace_id = root?;
        Some(Self { trace_id, parent_id: parent.unwrap_or(trace_id as u64), sampled })
    }

    /// The W3C `traceparent` value.
    pub fn traceparent(&self) -> String {
        format!("00-{:032x}-{:016x}-{:02x}", self.trace_id, self.parent_id, u8::from(self.sampled))
    }

    /// The X-Ray trace header value.
    pub fn xray_header(&self) -> String {
        let hex = format!("{:032x}", self.trace_id);
        format!("Root=1-{}-{};Parent={:016x};Sampled={}", &hex[..8], &hex[8..], self.parent_id, u8::from(self.sampled))
    }

    /// The trace id as logs and the timeline show it (W3C form).
    pub fn trace_id(&self) -> TraceId {
        TraceId(self.trace_id)
    }
}

/// A trace id, printed as 32 hex digits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TraceId(pub u128);

impl fmt::Display for TraceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:032x}", self.0)
    }
}

fn span_id_of(id: Uuid) -> u64 {
    // Never zero: the W3C format reserves it.
    (id.as_u128() as u64).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn traceparent_round_trips_and_rejects_nonsense() {
        let context = TraceContext::start(Uuid::new_v4());
        assert_eq!(TraceContext::from_traceparent(&context.traceparent()), Some(context));
        for bad in [
            "",
            "00-abc-def-01",
            "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
        ] {
            assert_eq!(TraceContext::from_traceparent(bad), None, "{bad}");
        }
    }

    #[test]
    fn an_xray_header_names_the_same_trace_as_its_w3c_form() {
        let xray = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1";
        let context = TraceContext::from_xray(xray).expect("parses");
        assert_eq!(context.trace_id().to_string(), "5759e988bd862e3fe1be46a994272793");
        assert_eq!(context.xray_header(), xray);
        assert_eq!(TraceContext::from_xray("Root=2-x"), None);
    }

    #[test]
    fn a_child_keeps_the_trace_and_is_the_same_for_the_same_event() {
        let root = TraceContext::start(Uuid::new_v4());
        let event = Uuid::new_v4();
        assert_eq!(root.child_for(event), root.child_for(event));
        assert_eq!(root.child_for(event).trace_id, root.trace_id);
        assert_ne!(root.child_for(event).parent_id, root.child_for(Uuid::new_v4()).parent_id);
    }
}
