//! 信访: one petition (信访件) as registered in the 信访信息系统
//! (TAXONOMY §1.3, 信访工作条例 2022).
//!
//! - id `信访件编号`; event time `登记时间` (required).
//! - category: `信访类别` verbatim (建议意见类 / 检举控告类 / 申诉求决类 …).
//! - address `问题属地` (where the matter arose); optional `经度`/`纬度`,
//!   datum `坐标系`, default **GCJ-02**.
//! - priority: `人数` ≥ 5 (集体访) → 2; otherwise a repeated petition
//!   (`是否重复信访` = 是) → 3; otherwise none (the statutory 60-day track).
//! - party: the `petitioner` (`信访人`, `联系电话`, `身份证号`).
//! - refs: `原信访件编号` (the first petition of a repeated one).

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use super::fields::{party, require_place, Rec, Result, MAX_ADDRESS, MAX_SHORT, MAX_TEXT};
use super::{Crs, SourceRecord, SourceSystem};

const FIELDS: &[&str] = &[
    "信访件编号",
    "原信访件编号",
    "登记时间",
    "信访人",
    "联系电话",
    "身份证号",
    "信访形式",
    "信访类别",
    "问题属地",
    "信访事项",
    "人数",
    "是否重复信访",
    "经度",
    "纬度",
    "坐标系",
    "信访目的",
    "信访来源",
    "承办部门",
    "事项状态",
    "诉求阶段",
];

pub const DEFAULT_CRS: Crs = Crs::Gcj02;

/// Group size from which a petition is a 集体访 (group petition).
pub const GROUP_SIZE: u64 = 5;

/// The channels of 条例 Art 17, in the names the systems use.
const FORMS: &[&str] = &[
    "网上",
    "网上信访",
    "来信",
    "来电",
    "来访",
    "走访",
    "传真",
    "电子邮件",
];

pub(super) fn parse(obj: &Map<String, Value>, now: DateTime<Utc>) -> Result<SourceRecord> {
    let r = Rec::new(obj);
    r.only(FIELDS)?;

    let source_id = r.id("信访件编号")?;
    let reported_at = r.time_req("登记时间", now)?;
    if let Some(f) = r.text("信访形式", MAX_SHORT)? {
        if !FORMS.contains(&f.as_str()) {
            return Err(r.err(
                "信访形式",
                format!("unknown value {f:?}; expected one of {}", FORMS.join(", ")),
            ));
        }
    }
    for f in ["信访目的", "信访来源", "承办部门", "事项状态", "诉求阶段"] {
        r.text(f, MAX_SHORT)?;
    }

    let crs = r.crs("坐标系", DEFAULT_CRS)?;
    let location = r.point("经度", "纬度", crs)?;
    let address = r.text("问题属地", MAX_ADDRESS)?;
    require_place(&location, &address, "经度/纬度", "问题属地")?;

    let people = r.uint("人数")?;
    if people == Some(0) {
        return Err(r.err("人数", "must be at least 1"));
    }
    let repeated = r.flag("是否重复信访")?.unwrap_or(false);
    let priority = if people.is_some_and(|n| n >= GROUP_SIZE) {
        Some(2)
    } else if repeated {
        Some(3)
    } else {
        None
    };

    let mut refs = Map::new();
    if let Some(first) = r.text("原信访件编号", MAX_SHORT)? {
        refs.insert("原信访件编号".into(), Value::String(first));
    }

    Ok(SourceRecord {
        source: SourceSystem::Petition,
        source_id,
        source_category: r.text("信访类别", MAX_SHORT)?,
        occurred_at: None,
        reported_at,
        location,
        address,
        text: r.text("信访事项", MAX_TEXT)?,
        priority,
        parties: party(
            "petitioner",
            r.text("信访人", MAX_SHORT)?,
            r.phone("联系电话")?,
            r.id_no("身份证号")?,
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
    use super::super::{parse_jsonl, parse_record, PartyIn};
    use super::*;
    use serde_json::json;

    const SAMPLE: &str = include_str!("../../../docs/samples/xinfang.jsonl");
    const BAD: &str = include_str!("../../../docs/samples/bad/xinfang.jsonl");

    #[test]
    fn sample_parses_fully() {
        let v = parse_jsonl(SourceSystem::Petition, SAMPLE, now());
        assert!(v.len() >= 6);
        for (line, r) in &v {
            assert!(r.is_ok(), "line {line}: {r:?}");
        }
        let r = v[0].1.as_ref().unwrap();
        assert_eq!(r.source_id, "XF331003202603150021");
        assert_eq!(r.reported_at, utc("2026-03-15T01:20:00Z"));
        assert_eq!(r.source_category.as_deref(), Some("申诉求决类"));
        assert_eq!(r.priority, Some(2));
        assert_eq!(r.location, None);
        assert_eq!(r.address.as_deref(), Some("黄岩区院桥镇沙门店村"));
        assert_eq!(
            r.parties,
            vec![PartyIn {
                role: "petitioner".into(),
                name: Some("蒋友根".into()),
                phone: Some("13506562871".into()),
                id_no: Some("331003196208153115".into()),
            }]
        );
        assert!(r.text.as_deref().unwrap().contains("征地补偿"));
        assert!(v
            .iter()
            .any(|(_, r)| r.as_ref().unwrap().refs.contains_key("原信访件编号")));
        assert!(v
            .iter()
            .any(|(_, r)| r.as_ref().unwrap().location.is_some()));
    }

    #[test]
    fn priority_rule() {
        let base = json!({"信访件编号":"X","登记时间":"2026-03-15 09:20:00","问题属地":"东城街道"});
        let p = |extra: Value| {
            let mut b = base.clone();
            b.as_object_mut()
                .unwrap()
                .extend(extra.as_object().unwrap().clone());
            parse_record(SourceSystem::Petition, &b, now()).map(|r| r.priority)
        };
        assert_eq!(p(json!({})), Ok(None));
        assert_eq!(p(json!({"人数":"4"})), Ok(None));
        assert_eq!(p(json!({"人数":5})), Ok(Some(2)));
        assert_eq!(p(json!({"是否重复信访":"是"})), Ok(Some(3)));
        assert_eq!(p(json!({"人数":12,"是否重复信访":"是"})), Ok(Some(2)));
        assert_eq!(p(json!({"人数":0})).unwrap_err().field, "人数");
        assert_eq!(
            p(json!({"是否重复信访":"可能"})).unwrap_err().field,
            "是否重复信访"
        );
    }

    #[test]
    fn malformed_records_name_the_field() {
        let v = parse_jsonl(SourceSystem::Petition, BAD, now());
        let fields: Vec<String> = v
            .iter()
            .map(|(_, r)| r.as_ref().map_or_else(|e| e.field.clone(), |_| "ok".into()))
            .collect();
        assert_eq!(
            fields,
            [
                "信访件编号",
                "登记时间",
                "纬度",
                "location",
                "登记时间",
                "信访形式",
                "身份证号",
                "ok"
            ]
        );
    }
}
