//! Mapping of the source systems' own category codes to taxonomy leaves.
//!
//! * 110 (`"110"`, also `"eido"`/`"station"` when numeric): the vendor code
//!   table BJLXDMB (TAXONOMY.md §1.1) via the `S1 …` entries of the
//!   taxonomy.csv `source` column (ranges like `650100-659900` included),
//!   plus the vendor codes not listed there. An unlisted 6-digit code falls
//!   back to its `XXXX00` parent, then to its 2-digit group's typical leaf.
//! * 12345 分类, 矛调 纠纷类型, 信访 类别, 四平台 事件类型, sensor alarm types,
//!   station task types: name tables below. Names match with or without
//!   the suffixes 纠纷/类/问题/事件/事项 (`邻里` = `邻里纠纷`), ASCII
//!   case-insensitive; `a/b` paths are tried from the most specific part.
//!
//! Some categories only pin the group (四平台 "矛盾纠纷" → 07, 信访
//! "申诉求决类" → 12); [`source_group_hint`] returns those, and the
//! classifier then picks the best leaf of that group with the text model.

use std::collections::HashMap;
use std::sync::OnceLock;

use super::taxonomy::TAXONOMY_CSV;

/// 110 codes not given in taxonomy.csv (vendor table §1.1).
const EXTRA_110: &[(&str, &str)] = &[
    ("101600", "01.10"), // 恐怖活动
    ("101900", "01.10"), // 假币
    ("201700", "01.06"), // 强迫交易
    ("209900", "02.02"), // 治安 其它
    ("300600", "14.01"), // 交通保障
    ("600300", "08.02"), // 劳动保障
];

/// Typical leaf of a 2-digit 110 group, for unlisted codes.
const PREFIX_110: &[(&str, &str)] = &[
    ("10", "01.10"),
    ("20", "02.02"),
    ("30", "03.01"),
    ("40", "04.02"),
    ("50", "05.07"),
    ("60", "14.05"),
    ("65", "14.01"),
    ("70", "06.01"),
    ("90", "13.01"),
    ("95", "13.02"),
];

const T_12345: &[(&str, &str)] = &[
    ("噪音扰民", "02.08"),
    ("噪声扰民", "02.08"),
    ("生活噪音", "02.08"),
    ("社会生活噪声", "02.08"),
    ("施工噪音", "10.03"),
    ("施工噪声", "10.03"),
    ("建筑施工噪声", "10.03"),
    ("夜间施工", "10.03"),
    ("工业噪声", "10.04"),
    ("商业噪声", "10.04"),
    ("经营噪音", "10.04"),
    ("占道经营", "10.02"),
    ("流动摊贩", "10.02"),
    ("违规广告", "10.02"),
    ("户外广告", "10.02"),
    ("乱张贴", "10.02"),
    ("市容市貌", "10.02"),
    ("市容环境", "10.02"),
    ("违章建筑", "10.01"),
    ("违法建设", "10.01"),
    ("违建", "10.01"),
    ("私搭乱建", "10.01"),
    ("劳动保障", "08.02"),
    ("欠薪", "08.02"),
    ("拖欠工资", "08.02"),
    ("讨薪", "08.02"),
    ("劳动保障/欠薪", "08.02"),
    ("拖欠农民工工资", "08.01"),
    ("农民工工资", "08.01"),
    ("劳动争议", "08.03"),
    ("劳动合同", "08.03"),
    ("工伤", "08.03"),
    ("消费投诉", "09.01"),
    ("消费维权", "09.01"),
    ("消费", "09.01"),
    ("商品质量", "09.03"),
    ("产品质量", "09.03"),
    ("假冒伪劣", "09.03"),
    ("食品安全", "09.02"),
    ("药品安全", "09.02"),
    ("食品药品", "09.02"),
    ("无证经营", "09.04"),
    ("无照经营", "09.04"),
    ("价格", "09.04"),
    ("价格投诉", "09.04"),
    ("烟草", "09.05"),
    ("烟草专卖", "09.05"),
    ("物业管理", "11.05"),
    ("物业服务", "11.05"),
    ("住房保障", "11.05"),
    ("路灯", "11.04"),
    ("路灯报修", "11.04"),
    ("市政设施", "11.04"),
    ("井盖", "11.04"),
    ("道路破损", "11.04"),
    ("环境污染", "10.05"),
    ("大气污染", "10.05"),
    ("水污染", "10.05"),
    ("油烟污染", "10.05"),
    ("政策咨询", "11.01"),
    ("咨询", "11.01"),
    ("社会救助", "11.02"),
    ("低保", "11.02"),
    ("养老服务", "11.02"),
    ("社保", "11.03"),
    ("社会保险", "11.03"),
    ("医保", "11.03"),
    ("医疗卫生", "11.03"),
    ("教育", "11.03"),
    ("意见建议", "11.06"),
    ("建议", "11.06"),
    ("表扬", "11.06"),
    ("违章停车", "03.03"),
    ("乱停车", "03.03"),
    ("电信诈骗", "01.05"),
    ("停水", "04.07"),
    ("停电", "04.07"),
    ("供水", "04.07"),
    ("供电", "04.07"),
    ("燃气", "04.07"),
    ("电梯", "04.08"),
    ("电梯故障", "04.08"),
    ("文化市场", "10.07"),
    ("林业", "10.06"),
    ("渔业", "10.06"),
    ("水利", "10.06"),
];

const T_MAODIAO: &[(&str, &str)] = &[
    ("婚姻家庭", "07.01"),
    ("婚姻", "07.01"),
    ("家庭", "07.01"),
    ("邻里", "07.02"),
    ("房屋宅基地", "07.03"),
    ("宅基地", "07.03"),
    ("房屋", "07.03"),
    ("山林土地", "07.04"),
    ("山林", "07.04"),
    ("土地", "07.04"),
    ("土地承包", "07.04"),
    ("征地拆迁", "07.05"),
    ("拆迁", "07.05"),
    ("合同", "07.06"),
    ("生产经营", "07.06"),
    ("债务", "07.06"),
    ("民间借贷", "07.06"),
    ("损害赔偿", "07.07"),
    ("医疗", "07.08"),
    ("医患", "07.08"),
    ("物业", "07.09"),
    ("消费", "07.10"),
    ("旅游", "07.10"),
    ("电子商务", "07.10"),
    ("电商", "07.10"),
    ("劳动争议", "08.03"),
    ("劳动", "08.03"),
    ("拖欠农民工工资", "08.01"),
    ("道路交通事故", "03.05"),
    ("交通事故", "03.05"),
    ("环境污染", "07.11"),
    ("村务管理", "07.12"),
    ("村(社区)务管理", "07.12"),
    ("村（社区）务管理", "07.12"),
    ("村社区务管理", "07.12"),
    ("社区务管理", "07.12"),
    ("村务", "07.12"),
    ("农村三资", "07.12"),
    ("农村\"三资\"", "07.12"),
    ("农村“三资”", "07.12"),
];

const T_XINFANG: &[(&str, &str)] = &[
    ("建议意见", "12.01"),
    ("意见建议", "12.01"),
    ("检举控告", "12.02"),
    ("检举", "12.02"),
    ("控告", "12.02"),
    ("涉法涉诉", "12.03"),
    ("申诉求决·涉法涉诉", "12.03"),
    ("导入行政程序", "12.04"),
    ("申诉求决·导入行政程序", "12.04"),
    ("行政程序", "12.04"),
    ("行政复议", "12.04"),
    ("申诉求决·其他", "12.05"),
    ("复查", "12.06"),
    ("复核", "12.06"),
    ("复查复核", "12.06"),
    ("复查·复核", "12.06"),
    ("违法信访", "12.07"),
    ("缠访闹访", "12.07"),
    ("非正常上访", "12.07"),
    ("集体访", "06.01"),
];

const T_GRID: &[(&str, &str)] = &[
    ("安全隐患", "14.03"),
    ("消防隐患", "14.03"),
    ("安全生产隐患", "14.03"),
    ("治安隐患", "14.03"),
    ("矛盾纠纷排查", "14.03"),
    ("违法建设", "10.01"),
    ("违章建筑", "10.01"),
    ("环境卫生", "10.02"),
    ("市容", "10.02"),
    ("占道经营", "10.02"),
    ("环境污染", "10.05"),
    ("重点人员", "14.02"),
    ("特殊人群", "14.04"),
    ("社区矫正", "14.04"),
    ("安置帮教", "14.04"),
    ("社区戒毒", "14.04"),
    ("食品安全", "09.02"),
];

const T_SENSOR: &[(&str, &str)] = &[
    ("smoke", "04.01"),
    ("smoke_alarm", "04.01"),
    ("fire", "04.01"),
    ("fire_alarm", "04.01"),
    ("烟感", "04.01"),
    ("烟雾", "04.01"),
    ("火警", "04.01"),
    ("gas", "04.07"),
    ("gas_leak", "04.07"),
    ("燃气", "04.07"),
    ("可燃气体", "04.07"),
    ("water_leak", "04.07"),
    ("power_outage", "04.07"),
    ("lift", "04.08"),
    ("elevator", "04.08"),
    ("电梯", "04.08"),
    ("电梯困人", "04.08"),
    ("crowd", "06.01"),
    ("crowd_density", "06.01"),
    ("人群聚集", "06.01"),
    ("intrusion", "01.01"),
    ("周界入侵", "01.01"),
    ("flood", "04.06"),
    ("water_level", "04.06"),
    ("水位", "04.06"),
    ("hazmat", "04.03"),
    ("chemical_leak", "04.03"),
];

const T_STATION: &[(&str, &str)] = &[
    ("重点人员走访", "14.02"),
    ("重点人员", "14.02"),
    ("走访", "14.02"),
    ("矛盾纠纷排查", "14.03"),
    ("隐患排查", "14.03"),
    ("安全检查", "14.03"),
    ("社区矫正", "14.04"),
    ("安置帮教", "14.04"),
    ("社区戒毒", "14.04"),
    ("社区康复", "14.04"),
    ("警务协助", "14.01"),
    ("协助", "14.01"),
    ("分流移交", "14.05"),
    ("非警务", "14.05"),
];

/// Categories that only determine the group.
const GROUP_HINTS: &[(&str, &str, &str)] = &[
    ("grid", "矛盾纠纷", "07"),
    ("grid", "劳动保障", "08"),
    ("station", "矛盾纠纷", "07"),
    ("xinfang", "申诉求决", "12"),
    ("12345", "市场监管", "09"),
    ("12345", "城市管理", "10"),
    ("12345", "综合执法", "10"),
    ("12345", "生态环境", "10"),
    ("12345", "公共服务", "11"),
    ("maodiao", "矛盾纠纷", "07"),
];

const SUFFIXES: &[&str] = &["纠纷", "类", "问题", "事件", "事项", "告警", "报警"];

struct Tables {
    codes_110: HashMap<String, &'static str>,
    ranges_110: Vec<(u32, u32, &'static str)>,
    names: HashMap<(&'static str, String), &'static str>,
}

/// Leaf id strings with `'static` lifetime from the embedded taxonomy.
fn static_leaf(id: &str) -> Option<&'static str> {
    super::taxonomy::Taxonomy::standard()
        .leaf(id)
        .map(|l| l.id.as_str())
}

fn tables() -> &'static Tables {
    static T: OnceLock<Tables> = OnceLock::new();
    T.get_or_init(|| {
        let mut codes_110 = HashMap::new();
        let mut ranges_110 = Vec::new();
        let mut rdr = csv::Reader::from_reader(TAXONOMY_CSV.as_bytes());
        for rec in rdr.records().flatten() {
            let (Some(id), Some(src)) = (rec.get(0), rec.get(8)) else {
                continue;
            };
            let Some(leaf) = static_leaf(id.trim()) else {
                continue;
            };
            for part in src.split(';') {
                let Some(codes) = part.trim().strip_prefix("S1 ") else {
                    continue;
                };
                for code in codes.split(['/', ',', '，']) {
                    let code = code.trim();
                    if let Some((a, b)) = code.split_once('-') {
                        if let (Ok(a), Ok(b)) = (a.trim().parse(), b.trim().parse()) {
                            ranges_110.push((a, b, leaf));
                        }
                    } else if code.len() == 6 && code.bytes().all(|c| c.is_ascii_digit()) {
                        // First listing wins (600500 → 09.01, 601200 → 05.05).
                        codes_110.entry(code.to_string()).or_insert(leaf);
                    }
                }
            }
        }
        for (code, leaf) in EXTRA_110 {
            if let Some(l) = static_leaf(leaf) {
                codes_110.entry((*code).to_string()).or_insert(l);
            }
        }
        let mut names = HashMap::new();
        for (src, table) in [
            ("12345", T_12345),
            ("maodiao", T_MAODIAO),
            ("xinfang", T_XINFANG),
            ("grid", T_GRID),
            ("sensor", T_SENSOR),
            ("station", T_STATION),
        ] {
            for (name, leaf) in table {
                if let Some(l) = static_leaf(leaf) {
                    names.insert((src, canon(name)), l);
                }
            }
        }
        Tables {
            codes_110,
            ranges_110,
            names,
        }
    })
}

/// Canonical form of a category name: trimmed, no whitespace, ASCII
/// lower-case, one known suffix (纠纷/类/…) removed.
fn canon(name: &str) -> String {
    let s: String = name
        .chars()
        .filter(|c| !c.is_whitespace())
        .map(|c| c.to_ascii_lowercase())
        .collect();
    for suf in SUFFIXES {
        if let Some(stem) = s.strip_suffix(suf) {
            if !stem.is_empty() {
                return stem.to_string();
            }
        }
    }
    s
}

fn lookup_110(code: &str) -> Option<&'static str> {
    let t = tables();
    if code.len() != 6 || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if let Some(l) = t.codes_110.get(code) {
        return Some(l);
    }
    let n: u32 = code.parse().ok()?;
    if let Some((_, _, l)) = t.ranges_110.iter().find(|(a, b, _)| (*a..=*b).contains(&n)) {
        return Some(l);
    }
    if let Some(l) = t.codes_110.get(&format!("{}00", &code[..4])) {
        return Some(l);
    }
    PREFIX_110
        .iter()
        .find(|(p, _)| code.starts_with(p))
        .and_then(|(_, l)| static_leaf(l))
}

/// Source systems whose category is looked up, in the order tried when the
/// source is unknown (`None`).
const NAME_SOURCES: &[&str] = &["xinfang", "maodiao", "12345", "grid", "sensor", "station"];

fn name_parts(category: &str) -> Vec<&str> {
    // Most specific (last) path component first, then the others, then the whole.
    let mut parts: Vec<&str> = category
        .split(['/', '>', '|', '\\', '－', '—'])
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .collect();
    parts.reverse();
    if parts.len() > 1 {
        parts.push(category.trim());
    }
    parts
}

/// Map a source system's own category (code or name) to a taxonomy leaf.
///
/// `source`: `"110"`, `"12345"`, `"xinfang"`, `"maodiao"`, `"grid"`,
/// `"station"`, `"sensor"`, `"eido"`, `"sifa"` (uses the 矛调 table) or
/// `None` / `"other"` / anything else (then every table is tried).
/// Returns `None` for unmapped categories (the caller falls back to the text
/// model). Never returns a group-15 (预警) leaf.
pub fn source_code_leaf(source: Option<&str>, source_category: &str) -> Option<&'static str> {
    let cat = source_category.trim();
    if cat.is_empty() {
        return None;
    }
    let src = source.map(|s| s.trim().to_ascii_lowercase());
    let numeric = cat.len() == 6 && cat.bytes().all(|b| b.is_ascii_digit());
    // (110 numeric codes accepted?, name tables to try)
    let (numeric_ok, sources): (bool, Vec<&str>) = match src.as_deref() {
        Some("110") => (true, vec![]),
        Some("eido") => (true, vec!["sensor", "12345"]),
        Some("station") => (true, vec!["station"]),
        // 司法 (judicial bureau) runs people's mediation: 矛调 dispute types.
        Some("sifa") => (false, vec!["maodiao"]),
        Some(s) if NAME_SOURCES.contains(&s) => (false, vec![s]),
        // None, "other" or an unknown system: try everything.
        _ => (true, NAME_SOURCES.to_vec()),
    };
    if numeric {
        return if numeric_ok { lookup_110(cat) } else { None };
    }
    let t = tables();
    for part in name_parts(cat) {
        let key = canon(part);
        for s in &sources {
            if let Some(l) = t.names.get(&(*s, key.clone())) {
                return Some(l);
            }
        }
    }
    leaf_by_name(cat)
}

/// A category that is the name of exactly one text-learnable leaf, or of one
/// `·`-separated part of it with any parenthetical dropped (`盗窃` → 01.01,
/// `诈骗` → 01.04 诈骗（非电信网络）, `邻里纠纷` → 07.02): what a 110 desk or any
/// system that speaks the taxonomy's own words sends.
fn leaf_by_name(category: &str) -> Option<&'static str> {
    static BY_NAME: OnceLock<HashMap<String, Option<&'static str>>> = OnceLock::new();
    let map = BY_NAME.get_or_init(|| {
        let mut m: HashMap<String, Option<&'static str>> = HashMap::new();
        for leaf in super::Taxonomy::standard().learnable_leaves() {
            let id: &'static str = leaf.id.as_str();
            let mut names = vec![leaf.name.clone()];
            for part in leaf.name.split('·') {
                let bare = part.split(['（', '(']).next().unwrap_or(part);
                names.push(part.to_string());
                names.push(bare.to_string());
            }
            names.sort();
            names.dedup();
            for n in names {
                // exact names only (no suffix stripping: 治安纠纷 must not claim 治安)
                let key: String = n.chars().filter(|c| !c.is_whitespace()).collect();
                if key.chars().count() < 2 {
                    continue;
                }
                // a name shared by two leaves decides nothing
                m.entry(key)
                    .and_modify(|v| {
                        if *v != Some(id) {
                            *v = None
                        }
                    })
                    .or_insert(Some(id));
            }
        }
        m
    });
    let key: String = category.chars().filter(|c| !c.is_whitespace()).collect();
    map.get(&key).copied().flatten()
}

/// A group id implied by a category that does not pin a leaf (四平台
/// "矛盾纠纷" → `"07"`). `None` if the category maps to a leaf or nothing.
pub fn source_group_hint(source: Option<&str>, source_category: &str) -> Option<&'static str> {
    let src = source.map(|s| match s.trim().to_ascii_lowercase().as_str() {
        "sifa" => "maodiao".to_string(),
        x => x.to_string(),
    });
    let known = |x: &str| GROUP_HINTS.iter().any(|(s, _, _)| *s == x);
    for part in name_parts(source_category) {
        let key = canon(part);
        for (s, name, g) in GROUP_HINTS {
            let src_ok = src.as_deref().is_none_or(|x| x == *s || !known(x));
            if src_ok && canon(name) == key {
                return Some(g);
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_110_from_csv_and_ranges() {
        assert_eq!(source_code_leaf(Some("110"), "100100"), Some("01.01"));
        assert_eq!(source_code_leaf(Some("110"), "201000"), Some("01.01"));
        assert_eq!(source_code_leaf(Some("110"), "200100"), Some("02.01"));
        assert_eq!(source_code_leaf(Some("110"), "600500"), Some("09.01"));
        assert_eq!(source_code_leaf(Some("110"), "606500"), Some("14.01"));
        assert_eq!(source_code_leaf(Some("110"), "650100"), Some("14.01"));
        assert_eq!(source_code_leaf(Some("110"), "653300"), Some("14.01"));
        assert_eq!(source_code_leaf(Some("110"), "659900"), Some("14.01"));
        assert_eq!(source_code_leaf(None, "700200"), Some("06.02"));
        assert_eq!(source_code_leaf(Some("110"), "600300"), Some("08.02"));
    }

    #[test]
    fn codes_110_prefix_fallback() {
        // Unlisted sub-code → its XXXX00 parent.
        assert_eq!(source_code_leaf(Some("110"), "100101"), Some("01.01"));
        // Unlisted 4-digit family → 2-digit group's typical leaf.
        assert_eq!(source_code_leaf(Some("110"), "108800"), Some("01.10"));
        assert_eq!(source_code_leaf(Some("110"), "990000"), None);
        assert_eq!(source_code_leaf(Some("110"), "12345"), None);
        assert_eq!(source_code_leaf(Some("110"), "abc"), None);
    }

    #[test]
    fn every_listed_110_code_maps_into_its_group() {
        let t = tables();
        assert!(t.codes_110.len() > 60, "{}", t.codes_110.len());
        for leaf in t.codes_110.values() {
            assert!(!leaf.starts_with("15."));
        }
    }

    #[test]
    fn name_tables() {
        assert_eq!(source_code_leaf(Some("12345"), "噪音扰民"), Some("02.08"));
        assert_eq!(
            source_code_leaf(Some("12345"), "城乡建设/违章建筑"),
            Some("10.01")
        );
        assert_eq!(source_code_leaf(Some("maodiao"), "邻里纠纷"), Some("07.02"));
        assert_eq!(source_code_leaf(Some("maodiao"), "邻里"), Some("07.02"));
        assert_eq!(
            source_code_leaf(Some("maodiao"), "环境污染纠纷"),
            Some("07.11")
        );
        assert_eq!(source_code_leaf(Some("12345"), "环境污染"), Some("10.05"));
        assert_eq!(
            source_code_leaf(Some("xinfang"), "建议意见类"),
            Some("12.01")
        );
        assert_eq!(
            source_code_leaf(Some("xinfang"), "检举控告类"),
            Some("12.02")
        );
        assert_eq!(source_code_leaf(Some("xinfang"), "涉法涉诉"), Some("12.03"));
        assert_eq!(source_code_leaf(Some("sensor"), "smoke"), Some("04.01"));
        assert_eq!(source_code_leaf(Some("sensor"), "GAS"), Some("04.07"));
        assert_eq!(source_code_leaf(Some("sensor"), "elevator"), Some("04.08"));
        assert_eq!(source_code_leaf(Some("sensor"), "intrusion"), Some("01.01"));
        assert_eq!(source_code_leaf(None, "拖欠农民工工资纠纷"), Some("08.01"));
        assert_eq!(source_code_leaf(Some("grid"), "矛盾纠纷"), None);
        assert_eq!(source_group_hint(Some("grid"), "矛盾纠纷"), Some("07"));
        assert_eq!(source_group_hint(Some("xinfang"), "申诉求决类"), Some("12"));
        assert_eq!(source_code_leaf(Some("12345"), "不存在的分类"), None);
        assert_eq!(
            source_code_leaf(Some("sifa"), "婚姻家庭纠纷"),
            Some("07.01")
        );
        assert_eq!(source_code_leaf(Some("other"), "邻里纠纷"), Some("07.02"));
        assert_eq!(source_code_leaf(Some("12345"), "100100"), None);
        assert_eq!(source_code_leaf(Some("eido"), "400100"), Some("04.01"));
    }
}

#[cfg(test)]
mod leaf_name_tests {
    use super::*;

    #[test]
    fn a_category_that_names_one_leaf_decides_it() {
        assert_eq!(source_code_leaf(Some("110"), "盗窃"), Some("01.01"));
        assert_eq!(source_code_leaf(Some("110"), "诈骗"), Some("01.04"));
        assert_eq!(source_code_leaf(Some("110"), "邻里纠纷"), Some("07.02"));
        assert_eq!(source_code_leaf(None, "电信网络诈骗"), Some("01.05"));
        // shared by several leaves, or no leaf: nothing
        assert_eq!(leaf_by_name("申诉求决类"), None);
        assert_eq!(source_code_leaf(Some("110"), "治安"), None);
        assert_eq!(source_code_leaf(Some("110"), "x"), None);
    }
}
