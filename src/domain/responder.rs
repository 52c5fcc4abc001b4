//! Responders: the people and vehicles a commander can send — officers,
//! patrol cars, auxiliaries (辅警), grid workers (网格员), judicial-office
//! lawyers, prosecutors, village cadres, mediators, fire crews — with their
//! duty status and last known position.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::Position;

/// What kind of responder. Wire names are stable identifiers.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum ResponderType {
    Police,
    PatrolCar,
    Auxiliary,
    Grid,
    Lawyer,
    Prosecutor,
    Cadre,
    Mediator,
    Fire,
    Other,
}

impl ResponderType {
    pub const ALL: [ResponderType; 10] = [
        ResponderType::Police,
        ResponderType::PatrolCar,
        ResponderType::Auxiliary,
        ResponderType::Grid,
        ResponderType::Lawyer,
        ResponderType::Prosecutor,
        ResponderType::Cadre,
        ResponderType::Mediator,
        ResponderType::Fire,
        ResponderType::Other,
    ];
    pub const COUNT: usize = 10;

    pub fn code(self) -> &'static str {
        match self {
            ResponderType::Police => "police",
            ResponderType::PatrolCar => "patrol_car",
            ResponderType::Auxiliary => "auxiliary",
            ResponderType::Grid => "grid",
            ResponderType::Lawyer => "lawyer",
            ResponderType::Prosecutor => "prosecutor",
            ResponderType::Cadre => "cadre",
            ResponderType::Mediator => "mediator",
            ResponderType::Fire => "fire",
            ResponderType::Other => "other",
        }
    }

    pub fn label_zh(self) -> &'static str {
        match self {
            ResponderType::Police => "民警",
            ResponderType::PatrolCar => "巡逻车",
            ResponderType::Auxiliary => "辅警",
            ResponderType::Grid => "网格员",
            ResponderType::Lawyer => "律师",
            ResponderType::Prosecutor => "检察官",
            ResponderType::Cadre => "村干部",
            ResponderType::Mediator => "调解员",
            ResponderType::Fire => "消防",
            ResponderType::Other => "其他",
        }
    }

    /// Dense index 0..COUNT, for per-type arrays.
    pub fn index(self) -> usize {
        self as usize
    }

    pub fn parse(code: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.code() == code)
    }
}

/// Duty status. `available` is the only status a new assignment may take.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, ToSchema,
)]
#[serde(rename_all = "snake_case")]
#[schema(as = ResponderStatus)]
pub enum Status {
    Available,
    Dispatched,
    EnRoute,
    OnScene,
    Busy,
    OffDuty,
}

impl Status {
    pub const ALL: [Status; 6] = [
        Status::Available,
        Status::Dispatched,
        Status::EnRoute,
        Status::OnScene,
        Status::Busy,
        Status::OffDuty,
    ];
    pub const COUNT: usize = 6;

    pub fn code(self) -> &'static str {
        match self {
            Status::Available => "available",
            Status::Dispatched => "dispatched",
            Status::EnRoute => "en_route",
            Status::OnScene => "on_scene",
            Status::Busy => "busy",
            Status::OffDuty => "off_duty",
        }
    }

    pub fn label_zh(self) -> &'static str {
        match self {
            Status::Available => "空闲",
            Status::Dispatched => "已派",
            Status::EnRoute => "赶赴",
            Status::OnScene => "到场",
            Status::Busy => "忙碌",
            Status::OffDuty => "下线",
        }
    }

    pub fn index(self) -> usize {
        self as usize
    }

    pub fn parse(code: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.code() == code)
    }

    /// Statuses that belong to an open assignment.
    pub fn is_assigned(self) -> bool {
        matches!(self, Status::Dispatched | Status::EnRoute | Status::OnScene)
    }
}

/// One position fix of a responder, validated (WGS-84, finite).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Fix {
    pub position: Position,
    /// When the device took the fix (event time, not arrival time).
    pub ts: DateTime<Utc>,
    /// Metres per second.
    pub speed_mps: Option<f64>,
    /// Degrees clockwise from north, 0..360.
    pub heading: Option<f64>,
    /// Horizontal accuracy, metres.
    pub accuracy_m: Option<f64>,
    pub altitude_m: Option<f64>,
    /// Battery level, percent.
    pub battery: Option<f64>,
}

/// A roster entry as given by `POST /api/v1/responders` or the roster CSV.
/// The phone number is never kept in clear: only `phone_masked`.
#[derive(Debug, Clone, PartialEq)]
pub struct ResponderSpec {
    pub id: String,
    pub name: String,
    pub kind: ResponderType,
    pub skills: Vec<String>,
    /// Home station code (联勤工作站), if any.
    pub station: Option<String>,
    /// Home police post code (警务室/派出所), if any.
    pub post: Option<String>,
    pub department: Option<String>,
    /// e.g. `138****1234`.
    pub phone_masked: Option<String>,
    /// Free text such as `08:00-20:00` or `白班`.
    pub shift: Option<String>,
    /// Initial status for a new responder (an upsert keeps the current one
    /// unless the caller set it explicitly).
    pub status: Option<Status>,
    pub demo: bool,
}

/// Masks a phone number for storage and display: keeps the first 3 and the
/// last 4 digits (`13812341234` → `138****1234`); short numbers keep only
/// their last 2 digits. Non-digits are dropped first.
///
/// ```
/// use lianqin::domain::responder::mask_phone;
/// assert_eq!(mask_phone("138-1234-1234"), "138****1234");
/// assert_eq!(mask_phone("110"), "*10");
/// ```
pub fn mask_phone(raw: &str) -> String {
    let mut digits: Vec<char> = raw.chars().filter(char::is_ascii_digit).collect();
    if digits.len() == 13 && digits[0] == '8' && digits[1] == '6' {
        digits.drain(..2); // +86 country code
    }
    let n = digits.len();
    if n >= 11 {
        let head: String = digits[..3].iter().collect();
        let tail: String = digits[n - 4..].iter().collect();
        format!("{head}****{tail}")
    } else if n > 2 {
        let tail: String = digits[n - 2..].iter().collect();
        format!("{}{tail}", "*".repeat(n - 2))
    } else {
        "*".repeat(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip() {
        for t in ResponderType::ALL {
            assert_eq!(ResponderType::parse(t.code()), Some(t));
            assert_eq!(serde_json::to_value(t).unwrap(), t.code());
            assert_eq!(ResponderType::ALL[t.index()], t);
        }
        for s in Status::ALL {
            assert_eq!(Status::parse(s.code()), Some(s));
            assert_eq!(serde_json::to_value(s).unwrap(), s.code());
            assert_eq!(Status::ALL[s.index()], s);
        }
        assert_eq!(ResponderType::parse("tank"), None);
    }

    #[test]
    fn phones_are_masked() {
        assert_eq!(mask_phone("13812341234"), "138****1234");
        assert_eq!(mask_phone("+86 138 1234 5678"), "138****5678");
        assert_eq!(mask_phone("0576-84112345"), "057****2345");
        assert_eq!(mask_phone("12"), "**");
        assert!(!mask_phone("13812341234").contains("1234123"));
    }
}
