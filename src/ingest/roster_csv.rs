//! Roster CSV files for `lianqin import --responders ROSTER.csv`.
//!
//! UTF-8 (a BOM is tolerated), comma-separated, one header row naming the
//! columns (any order; unknown columns refused so typos surface):
//!
//! | column | required | meaning |
//! |---|---|---|
//! | `id` | yes | responder id (1–64 chars, no spaces or `/`); the device id a phone reports with |
//! | `name` | yes | display name |
//! | `type` | yes | police, patrol_car, auxiliary, grid, lawyer, prosecutor, cadre, mediator, fire, other |
//! | `skills` | no | separated by `;` (or `|`, `、`), e.g. `driving;first_aid` |
//! | `station` | no | home joint-duty station code (e.g. `ST01`) |
//! | `post` | no | home police post code (e.g. `PP001`) |
//! | `department` | no | e.g. `东城派出所` |
//! | `phone` | no | stored only masked (`138****1234`) |
//! | `shift` | no | free text, e.g. `08:00-20:00` |
//! | `status` | no | initial status of a new responder (default `available`) |
//!
//! Each row is checked with exactly the rules of `POST /api/v1/responders`;
//! a bad row is reported with its line number, field and reason and the
//! good rows are imported. A repeated id is refused naming the first line.

use std::collections::HashMap;

use serde_json::{Map, Value};

use super::responder_json::parse_responders;
use crate::domain::ResponderSpec;

pub const COLUMNS: &[&str] = &[
    "id",
    "name",
    "type",
    "skills",
    "station",
    "post",
    "department",
    "phone",
    "shift",
    "status",
];

/// One refused row: its line number in the file (the header is line 1).
#[derive(Debug, Clone, PartialEq)]
pub struct RowError {
    pub line: u64,
    pub field: String,
    pub reason: String,
}

impl std::fmt::Display for RowError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "line {}: {}: {}", self.line, self.field, self.reason)
    }
}

/// A whole-file problem (no header, unknown column, unreadable).
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    #[error("{0}")]
    Header(String),
    #[error("CSV: {0}")]
    Csv(#[from] csv::Error),
}

#[derive(Debug, Default)]
pub struct Parsed {
    pub accepted: Vec<(u64, ResponderSpec)>,
    pub rejected: Vec<RowError>,
}

/// Parses a roster from any reader; `progress` is called with the bytes
/// read so far (for a progress bar).
pub fn parse(
    reader: impl std::io::Read,
    mut progress: impl FnMut(u64),
) -> Result<Parsed, FileError> {
    let mut rdr = csv::ReaderBuilder::new()
        .flexible(false)
        .trim(csv::Trim::All)
        .from_reader(reader);
    let headers: Vec<String> = rdr
        .headers()?
        .iter()
        .map(|h| h.trim_start_matches('\u{feff}').trim().to_lowercase())
        .collect();
    if let Some(h) = headers.iter().find(|h| !COLUMNS.contains(&h.as_str())) {
        return Err(FileError::Header(format!(
            "unknown column {h:?} in the header; expected columns {}",
            COLUMNS.join(", ")
        )));
    }
    for required in ["id", "name", "type"] {
        if !headers.iter().any(|h| h == required) {
            return Err(FileError::Header(format!(
                "the header has no {required:?} column (required: id, name, type)"
            )));
        }
    }
    let mut out = Parsed::default();
    let mut first_line: HashMap<String, u64> = HashMap::new();
    let mut record = csv::StringRecord::new();
    loop {
        let line = rdr.position().line() + 1;
        match rdr.read_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {}
            Err(e) => {
                // a malformed row (e.g. wrong number of fields) is that row's problem
                out.rejected.push(RowError {
                    line: e.position().map_or(line, |p| p.line()),
                    field: "row".into(),
                    reason: e.to_string(),
                });
                continue;
            }
        }
        progress(rdr.position().byte());
        let line = record.position().map_or(line, |p| p.line());
        let mut obj = Map::new();
        for (h, v) in headers.iter().zip(record.iter()) {
            if v.is_empty() {
                continue;
            }
            let value = if h == "skills" {
                Value::Array(
                    v.split([';', '|', '、'])
                        .map(str::trim)
                        .filter(|s| !s.is_empty())
                        .map(|s| Value::String(s.to_string()))
                        .collect(),
                )
            } else {
                Value::String(v.to_string())
            };
            obj.insert(h.clone(), value);
        }
        match parse_responders(&Value::Object(obj)) {
            Ok((_, mut specs)) => {
                let spec = specs.remove(0);
                if let Some(first) = first_line.get(&spec.id) {
                    out.rejected.push(RowError {
                        line,
                        field: "id".into(),
                        reason: format!("duplicate id {:?} (first on line {first})", spec.id),
                    });
                    continue;
                }
                first_line.insert(spec.id.clone(), line);
                out.accepted.push((line, spec));
            }
            Err(e) => out.rejected.push(RowError {
                line,
                field: e.field,
                reason: e.reason,
            }),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn good_and_bad_rows() {
        let text = "\u{feff}id,name,type,skills,phone,status\n\
                    P-1,张三,police,driving;first_aid,13812345678,\n\
                    P-2,李四,tank,,,\n\
                    P-1,王五,grid,,,\n\
                    P 4,赵六,grid,,,\n\
                    P-5,钱七,lawyer,legal_aid,,busy\n\
                    P-6,孙八,grid\n";
        let p = parse(text.as_bytes(), |_| {}).unwrap();
        let ids: Vec<&str> = p.accepted.iter().map(|(_, s)| s.id.as_str()).collect();
        assert_eq!(ids, vec!["P-1", "P-5"]);
        assert_eq!(p.accepted[0].1.skills, vec!["driving", "first_aid"]);
        assert_eq!(p.accepted[0].1.phone_masked.as_deref(), Some("138****5678"));
        let errs: Vec<(u64, &str)> = p
            .rejected
            .iter()
            .map(|e| (e.line, e.field.as_str()))
            .collect();
        assert_eq!(errs, vec![(3, "type"), (4, "id"), (5, "id"), (7, "row")]);
        assert!(
            p.rejected[1].reason.contains("line 2"),
            "{}",
            p.rejected[1].reason
        );
    }

    #[test]
    fn header_problems_refuse_the_file() {
        assert!(parse("id,name,colour\n".as_bytes(), |_| {}).is_err());
        assert!(parse("id,name\n".as_bytes(), |_| {}).is_err());
    }
}
