//! Many records at once: JSONL and CSV files (`lianqin import`-style) and
//! HTTP push bodies. Every record gets its own result so one bad line never
//! hides the good ones; deciding whether to store a partial batch is the
//! caller's business.

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use super::{parse_record, RecordError, SourceRecord, SourceSystem};

/// Most records accepted in one HTTP body (as in the incidents API).
pub const MAX_BATCH: usize = 1000;

type Item = Result<SourceRecord, RecordError>;

/// JSON Lines: one record object per line, blank lines skipped. Results carry
/// the 1-based line number. A UTF-8 BOM and CRLF line ends are tolerated.
pub fn parse_jsonl(source: SourceSystem, text: &str, now: DateTime<Utc>) -> Vec<(usize, Item)> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, line)| {
            let item = serde_json::from_str::<Value>(line.trim())
                .map_err(|e| RecordError::new("line", format!("is not valid JSON ({e})")))
                .and_then(|v| parse_record(source, &v, now));
            (i + 1, item)
        })
        .collect()
}

/// CSV with a header row; the field names are the headers (trimmed), every
/// cell is a string and empty cells count as absent. Results carry the line
/// number in the file where the row starts (the header is line 1). A UTF-8
/// BOM and CRLF line ends are tolerated. A file without a header row, or with duplicate or blank
/// headers, yields a single error for line 1.
pub fn parse_csv(source: SourceSystem, text: &str, now: DateTime<Utc>) -> Vec<(usize, Item)> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    // csv's line counter is off by one per CRLF; Excel and most Chinese
    // government systems export CRLF, so normalise first (a CRLF inside a
    // quoted cell becomes LF, which is what we would store anyway).
    let normalised;
    let text = if text.contains("\r\n") {
        normalised = text.replace("\r\n", "\n");
        normalised.as_str()
    } else {
        text
    };
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(false)
        .from_reader(text.as_bytes());
    let headers: Vec<String> = match reader.headers() {
        Ok(h) if !(h.is_empty() || h.len() == 1 && h[0].trim().is_empty()) => {
            h.iter().map(|c| c.trim().to_string()).collect()
        }
        Ok(_) => {
            return vec![(
                1,
                Err(RecordError::new("csv", "the file has no header row")),
            )]
        }
        Err(e) => {
            return vec![(
                1,
                Err(RecordError::new(
                    "csv",
                    format!("unreadable header row ({e})"),
                )),
            )]
        }
    };
    for (i, h) in headers.iter().enumerate() {
        if h.is_empty() {
            return vec![(
                1,
                Err(RecordError::new(
                    "csv",
                    format!("column {} has no header", i + 1),
                )),
            )];
        }
        if headers[..i].contains(h) {
            return vec![(1, Err(RecordError::new(h.clone(), "duplicate column")))];
        }
    }
    let mut out = Vec::new();
    let mut last_line = 1;
    for row in reader.records() {
        match row {
            Ok(row) => {
                let line = row.position().map_or(last_line + 1, |p| p.line() as usize);
                last_line = line;
                let obj: Map<String, Value> = headers
                    .iter()
                    .zip(row.iter())
                    .map(|(h, c)| (h.clone(), Value::String(c.to_string())))
                    .collect();
                out.push((line, parse_record(source, &Value::Object(obj), now)));
            }
            Err(e) => {
                let line = e.position().map_or(last_line + 1, |p| p.line() as usize);
                last_line = line;
                let reason = match e.kind() {
                    csv::ErrorKind::UnequalLengths {
                        expected_len, len, ..
                    } => format!("row has {len} cells, the header has {expected_len}"),
                    _ => format!("unreadable row ({e})"),
                };
                out.push((line, Err(RecordError::new("csv", reason))));
            }
        }
    }
    out
}

/// An HTTP push body: one record object, or an array of 1 to [`MAX_BATCH`]
/// of them. Returns one result per record in order (index = position), or a
/// body-level error (`field` = `body`) if the shape is wrong.
pub fn parse_body(
    source: SourceSystem,
    body: &Value,
    now: DateTime<Utc>,
) -> Result<Vec<Item>, RecordError> {
    match body {
        Value::Object(_) => Ok(vec![parse_record(source, body, now)]),
        Value::Array(items) if items.is_empty() => Err(RecordError::new(
            "body",
            "array must contain at least one record",
        )),
        Value::Array(items) if items.len() > MAX_BATCH => Err(RecordError::new(
            "body",
            format!(
                "at most {MAX_BATCH} records per request, got {}",
                items.len()
            ),
        )),
        Value::Array(items) => Ok(items
            .iter()
            .map(|item| parse_record(source, item, now))
            .collect()),
        _ => Err(RecordError::new(
            "body",
            "must be a JSON object or an array of objects",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::super::fields::testing::now;
    use super::*;
    use serde_json::json;

    fn station(id: &str) -> Value {
        json!({"task_id": id, "station": "ST01", "created_at": "2026-03-18 09:00:00",
               "task_type": "矛盾排查", "address": "东城街道百花社区"})
    }

    #[test]
    fn body_shapes_and_limit() {
        let s = SourceSystem::Station;
        assert_eq!(parse_body(s, &station("T1"), now()).unwrap().len(), 1);
        let v = parse_body(s, &json!([station("T1"), 5, station("")]), now()).unwrap();
        assert!(v[0].is_ok());
        assert_eq!(v[1].as_ref().unwrap_err().field, "record");
        assert_eq!(v[2].as_ref().unwrap_err().field, "task_id");
        assert_eq!(parse_body(s, &json!([]), now()).unwrap_err().field, "body");
        assert_eq!(parse_body(s, &json!("x"), now()).unwrap_err().field, "body");
        let full: Vec<Value> = (0..MAX_BATCH).map(|i| station(&format!("T{i}"))).collect();
        let v = parse_body(s, &Value::Array(full.clone()), now()).unwrap();
        assert_eq!(v.len(), MAX_BATCH);
        assert!(v.iter().all(Result::is_ok));
        let mut over = full;
        over.push(station("T-last"));
        let e = parse_body(s, &Value::Array(over), now()).unwrap_err();
        assert_eq!(e.field, "body");
        assert!(e.reason.contains("at most 1000"), "{}", e.reason);
    }

    #[test]
    fn jsonl_lines_and_errors() {
        let text = "\u{feff}{\"task_id\":\"T1\",\"station\":\"ST01\",\"created_at\":\"2026-03-18 09:00:00\",\"task_type\":\"矛盾排查\",\"address\":\"x\"}\r\n\r\n   \nnot json\n[1]\n";
        let v = parse_jsonl(SourceSystem::Station, text, now());
        assert_eq!(v.len(), 3);
        assert_eq!(v[0].0, 1);
        assert!(v[0].1.is_ok());
        assert_eq!(v[1].0, 4);
        assert_eq!(v[1].1.as_ref().unwrap_err().field, "line");
        assert_eq!(
            (v[2].0, v[2].1.as_ref().unwrap_err().field.as_str()),
            (5, "record")
        );
    }

    #[test]
    fn csv_bom_rows_and_errors() {
        let text = "\u{feff}task_id, station ,created_at,task_type,content,address\n\
                    T1,ST01,2026-03-18 09:00:00,矛盾排查,\"两户\n因排水沟争执\",东城街道\n\
                    T2,ST01,2026-03-18 09:00:00\n\
                    T3,ST01,bad,矛盾排查,,东城街道\n";
        let v = parse_csv(SourceSystem::Station, text, now());
        assert_eq!(v.len(), 3);
        let r = v[0].1.as_ref().unwrap();
        assert_eq!(v[0].0, 2);
        assert_eq!(r.source_id, "T1");
        assert_eq!(r.text.as_deref(), Some("两户\n因排水沟争执"));
        assert_eq!(r.raw["station"], "ST01");
        assert_eq!(v[1].0, 4);
        assert_eq!(v[1].1.as_ref().unwrap_err().field, "csv");
        assert_eq!(v[2].0, 5);
        assert_eq!(v[2].1.as_ref().unwrap_err().field, "created_at");

        let crlf = text.replace('\n', "\r\n");
        let w: Vec<usize> = parse_csv(SourceSystem::Station, &crlf, now())
            .iter()
            .map(|(n, _)| *n)
            .collect();
        assert_eq!(w, [2, 4, 5]);

        let dup = parse_csv(SourceSystem::Station, "task_id,task_id\n1,2\n", now());
        assert_eq!(dup.len(), 1);
        assert_eq!(
            (dup[0].0, dup[0].1.as_ref().unwrap_err().field.as_str()),
            (1, "task_id")
        );
        let empty = parse_csv(SourceSystem::Station, "", now());
        assert_eq!(empty[0].1.as_ref().unwrap_err().field, "csv");
        assert!(parse_csv(SourceSystem::Station, "task_id,station\n", now()).is_empty());
    }
}
