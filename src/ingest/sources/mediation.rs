//! 矛调平台 (county 社会矛盾纠纷调处化解中心): one dispute case
//! (TAXONOMY §1.4).
//!
//! - id `case_no`; event time `受理时间` (required); `发生时间` → occurred_at.
//! - category: `纠纷类型` verbatim (人民调解 types: 婚姻家庭, 邻里, 房屋宅基地,
//!   合同, 生产经营, 损害赔偿, 山林土地, 征地拆迁, 环境污染, 劳动争议, 医疗,
//!   道路交通事故, 物业, 消费, 旅游, 电子商务, 拖欠农民工工资, 其他 …).
//! - address `纠纷地点`; `经度`/`纬度`, datum `坐标系`, default **GCJ-02**.
//! - priority: `风险等级` 高 → 2, 中 → 3, 低 → 4 (`高风险` etc. too).
//! - parties: `当事人`, an array of `{姓名, 电话, 身份证号, 角色}` → role
//!   `party` (the native 角色, e.g. 申请人/被申请人, stays in `raw`). In CSV
//!   the cell holds the array as JSON text.
//! - refs: `关联编号` (the 110 接警单 / 12345 工单 / 信访件 that referred it).

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use super::fields::{level, party, require_place, Rec, Result, MAX_ADDRESS, MAX_SHORT, MAX_TEXT};
use super::{Crs, PartyIn, SourceRecord, SourceSystem};

const FIELDS: &[&str] = &[
    "case_no",
    "受理时间",
    "发生时间",
    "纠纷类型",
    "纠纷基本情况",
    "纠纷地点",
    "当事人",
    "调解组织",
    "调解员",
    "经度",
    "纬度",
    "坐标系",
    "风险等级",
    "案件来源",
    "调解状态",
    "关联编号",
];

const PARTY_FIELDS: &[&str] = &["姓名", "电话", "身份证号", "角色"];

/// Most parties read from one case.
pub const MAX_PARTIES: usize = 50;

pub const DEFAULT_CRS: Crs = Crs::Gcj02;

/// 风险等级 → priority.
pub const RISK: &[(&str, u8)] = &[
    ("高", 2),
    ("高风险", 2),
    ("中", 3),
    ("中风险", 3),
    ("低", 4),
    ("低风险", 4),
];

pub(super) fn parse(obj: &Map<String, Value>, now: DateTime<Utc>) -> Result<SourceRecord> {
    let r = Rec::new(obj);
    r.only(FIELDS)?;

    let source_id = r.id("case_no")?;
    let reported_at = r.time_req("受理时间", now)?;
    let occurred_at = r.time("发生时间", now)?;
    for f in ["调解组织", "调解员", "案件来源", "调解状态"] {
        r.text(f, MAX_SHORT)?;
    }

    let crs = r.crs("坐标系", DEFAULT_CRS)?;
    let location = r.point("经度", "纬度", crs)?;
    let address = r.text("纠纷地点", MAX_ADDRESS)?;
    require_place(&location, &address, "经度/纬度", "纠纷地点")?;

    let mut parties = Vec::new();
    if let Some(items) = r.array("当事人")? {
        if items.len() > MAX_PARTIES {
            return Err(r.err(
                "当事人",
                format!("at most {MAX_PARTIES} parties, got {}", items.len()),
            ));
        }
        for (i, item) in items.iter().enumerate() {
            parties.extend(one_party(&r, i, item)?);
        }
    }

    let mut refs = Map::new();
    if let Some(id) = r.text("关联编号", MAX_SHORT)? {
        refs.insert("关联编号".into(), Value::String(id));
    }

    Ok(SourceRecord {
        source: SourceSystem::Mediation,
        source_id,
        source_category: r.text("纠纷类型", MAX_SHORT)?,
        occurred_at,
        reported_at,
        location,
        address,
        text: r.text("纠纷基本情况", MAX_TEXT)?,
        priority: level(&r, "风险等级", RISK)?,
        parties,
        refs,
        raw: Value::Null,
    })
}

fn one_party(r: &Rec, i: usize, item: &Value) -> Result<Option<PartyIn>> {
    let at = format!("当事人[{i}]");
    let obj = item
        .as_object()
        .ok_or_else(|| r.err(&at, "must be an object {姓名, 电话, 身份证号, 角色}"))?;
    let p = Rec::nested(obj, r.path(&format!("{at}.")));
    p.only(PARTY_FIELDS)?;
    p.text("角色", MAX_SHORT)?;
    Ok(party(
        "party",
        p.text("姓名", MAX_SHORT)?,
        p.phone("电话")?,
        p.id_no("身份证号")?,
    ))
}

#[cfg(test)]
mod tests {
    use super::super::fields::testing::{now, utc};
    use super::super::{parse_csv, parse_jsonl, parse_record};
    use super::*;
    use serde_json::json;

    const SAMPLE: &str = include_str!("../../../docs/samples/maodiao.jsonl");
    const BAD: &str = include_str!("../../../docs/samples/bad/maodiao.jsonl");

    #[test]
    fn sample_parses_fully() {
        let v = parse_jsonl(SourceSystem::Mediation, SAMPLE, now());
        assert!(v.len() >= 6);
        for (line, r) in &v {
            assert!(r.is_ok(), "line {line}: {r:?}");
        }
        let r = v[0].1.as_ref().unwrap();
        assert_eq!(r.source_id, "MD-HY-2026-0318-004");
        assert_eq!(r.reported_at, utc("2026-03-18T01:30:00Z"));
        assert_eq!(r.occurred_at, Some(utc("2026-03-17T10:00:00Z")));
        assert_eq!(r.source_category.as_deref(), Some("邻里"));
        assert_eq!(r.priority, Some(3));
        let loc = r.location.as_ref().unwrap();
        assert_eq!((loc.lon, loc.lat, loc.crs), (121.2854, 28.6386, Crs::Gcj02));
        assert_eq!(
            r.parties,
            vec![
                PartyIn {
                    role: "party".into(),
                    name: Some("罗小平".into()),
                    phone: Some("13958612047".into()),
                    id_no: Some("331003197603212212".into()),
                },
                PartyIn {
                    role: "party".into(),
                    name: Some("潘建军".into()),
                    phone: Some("13706561178".into()),
                    id_no: None,
                },
            ]
        );
        assert_eq!(r.refs["关联编号"], "331003202603171988");
        assert!(v
            .iter()
            .any(|(_, r)| r.as_ref().unwrap().location.is_none()));
    }

    #[test]
    fn parties_in_a_csv_cell_and_party_errors() {
        let csv = "case_no,受理时间,纠纷类型,纠纷地点,当事人,风险等级\n\
                   MD1,2026-03-18 09:30,婚姻家庭,院桥镇,\"[{\"\"姓名\"\":\"\"张三\"\",\"\"电话\"\":\"\"13800000000\"\"}]\",高\n";
        let v = parse_csv(SourceSystem::Mediation, csv, now());
        let r = v[0].1.as_ref().unwrap();
        assert_eq!(r.parties[0].name.as_deref(), Some("张三"));
        assert_eq!(r.priority, Some(2));

        let base = json!({"case_no":"M","受理时间":"2026-03-18 09:30","纠纷地点":"x",
                          "当事人":[{"姓名":"甲"},{"姓名":"乙","电话":"打不通"}]});
        let e = parse_record(SourceSystem::Mediation, &base, now()).unwrap_err();
        assert_eq!(e.field, "当事人[1].电话");
        let mut b = base.clone();
        b["当事人"] = json!([{"名字":"甲"}]);
        assert_eq!(
            parse_record(SourceSystem::Mediation, &b, now())
                .unwrap_err()
                .field,
            "当事人[0].名字"
        );
        b["当事人"] = json!(["甲"]);
        assert_eq!(
            parse_record(SourceSystem::Mediation, &b, now())
                .unwrap_err()
                .field,
            "当事人[0]"
        );
        b["当事人"] = json!("甲");
        assert_eq!(
            parse_record(SourceSystem::Mediation, &b, now())
                .unwrap_err()
                .field,
            "当事人"
        );
    }

    #[test]
    fn malformed_records_name_the_field() {
        let v = parse_jsonl(SourceSystem::Mediation, BAD, now());
        let fields: Vec<String> = v
            .iter()
            .map(|(_, r)| r.as_ref().map_or_else(|e| e.field.clone(), |_| "ok".into()))
            .collect();
        assert_eq!(
            fields,
            [
                "case_no",
                "受理时间",
                "经度",
                "location",
                "受理时间",
                "风险等级",
                "当事人[0].身份证号",
                "ok"
            ]
        );
    }
}
