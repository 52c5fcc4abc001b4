//! 110 接处警: one 接警单 as exported from the BF_110 table, with its
//! abbreviated column names as JSON keys (TAXONOMY §1.1).
//!
//! - id `JJDBH`; event time `BJSJ` (报警时间); `AFSJ` (案发时间) → occurred_at.
//! - location: terminal fix `ZDDWXZB`/`ZDDWYZB` (X = lon, Y = lat) preferred
//!   over the dispatcher's manual fix `SDDWXZB`/`SDDWYZB`; default datum
//!   **GCJ-02** (the 110 GIS is built on a Chinese map SDK), `crs` overrides.
//! - category: the most specific of `BJXL` > `BJLX` > `BJLB` (6-digit codes).
//! - priority: `JQJB` 警情级别 1–4 taken as is (一级 = 1 = most urgent).
//! - parties: the caller (`BJRXM`, `BJDH`, `SFZH`); a different contact
//!   number `LXDH` is a second `caller` entry so both can be linked.

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use super::fields::{
    join_text, party, require_place, Rec, Result, MAX_ADDRESS, MAX_SHORT, MAX_TEXT,
};
use super::{Crs, SourceRecord, SourceSystem};

/// Columns read and mapped.
const MAPPED: &[&str] = &[
    "JJDBH", "GLJJDBH", "BJSJ", "JJSJ", "AFSJ", "BJDH", "BJRXM", "LXDH", "SFZH", "SFDZ", "ZDDWXZB",
    "ZDDWYZB", "SDDWXZB", "SDDWYZB", "BJNR", "BCJJNR", "BJLB", "BJLX", "BJXL", "JQJB", "SSRS",
    "SWRS", "BKRS", "GXDWBH", "JJLYH", "crs",
];

/// Other BF_110 columns: accepted (kept in `raw`), times format-checked.
const KEPT: &[&str] = &[
    "XZQHBH", "JJDWBH", "LHLXBH", "BJFSBH", "JJYBH", "JJYXM", "JJTBH", "JJTIP", "HRSJ", "HZSJ",
    "JJSC", "BJDHYHXM", "BJDHYHDZ", "BJRXB", "HMGSD", "YWWXWZ", "YWBZXL", "YWBKRY", "SFSW", "CJYJ",
    "FKQK", "AJZT", "SFBG", "BGAJBH", "GXSJ", "GXRXM",
];

pub const DEFAULT_CRS: Crs = Crs::Gcj02;

pub(super) fn parse(obj: &Map<String, Value>, now: DateTime<Utc>) -> Result<SourceRecord> {
    let r = Rec::new(obj);
    let known: Vec<&str> = MAPPED.iter().chain(KEPT).copied().collect();
    r.only(&known)?;

    let source_id = r.id("JJDBH")?;
    let reported_at = r.time_req("BJSJ", now)?;
    r.time("JJSJ", now)?;
    let occurred_at = r.time("AFSJ", now)?;
    for f in ["HRSJ", "HZSJ", "GXSJ"] {
        r.time_any(f)?;
    }

    let crs = r.crs("crs", DEFAULT_CRS)?;
    let location = match r.point("ZDDWXZB", "ZDDWYZB", crs)? {
        Some(p) => Some(p),
        None => r.point("SDDWXZB", "SDDWYZB", crs)?,
    };
    let address = r.text("SFDZ", MAX_ADDRESS)?;
    require_place(
        &location,
        &address,
        "ZDDWXZB/ZDDWYZB or SDDWXZB/SDDWYZB",
        "SFDZ",
    )?;

    let mut category = None;
    for f in ["BJLB", "BJLX", "BJXL"] {
        if let Some(code) = r.text(f, MAX_SHORT)? {
            if code.len() != 6 || !code.bytes().all(|b| b.is_ascii_digit()) {
                return Err(r.err(
                    f,
                    format!("must be a 6-digit 110 code (e.g. 200101), got {code:?}"),
                ));
            }
            category = Some(code); // later (more specific) levels win
        }
    }

    let priority = match r.text("JQJB", MAX_SHORT)? {
        None => None,
        Some(s) => Some(match s.trim_start_matches('0') {
            "1" | "一级" => 1,
            "2" | "二级" => 2,
            "3" | "三级" => 3,
            "4" | "四级" => 4,
            _ => {
                return Err(r.err(
                    "JQJB",
                    format!("警情级别 must be 1 to 4 (or 一级…四级), got {s:?}"),
                ))
            }
        }),
    };

    let text = join_text(&[
        r.text("BJNR", MAX_TEXT)?,
        r.text("BCJJNR", MAX_TEXT)?.map(|s| format!("补充：{s}")),
    ]);

    let name = r.text("BJRXM", MAX_SHORT)?;
    let bjdh = r.phone("BJDH")?;
    let lxdh = r.phone("LXDH")?;
    let mut parties: Vec<_> = party("caller", name.clone(), bjdh.clone(), r.id_no("SFZH")?)
        .into_iter()
        .collect();
    if lxdh.is_some() && lxdh != bjdh {
        parties.extend(party("caller", name, lxdh, None));
    }

    let mut refs = Map::new();
    for f in ["GLJJDBH", "GXDWBH", "JJLYH"] {
        if let Some(v) = r.text(f, MAX_SHORT)? {
            refs.insert(f.into(), Value::String(v));
        }
    }
    for f in ["SSRS", "SWRS", "BKRS"] {
        if let Some(n) = r.uint(f)? {
            refs.insert(f.into(), Value::from(n));
        }
    }

    Ok(SourceRecord {
        source: SourceSystem::Police110,
        source_id,
        source_category: category,
        occurred_at,
        reported_at,
        location,
        address,
        text,
        priority,
        parties,
        refs,
        raw: Value::Null,
    })
}

#[cfg(test)]
mod tests {
    use super::super::fields::testing::{now, utc};
    use super::super::{parse_body, parse_jsonl, parse_record, PartyIn};
    use super::*;
    use serde_json::json;

    const SAMPLE: &str = include_str!("../../../docs/samples/110.jsonl");
    const BAD: &str = include_str!("../../../docs/samples/bad/110.jsonl");

    #[test]
    fn sample_parses_fully() {
        let v = parse_jsonl(SourceSystem::Police110, SAMPLE, now());
        assert!(v.len() >= 8);
        for (line, r) in &v {
            assert!(r.is_ok(), "line {line}: {r:?}");
        }
        let r = v[0].1.as_ref().unwrap();
        assert_eq!(r.source, SourceSystem::Police110);
        assert_eq!(r.source_id, "331003202603180001");
        assert_eq!(r.reported_at, utc("2026-03-18T00:12:35Z"));
        assert_eq!(r.occurred_at, Some(utc("2026-03-18T00:05:00Z")));
        let loc = r.location.as_ref().unwrap();
        assert_eq!(
            (loc.lon, loc.lat, loc.crs),
            (121.273412, 28.647905, Crs::Gcj02)
        );
        assert_eq!(
            r.address.as_deref(),
            Some("台州市黄岩区东城街道百花社区劳动北路118号")
        );
        assert_eq!(r.source_category.as_deref(), Some("200101"));
        assert_eq!(r.priority, Some(2));
        assert_eq!(
            r.text.as_deref(),
            Some("报警人称在百花社区劳动北路118号楼下有两名男子持械打架，其中一人头部流血。\n补充：现场已无人持械，伤者意识清醒。")
        );
        assert_eq!(
            r.parties,
            vec![
                PartyIn {
                    role: "caller".into(),
                    name: Some("王建华".into()),
                    phone: Some("13857601234".into()),
                    id_no: Some("331003198507152314".into()),
                },
                PartyIn {
                    role: "caller".into(),
                    name: Some("王建华".into()),
                    phone: Some("13906561234".into()),
                    id_no: None,
                },
            ]
        );
        assert_eq!(r.refs["GXDWBH"], "331003510000");
        assert_eq!(r.refs["SSRS"], 1);
        assert_eq!(r.raw["JJDBH"], "331003202603180001");
        // the address-only record, the manual fix and the linked record
        let addr_only: Vec<_> = v
            .iter()
            .filter_map(|(_, r)| r.as_ref().ok())
            .filter(|r| r.location.is_none())
            .collect();
        assert!(!addr_only.is_empty());
        assert!(v
            .iter()
            .any(|(_, r)| r.as_ref().unwrap().refs.contains_key("GLJJDBH")));
    }

    #[test]
    fn terminal_fix_preferred_and_manual_fallback() {
        let base = json!({"JJDBH":"A1","BJSJ":"20260318081235","SFDZ":"院桥镇",
            "ZDDWXZB":"121.27","ZDDWYZB":"28.55","SDDWXZB":121.28,"SDDWYZB":28.56});
        let r = parse_record(SourceSystem::Police110, &base, now()).unwrap();
        assert_eq!(r.location.as_ref().map(|l| l.lon), Some(121.27));
        let mut b = base.clone();
        b["ZDDWXZB"] = json!("");
        b["ZDDWYZB"] = json!("");
        let r = parse_record(SourceSystem::Police110, &b, now()).unwrap();
        assert_eq!(r.location.as_ref().map(|l| l.lon), Some(121.28));
        b["crs"] = json!("BD-09");
        let r = parse_record(SourceSystem::Police110, &b, now()).unwrap();
        assert_eq!(r.location.unwrap().crs, Crs::Bd09);
        assert_eq!(r.reported_at, utc("2026-03-18T00:12:35Z"));
        assert!(r.parties.is_empty());
    }

    #[test]
    fn malformed_records_name_the_field() {
        let v = parse_jsonl(SourceSystem::Police110, BAD, now());
        let fields: Vec<String> = v
            .iter()
            .map(|(_, r)| r.as_ref().map_or_else(|e| e.field.clone(), |_| "ok".into()))
            .collect();
        assert_eq!(
            fields,
            [
                "JJDBH", "BJSJ", "ZDDWYZB", "location", "BJSJ", "JQJB", "BJXL", "SFZH", "ZDDWYZB",
                "BJDH", "CZSJ", "ok"
            ]
        );
        let future = v[4].1.as_ref().unwrap_err();
        assert!(future.reason.contains("future"), "{}", future.reason);
    }

    #[test]
    fn bad_lines_do_not_stop_the_rest() {
        let text = format!(
            "{}\n{{\"JJDBH\":\"\"}}\n{}",
            SAMPLE.lines().next().unwrap(),
            SAMPLE.lines().nth(1).unwrap()
        );
        let v = parse_jsonl(SourceSystem::Police110, &text, now());
        assert!(v[0].1.is_ok() && v[1].1.is_err() && v[2].1.is_ok());
        let body: Vec<Value> = SAMPLE
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        let all = parse_body(SourceSystem::Police110, &Value::Array(body), now()).unwrap();
        assert!(all.iter().all(Result::is_ok));
    }
}
