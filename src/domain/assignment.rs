//! Assignments: a responder sent to an incident, and what became of it.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{json, Value};

/// `dispatched` → (`acked` → `cleared`) | `declined` | `timed_out`.
/// `dispatched` and `acked` are open; a responder has at most one open
/// assignment (a unique index in PostGIS enforces it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AssignmentStatus {
    Dispatched,
    Acked,
    Declined,
    TimedOut,
    Cleared,
}

impl AssignmentStatus {
    pub const ALL: [AssignmentStatus; 5] = [
        AssignmentStatus::Dispatched,
        AssignmentStatus::Acked,
        AssignmentStatus::Declined,
        AssignmentStatus::TimedOut,
        AssignmentStatus::Cleared,
    ];

    pub fn code(self) -> &'static str {
        match self {
            AssignmentStatus::Dispatched => "dispatched",
            AssignmentStatus::Acked => "acked",
            AssignmentStatus::Declined => "declined",
            AssignmentStatus::TimedOut => "timed_out",
            AssignmentStatus::Cleared => "cleared",
        }
    }

    pub fn label_zh(self) -> &'static str {
        match self {
            AssignmentStatus::Dispatched => "已派待确认",
            AssignmentStatus::Acked => "已确认",
            AssignmentStatus::Declined => "已拒绝",
            AssignmentStatus::TimedOut => "超时未确认",
            AssignmentStatus::Cleared => "已完成",
        }
    }

    pub fn parse(code: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.code() == code)
    }

    pub fn is_open(self) -> bool {
        matches!(self, AssignmentStatus::Dispatched | AssignmentStatus::Acked)
    }
}

/// A stored assignment.
#[derive(Debug, Clone, PartialEq)]
pub struct Assignment {
    pub id: i64,
    pub incident_id: i64,
    pub responder_id: String,
    pub status: AssignmentStatus,
    pub created_at: DateTime<Utc>,
    pub ack_deadline: DateTime<Utc>,
    pub acked_at: Option<DateTime<Utc>>,
    pub closed_at: Option<DateTime<Utc>>,
    /// The assignment this one was offered in place of (after a timeout or decline).
    pub replaces: Option<i64>,
    pub reason: Option<String>,
}

fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

impl Assignment {
    pub fn to_json(&self) -> Value {
        json!({
            "id": self.id,
            "incident_id": self.incident_id,
            "responder_id": self.responder_id,
            "status": self.status.code(),
            "status_label": self.status.label_zh(),
            "created_at": ts(self.created_at),
            "ack_deadline": ts(self.ack_deadline),
            "acked_at": self.acked_at.map(ts),
            "closed_at": self.closed_at.map(ts),
            "replaces": self.replaces,
            "reason": self.reason,
        })
    }
}

/// A responder's new status, as committed.
#[derive(Debug, Clone, PartialEq)]
pub struct StatusChange {
    pub responder_id: String,
    pub status: super::Status,
    pub since: DateTime<Utc>,
}

/// What one committed record change did to duty state: the live world
/// applies it and publishes it (status changes and assignments are never
/// coalesced or dropped).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DutyChange {
    pub statuses: Vec<StatusChange>,
    pub assignments: Vec<Assignment>,
}
