//! 基层治理四平台 / 基层智治综合应用: one event reported by a grid worker
//! through 掌上基层 (TAXONOMY §1.5).
//!
//! - id `事件编号` (e.g. `XTW202009100301`); event time `上报时间` (required).
//! - category: `事件类型` verbatim (矛盾纠纷, 安全隐患, 治安隐患, 环境卫生 …).
//! - priority: `事件级别` 一级事件 → 2, 二级事件 → 3, 三级事件 → 4.
//! - location: `经度`/`纬度`, datum `坐标系`, default **WGS-84** (the 掌上基层
//!   app reports the phone's GPS fix); `排查地点` as address.
//! - parties: `上报人` (+ `上报人电话`) as `reporter`; for dispute screening
//!   events `纠纷方名称`/`纠纷方电话` as `party`.
//! - refs: `网格编码` and `所属组织` (village / grid), for jurisdiction joins.

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use super::fields::{level, party, require_place, Rec, Result, MAX_ADDRESS, MAX_SHORT, MAX_TEXT};
use super::{Crs, SourceRecord, SourceSystem};

const FIELDS: &[&str] = &[
    "事件编号",
    "上报时间",
    "事件描述",
    "所属组织",
    "事件级别",
    "事件类型",
    "上报人",
    "上报人电话",
    "网格编码",
    "经度",
    "纬度",
    "坐标系",
    "排查地点",
    "排查时间",
    "纠纷类型",
    "纠纷方名称",
    "纠纷方电话",
    "状态",
];

pub const DEFAULT_CRS: Crs = Crs::Wgs84;

/// 事件级别 → priority.
pub const LEVELS: &[(&str, u8)] = &[
    ("一级事件", 2),
    ("一级", 2),
    ("二级事件", 3),
    ("二级", 3),
    ("三级事件", 4),
    ("三级", 4),
];

pub(super) fn parse(obj: &Map<String, Value>, now: DateTime<Utc>) -> Result<SourceRecord> {
    let r = Rec::new(obj);
    r.only(FIELDS)?;

    let source_id = r.id("事件编号")?;
    let reported_at = r.time_req("上报时间", now)?;
    r.time("排查时间", now)?;
    for f in ["纠纷类型", "状态"] {
        r.text(f, MAX_SHORT)?;
    }

    let crs = r.crs("坐标系", DEFAULT_CRS)?;
    let location = r.point("经度", "纬度", crs)?;
    let address = r.text("排查地点", MAX_ADDRESS)?;
    require_place(&location, &address, "经度/纬度", "排查地点")?;

    let mut parties: Vec<_> = party(
        "reporter",
        r.text("上报人", MAX_SHORT)?,
        r.phone("上报人电话")?,
        None,
    )
    .into_iter()
    .collect();
    parties.extend(party(
        "party",
        r.text("纠纷方名称", MAX_SHORT)?,
        r.phone("纠纷方电话")?,
        None,
    ));

    let mut refs = Map::new();
    if let Some(code) = r.text("网格编码", MAX_SHORT)? {
        if !code.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(r.err(
                "网格编码",
                format!("must be letters and digits, got {code:?}"),
            ));
        }
        refs.insert("网格编码".into(), Value::String(code));
    }
    if let Some(org) = r.text("所属组织", MAX_SHORT)? {
        refs.insert("所属组织".into(), Value::String(org));
    }

    Ok(SourceRecord {
        source: SourceSystem::Grid,
        source_id,
        source_category: r.text("事件类型", MAX_SHORT)?,
        occurred_at: None,
        reported_at,
        location,
        address,
        text: r.text("事件描述", MAX_TEXT)?,
        priority: level(&r, "事件级别", LEVELS)?,
        parties,
        refs,
        raw: Value::Null,
    })
}

#[cfg(test)]
mod tests {
    use super::super::fields::testing::{now, utc};
    use super::super::{parse_csv, PartyIn};
    use super::*;

    const SAMPLE: &str = include_str!("../../../docs/samples/grid.csv");
    const BAD: &str = include_str!("../../../docs/samples/bad/grid.csv");

    #[test]
    fn sample_parses_fully() {
        let v = parse_csv(SourceSystem::Grid, SAMPLE, now());
        assert!(v.len() >= 8);
        for (line, r) in &v {
            assert!(r.is_ok(), "row {line}: {r:?}");
        }
        let r = v[0].1.as_ref().unwrap();
        assert_eq!(r.source_id, "XTW202603180301");
        assert_eq!(r.reported_at, utc("2026-03-18T02:16:00Z"));
        assert_eq!(r.source_category.as_deref(), Some("矛盾纠纷"));
        assert_eq!(r.priority, Some(3));
        let loc = r.location.as_ref().unwrap();
        assert_eq!(
            (loc.lon, loc.lat, loc.crs),
            (121.229452, 28.565697, Crs::Wgs84)
        );
        assert_eq!(r.address.as_deref(), Some("院桥镇沙门店村村委会西侧"));
        assert_eq!(
            r.parties,
            vec![
                PartyIn {
                    role: "reporter".into(),
                    name: Some("郑海燕".into()),
                    phone: Some("13625861470".into()),
                    id_no: None
                },
                PartyIn {
                    role: "party".into(),
                    name: Some("蒋友根等6户村民".into()),
                    phone: Some("13506562871".into()),
                    id_no: None
                },
            ]
        );
        assert_eq!(r.refs["网格编码"], "331003107202");
        assert_eq!(r.refs["所属组织"], "沙门店村委会");
        assert!(v
            .iter()
            .any(|(_, r)| r.as_ref().unwrap().priority == Some(2)));
        assert!(v
            .iter()
            .any(|(_, r)| r.as_ref().unwrap().location.is_none()));
    }

    #[test]
    fn malformed_rows_name_the_field() {
        let v = parse_csv(SourceSystem::Grid, BAD, now());
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
            (2, "事件编号"),
            (3, "上报时间"),
            (4, "纬度"),
            (5, "location"),
            (6, "上报时间"),
            (7, "事件级别"),
            (8, "坐标系"),
            (9, "ok"),
        ];
        assert_eq!(got, want.map(|(n, f)| (n, f.to_string())));
    }
}
