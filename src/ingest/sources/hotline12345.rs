//! 12345 政务服务便民热线: one work order (工单) with the Chinese field
//! names of the hotline platform (TAXONOMY §1.2.1).
//!
//! - id `工单编号`; event time `来电时间` if given, else `受理时间` (required).
//! - category: `分类` verbatim; `诉求类型` (咨询/求助/投诉/举报/建议) is checked
//!   and kept in `raw`.
//! - priority: `紧急程度` 特急 → 1, 紧急 → 2, 一般/普通 → 3.
//! - location: `经度`/`纬度`, datum `坐标系`, default **GCJ-02** (the hotline
//!   geocodes addresses with a Chinese map SDK); `事发地址` as address.

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use super::fields::{level, party, require_place, Rec, Result, MAX_ADDRESS, MAX_SHORT, MAX_TEXT};
use super::{Crs, SourceRecord, SourceSystem};

const FIELDS: &[&str] = &[
    "工单编号",
    "来电编号",
    "受理时间",
    "来电时间",
    "事发时间",
    "来电人",
    "来电号码",
    "诉求类型",
    "分类",
    "紧急程度",
    "主要内容",
    "受理备注",
    "事发地址",
    "经度",
    "纬度",
    "坐标系",
    "受理渠道",
    "办理单位",
    "受理员工号",
    "受理员姓名",
    "工单状态",
    "是否保密",
    "是否回复",
    "办结时间",
];

pub const DEFAULT_CRS: Crs = Crs::Gcj02;

/// 紧急程度 → priority.
pub const URGENCY: &[(&str, u8)] = &[("特急", 1), ("紧急", 2), ("一般", 3), ("普通", 3)];

/// Accepted 诉求类型 (the five national types and the merged forms some
/// platforms use).
const REQUEST_TYPES: &[&str] = &[
    "咨询",
    "求助",
    "投诉",
    "举报",
    "建议",
    "投诉举报",
    "意见建议",
    "表扬",
];

pub(super) fn parse(obj: &Map<String, Value>, now: DateTime<Utc>) -> Result<SourceRecord> {
    let r = Rec::new(obj);
    r.only(FIELDS)?;

    let source_id = r.id("工单编号")?;
    let accepted = r.time_req("受理时间", now)?;
    let called = r.time("来电时间", now)?;
    let occurred_at = r.time("事发时间", now)?;
    r.time_any("办结时间")?;

    if let Some(t) = r.text("诉求类型", MAX_SHORT)? {
        if !REQUEST_TYPES.contains(&t.as_str()) {
            return Err(r.err(
                "诉求类型",
                format!(
                    "unknown value {t:?}; expected one of {}",
                    REQUEST_TYPES.join(", ")
                ),
            ));
        }
    }
    r.flag("是否保密")?;
    r.flag("是否回复")?;
    for f in [
        "受理渠道",
        "办理单位",
        "受理员工号",
        "受理员姓名",
        "工单状态",
    ] {
        r.text(f, MAX_SHORT)?;
    }

    let crs = r.crs("坐标系", DEFAULT_CRS)?;
    let location = r.point("经度", "纬度", crs)?;
    let address = r.text("事发地址", MAX_ADDRESS)?;
    require_place(&location, &address, "经度/纬度", "事发地址")?;
    r.text("受理备注", MAX_TEXT)?;

    let mut refs = Map::new();
    if let Some(n) = r.text("来电编号", MAX_SHORT)? {
        if n != source_id {
            refs.insert("来电编号".into(), Value::String(n));
        }
    }

    Ok(SourceRecord {
        source: SourceSystem::Hotline12345,
        source_id,
        source_category: r.text("分类", MAX_SHORT)?,
        occurred_at,
        reported_at: called.unwrap_or(accepted),
        location,
        address,
        text: r.text("主要内容", MAX_TEXT)?,
        priority: level(&r, "紧急程度", URGENCY)?,
        parties: party(
            "caller",
            r.text("来电人", MAX_SHORT)?,
            r.phone("来电号码")?,
            None,
        )
        .into_iter()
        .collect(),
        refs,
        raw: Value::Null,
    })
}

#[cfg(test)]
mod tests {
    use super::super::fields::testing::{now, utc};
    use super::super::{parse_csv, parse_jsonl, parse_record, PartyIn};
    use super::*;
    use serde_json::json;

    const SAMPLE: &str = include_str!("../../../docs/samples/12345.csv");
    const BAD: &str = include_str!("../../../docs/samples/bad/12345.csv");

    #[test]
    fn sample_parses_fully() {
        assert!(
            SAMPLE.starts_with('\u{feff}'),
            "the sample is an Excel-style CSV with a BOM"
        );
        let v = parse_csv(SourceSystem::Hotline12345, SAMPLE, now());
        assert!(v.len() >= 8);
        for (line, r) in &v {
            assert!(r.is_ok(), "row {line}: {r:?}");
        }
        assert_eq!(v[0].0, 2);
        let r = v[0].1.as_ref().unwrap();
        assert_eq!(r.source, SourceSystem::Hotline12345);
        assert_eq!(r.source_id, "HY2603180015");
        assert_eq!(r.reported_at, utc("2026-03-18T00:41:10Z"));
        assert_eq!(
            r.source_category.as_deref(),
            Some("城乡建设/市容环卫/占道经营")
        );
        assert_eq!(r.priority, Some(3));
        let loc = r.location.as_ref().unwrap();
        assert_eq!((loc.lon, loc.lat, loc.crs), (121.2574, 28.6620, Crs::Gcj02));
        assert_eq!(
            r.address.as_deref(),
            Some("黄岩区北城街道翠屏社区劳动北路与天长路交叉口")
        );
        assert_eq!(
            r.parties,
            vec![PartyIn {
                role: "caller".into(),
                name: Some("刘女士".into()),
                phone: Some("13805861234".into()),
                id_no: None
            }]
        );
        assert!(r.text.as_deref().unwrap().starts_with("来电人反映"));
        assert_eq!(r.raw["诉求类型"], "投诉");
        assert_eq!(r.refs["来电编号"], "CALL20260318084105022");
        assert!(v
            .iter()
            .any(|(_, r)| r.as_ref().unwrap().location.is_none()));
        assert!(v.iter().any(|(_, r)| r
            .as_ref()
            .unwrap()
            .location
            .as_ref()
            .is_some_and(|l| l.crs == Crs::Bd09)));
        assert!(v
            .iter()
            .any(|(_, r)| r.as_ref().unwrap().priority == Some(1)));
    }

    #[test]
    fn urgency_and_time_choice() {
        let base = json!({"工单编号":"X1","受理时间":"2026-03-18 09:00:00","事发地址":"院桥镇"});
        let r = parse_record(SourceSystem::Hotline12345, &base, now()).unwrap();
        assert_eq!(
            (r.priority, r.reported_at),
            (None, utc("2026-03-18T01:00:00Z"))
        );
        let mut b = base.clone();
        b["来电时间"] = json!("2026/03/18 08:55");
        b["紧急程度"] = json!("特急");
        let r = parse_record(SourceSystem::Hotline12345, &b, now()).unwrap();
        assert_eq!(
            (r.priority, r.reported_at),
            (Some(1), utc("2026-03-18T00:55:00Z"))
        );
        b["紧急程度"] = json!("很急");
        assert_eq!(
            parse_record(SourceSystem::Hotline12345, &b, now())
                .unwrap_err()
                .field,
            "紧急程度"
        );
    }

    #[test]
    fn malformed_rows_name_the_field() {
        let v = parse_csv(SourceSystem::Hotline12345, BAD, now());
        let got: Vec<(usize, String)> = v
            .iter()
            .map(|(n, r)| {
                (
                    *n,
                    r.as_ref().map_or_else(|e| e.field.clone(), |_| "ok".into()),
                )
            })
            .collect();
        let want = [
            (2, "工单编号"),
            (3, "受理时间"),
            (4, "纬度"),
            (5, "location"),
            (6, "受理时间"),
            (7, "紧急程度"),
            (8, "诉求类型"),
            (9, "ok"),
        ];
        assert_eq!(got, want.map(|(n, f)| (n, f.to_string())));
        // the same fields from JSON
        let e = parse_jsonl(SourceSystem::Hotline12345, "{\"工单编号\":\"X\",\"受理时间\":\"2026-03-18 09:00:00\",\"事发地址\":\"x\",\"工单类型\":\"1\"}", now());
        assert_eq!(e[0].1.as_ref().unwrap_err().field, "工单类型");
    }
}
