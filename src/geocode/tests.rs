use std::collections::HashMap;
use std::sync::OnceLock;

use super::alias::{village_base, VillageBase};
use super::*;

const TOWNSHIPS: &str = include_str!("../../geodata/townships.geojson");
const GRIDS: &str = include_str!("../../geodata/grids.geojson");
const STATIONS: &str = include_str!("../../geodata/stations.geojson");
const POSTS: &str = include_str!("../../geodata/posts.geojson");
const PLACES_CSV: &str = include_str!("../../geodata/src/places.csv");

fn fc(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap()
}

fn all_places() -> Vec<Place> {
    let townships = fc(TOWNSHIPS);
    let mut places = places_from_feature_collection(PlaceKind::Township, &townships);
    places.extend(places_from_feature_collection(
        PlaceKind::Village,
        &fc(GRIDS),
    ));
    places.extend(places_from_feature_collection(
        PlaceKind::Station,
        &fc(STATIONS),
    ));
    places.extend(places_from_feature_collection(PlaceKind::Post, &fc(POSTS)));
    let mut landmarks = landmarks_from_csv(PLACES_CSV);
    assign_townships(&mut landmarks, &townships);
    places.extend(landmarks);
    places
}

fn gaz() -> &'static Gazetteer {
    static G: OnceLock<Gazetteer> = OnceLock::new();
    G.get_or_init(|| {
        Gazetteer::from_geodata(TOWNSHIPS, GRIDS, STATIONS, POSTS, PLACES_CSV).unwrap()
    })
}

fn villages() -> Vec<Place> {
    gaz()
        .places()
        .iter()
        .filter(|p| p.kind == PlaceKind::Village)
        .cloned()
        .collect()
}

fn townships() -> Vec<Place> {
    gaz()
        .places()
        .iter()
        .filter(|p| p.kind == PlaceKind::Township)
        .cloned()
        .collect()
}

/// The village code of a village/community by (committee or base) name.
fn vcode(name: &str) -> String {
    let hits: Vec<&Place> = gaz()
        .places()
        .iter()
        .filter(|p| {
            p.kind == PlaceKind::Village && (p.name == name || alias::display_name(p) == name)
        })
        .collect();
    assert_eq!(hits.len(), 1, "{name}");
    hits[0].code.clone().unwrap()
}

fn tcode(name: &str) -> String {
    townships()
        .into_iter()
        .find(|t| t.name == name)
        .unwrap()
        .code
        .unwrap()
}

#[track_caller]
fn geo(addr: &str) -> GeocodeMatch {
    gaz()
        .geocode(addr)
        .unwrap_or_else(|| panic!("{addr}: no match"))
}

/// The short stem of a village (鉴湖村 → 鉴湖, 百花社区 → 百花, 上宅居委会 → 上宅).
fn bare(p: &Place) -> Option<String> {
    match village_base(&p.name) {
        VillageBase::Village(b) if !b.ends_with("新村") => b.strip_suffix('村').map(String::from),
        VillageBase::Community(b) => b.strip_suffix("社区").map(String::from),
        VillageBase::Residents(r) => Some(r),
        _ => None,
    }
    .filter(|s| s.chars().count() >= 2)
}

#[test]
fn loads_all_layers() {
    let g = gaz();
    assert_eq!(townships().len(), 19);
    assert_eq!(villages().len(), 348);
    let count = |k| g.places().iter().filter(|p| p.kind == k).count();
    assert_eq!(count(PlaceKind::Station), 4);
    assert_eq!(count(PlaceKind::Post), 21);
    // 6 located rows in places.csv; 城南派出所 and 院桥派出所 duplicate posts PP020/PP021.
    assert_eq!(landmarks_from_csv(PLACES_CSV).len(), 6);
    assert_eq!(count(PlaceKind::Landmark), 4);
    assert_eq!(g.len(), 19 + 348 + 4 + 21 + 4);
    assert!(!g.is_empty());
    assert!(g.alias_count() > 1500, "{}", g.alias_count());
    // every place has a township name after Gazetteer::new
    assert!(
        g.places().iter().all(|p| p.township_name.is_some()),
        "{g:?}"
    );
    // township seats, not centroids
    let dc = g.places().iter().find(|p| p.name == "东城街道").unwrap();
    assert_eq!((dc.lon, dc.lat), (121.27106, 28.6473));
}

#[test]
fn every_township_by_full_and_short_name() {
    for t in townships() {
        let code = t.code.clone();
        let stem = t
            .name
            .trim_end_matches("街道")
            .trim_end_matches(['镇', '乡'])
            .to_string();
        let mut forms = vec![
            t.name.clone(),
            stem.clone(),
            format!("黄岩区{}", t.name),
            format!("{stem}附近"),
        ];
        if t.name.ends_with("街道") {
            forms.push(format!("{stem}街"));
        }
        for f in forms {
            let m = geo(&f);
            assert_eq!(m.kind, PlaceKind::Township, "{f}: {m:?}");
            assert_eq!(m.code, code, "{f}");
            assert_eq!(m.township_code, code, "{f}");
            assert_eq!(m.matched, t.name);
            assert_eq!(m.confidence, confidence::TOWNSHIP, "{f}");
            assert_eq!((m.lon, m.lat), (t.lon, t.lat));
        }
    }
}

#[test]
fn every_village_by_full_name_and_short_form_with_township() {
    let grids = fc(GRIDS);
    let grid_names: HashMap<String, String> = grids["features"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            let p = &f["properties"];
            (
                p["village_code"].as_str().unwrap().to_string(),
                p["name"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let mut bare_checked = 0;
    for v in villages() {
        let code = v.code.clone();
        let town = v.township_name.clone().unwrap();
        let town_stem = town
            .trim_end_matches("街道")
            .trim_end_matches(['镇', '乡'])
            .to_string();
        let base = alias::display_name(&v);
        let check = |addr: &str, conf: f32| {
            let m = geo(addr);
            assert_eq!(m.kind, PlaceKind::Village, "{addr}: {m:?}");
            assert_eq!(m.code, code, "{addr}: {m:?}");
            assert_eq!(m.township_code, v.township_code, "{addr}");
            assert_eq!(m.confidence, conf, "{addr}: {m:?}");
            assert_eq!((m.lon, m.lat), (v.lon, v.lat));
            assert_eq!(m.matched, format!("{town} · {base}"));
        };
        // alone, unique
        check(&v.name, confidence::VILLAGE);
        check(&grid_names[code.as_ref().unwrap()], confidence::VILLAGE);
        check(&base, confidence::VILLAGE);
        // with the township (full, short), with prefixes and trailing text
        check(&format!("{town}{}", v.name), confidence::VILLAGE_CONSISTENT);
        check(&format!("{town}{base}"), confidence::VILLAGE_CONSISTENT);
        check(
            &format!("{town_stem}{base}"),
            confidence::VILLAGE_CONSISTENT,
        );
        check(
            &format!("浙江省台州市黄岩区{town}{base}12号"),
            confidence::VILLAGE_CONSISTENT,
        );
        check(
            &format!("黄岩 {town}，{base}附近"),
            confidence::VILLAGE_CONSISTENT,
        );
        // bare short form with the township (unless it is the township's own short form)
        if let Some(b) = bare(&v) {
            if b != town_stem && !townships().iter().any(|t| t.name.starts_with(&b)) {
                // 桐村村 → 桐村 is a spelling of the village name, not a bare stem
                let conf = if b.ends_with('村') {
                    confidence::VILLAGE_CONSISTENT
                } else {
                    confidence::VILLAGE_BARE_CONSISTENT
                };
                check(&format!("{town}{b}"), conf);
                bare_checked += 1;
            }
        }
    }
    assert!(bare_checked > 300, "{bare_checked}");
}

#[test]
fn realistic_addresses() {
    let cases: &[(&str, PlaceKind, &str, Option<&str>)] = &[
        // (address, kind, township, village/POI code or None)
        (
            "黄岩区院桥镇鉴湖村村口",
            PlaceKind::Village,
            "院桥镇",
            Some("鉴湖村"),
        ),
        (
            "黄岩 院桥镇，鉴湖村１２号",
            PlaceKind::Village,
            "院桥镇",
            Some("鉴湖村"),
        ),
        (
            "院桥鉴湖村村口",
            PlaceKind::Village,
            "院桥镇",
            Some("鉴湖村"),
        ),
        (
            "浙江省台州市黄岩区北城街道xx路",
            PlaceKind::Township,
            "北城街道",
            None,
        ),
        (
            "浙江省台州市黄岩区北城街道ＸＸ路１８号",
            PlaceKind::Township,
            "北城街道",
            None,
        ),
        ("宁溪镇政府旁边", PlaceKind::Township, "宁溪镇", None),
        (
            "台州市黄岩区东城街道百花社区3幢",
            PlaceKind::Village,
            "东城街道",
            Some("百花社区"),
        ),
        (
            "东城街百花路",
            PlaceKind::Village,
            "东城街道",
            Some("百花社区"),
        ),
        (
            "黄岩区新前街道江城社区江城路12号",
            PlaceKind::Village,
            "新前街道",
            Some("江城社区"),
        ),
        (
            "澄江街道凤洋村附近",
            PlaceKind::Village,
            "澄江街道",
            Some("凤洋村"),
        ),
        (
            "头陀镇头陀居委会",
            PlaceKind::Village,
            "头陀镇",
            Some("头陀居委会"),
        ),
        (
            "北洋居委会",
            PlaceKind::Village,
            "北洋镇",
            Some("北洋居委会"),
        ),
        (
            "院桥镇院桥街居委会门口",
            PlaceKind::Village,
            "院桥镇",
            Some("院桥街居委会"),
        ),
        (
            "江口街道江口村",
            PlaceKind::Village,
            "江口街道",
            Some("江口村"),
        ),
        ("江口村", PlaceKind::Village, "江口街道", Some("江口村")),
        (
            "高桥街道高桥头村",
            PlaceKind::Village,
            "高桥街道",
            Some("高桥头村"),
        ),
        ("屿头乡屿头村", PlaceKind::Village, "屿头乡", Some("屿头村")),
        (
            "上郑乡上郑村村委会",
            PlaceKind::Village,
            "上郑乡",
            Some("上郑村"),
        ),
        (
            "南城墙洋村",
            PlaceKind::Village,
            "南城街道",
            Some("墙洋村村委会"),
        ),
        (
            "墙洋村村网格",
            PlaceKind::Village,
            "南城街道",
            Some("墙洋村村委会"),
        ),
        ("十里铺村", PlaceKind::Village, "南城街道", Some("十里铺村")),
        (
            "方山下林场生活区",
            PlaceKind::Village,
            "南城街道",
            Some("方山下林场生活区"),
        ),
        ("屿头", PlaceKind::Township, "屿头乡", None),
        ("北洋镇", PlaceKind::Township, "北洋镇", None),
        ("我在院桥", PlaceKind::Township, "院桥镇", None),
    ];
    for &(addr, kind, town, village) in cases {
        let m = geo(addr);
        assert_eq!(m.kind, kind, "{addr}: {m:?}");
        assert_eq!(m.township_code, Some(tcode(town)), "{addr}: {m:?}");
        match village {
            Some(v) => assert_eq!(m.code, Some(vcode(v)), "{addr}: {m:?}"),
            None => assert_eq!(m.code, Some(tcode(town)), "{addr}: {m:?}"),
        }
    }
    assert_eq!(geo("宁溪镇政府旁边").confidence, confidence::TOWNSHIP_SEAT);
    assert_eq!(geo("黄岩区院桥镇鉴湖村村口").matched, "院桥镇 · 鉴湖村");
}

#[test]
fn stations_posts_landmarks() {
    let cases: &[(&str, PlaceKind, Option<&str>, &str, f32)] = &[
        (
            "小东门联勤工作站",
            PlaceKind::Station,
            Some("ST02"),
            "东城街道",
            confidence::OFFICE,
        ),
        (
            "小东门工作站",
            PlaceKind::Station,
            Some("ST02"),
            "东城街道",
            confidence::OFFICE,
        ),
        (
            "东城街道小东门工作站",
            PlaceKind::Station,
            Some("ST02"),
            "东城街道",
            confidence::OFFICE_CONSISTENT,
        ),
        (
            "小东门",
            PlaceKind::Station,
            Some("ST02"),
            "东城街道",
            confidence::OFFICE_BARE,
        ),
        (
            "吾悦广场联勤工作站",
            PlaceKind::Station,
            Some("ST03"),
            "西城街道",
            confidence::OFFICE,
        ),
        (
            "智能模具小镇联勤工作站",
            PlaceKind::Station,
            Some("ST01"),
            "新前街道",
            confidence::OFFICE,
        ),
        (
            "模具小镇",
            PlaceKind::Station,
            Some("ST01"),
            "新前街道",
            confidence::OFFICE_BARE,
        ),
        (
            "大寺基林场生态警务站",
            PlaceKind::Station,
            Some("ST04"),
            "富山乡",
            confidence::OFFICE,
        ),
        (
            "大寺基警务站",
            PlaceKind::Station,
            Some("ST04"),
            "富山乡",
            confidence::OFFICE,
        ),
        (
            "东城街道警务室",
            PlaceKind::Post,
            Some("PP001"),
            "东城街道",
            confidence::OFFICE,
        ),
        (
            "院桥警务室",
            PlaceKind::Post,
            Some("PP012"),
            "院桥镇",
            confidence::OFFICE,
        ),
        (
            "城南派出所",
            PlaceKind::Post,
            Some("PP020"),
            "南城街道",
            confidence::OFFICE,
        ),
        (
            "黄岩区十里铺11号城南派出所",
            PlaceKind::Post,
            Some("PP020"),
            "南城街道",
            confidence::OFFICE,
        ),
        (
            "院桥派出所",
            PlaceKind::Post,
            Some("PP021"),
            "院桥镇",
            confidence::OFFICE,
        ),
        (
            "院桥镇院桥派出所",
            PlaceKind::Post,
            Some("PP021"),
            "院桥镇",
            confidence::OFFICE_CONSISTENT,
        ),
        (
            "西城街道吾悦广场门口",
            PlaceKind::Landmark,
            None,
            "西城街道",
            confidence::LANDMARK_CONSISTENT,
        ),
        (
            "黄岩吾悦广场",
            PlaceKind::Landmark,
            None,
            "西城街道",
            confidence::LANDMARK,
        ),
        (
            "吾悦广场",
            PlaceKind::Landmark,
            None,
            "西城街道",
            confidence::LANDMARK,
        ),
        (
            "吾悦门口",
            PlaceKind::Landmark,
            None,
            "西城街道",
            confidence::LANDMARK_BARE,
        ),
        (
            "黄岩区人民政府",
            PlaceKind::Landmark,
            None,
            "西城街道",
            confidence::LANDMARK,
        ),
        (
            "区政府",
            PlaceKind::Landmark,
            None,
            "西城街道",
            confidence::LANDMARK,
        ),
        (
            "台州西站",
            PlaceKind::Landmark,
            None,
            "江口街道",
            confidence::LANDMARK,
        ),
        (
            "大寺基林场",
            PlaceKind::Landmark,
            None,
            "富山乡",
            confidence::LANDMARK,
        ),
    ];
    for &(addr, kind, code, town, conf) in cases {
        let m = geo(addr);
        assert_eq!((m.kind, m.code.as_deref()), (kind, code), "{addr}: {m:?}");
        assert_eq!(m.township_code, Some(tcode(town)), "{addr}: {m:?}");
        assert_eq!(m.confidence, conf, "{addr}: {m:?}");
    }
    assert_eq!(geo("吾悦广场").matched, "西城街道 · 黄岩吾悦广场");
}

#[test]
fn no_exact_duplicate_village_names_in_the_data() {
    // The brief expected some; grids.geojson has none (not even among short forms).
    let mut by_key: HashMap<String, Vec<String>> = HashMap::new();
    for v in villages() {
        by_key
            .entry(alias::display_name(&v))
            .or_default()
            .push(v.township_code.clone().unwrap());
        if let Some(b) = bare(&v) {
            by_key
                .entry(b)
                .or_default()
                .push(v.township_code.clone().unwrap());
        }
    }
    let dups: Vec<_> = by_key.iter().filter(|(_, t)| t.len() > 1).collect();
    assert!(dups.is_empty(), "{dups:?}");
    // ...but seven bare village forms equal a township short form; the township wins.
    let clashes: Vec<(String, Place)> = villages()
        .into_iter()
        .filter_map(|v| Some((bare(&v)?, v)))
        .filter(|(b, _)| {
            townships()
                .iter()
                .any(|t| t.name.starts_with(b.as_str()) && t.name.chars().count() <= 4)
        })
        .collect();
    assert_eq!(clashes.len(), 7, "{clashes:?}");
    for (b, v) in clashes {
        assert_eq!(geo(&b).kind, PlaceKind::Township, "{b}");
        assert_eq!(geo(&alias::display_name(&v)).code, v.code, "{b}");
    }
}

#[test]
fn ambiguous_village_resolved_by_township() {
    // A synthetic second 鉴湖村 (in 东城街道) and a second 百花社区 (in 院桥镇).
    let mut places = all_places();
    let mk = |name: &str, code: &str, town: &str, lon: f64| Place {
        name: name.into(),
        kind: PlaceKind::Village,
        lon,
        lat: 28.6,
        code: Some(code.into()),
        township_code: Some(tcode(town)),
        township_name: Some(town.into()),
    };
    places.push(mk("鉴湖村村民委员会", "X1", "东城街道", 121.1));
    places.push(mk("百花社区居委会", "X2", "院桥镇", 121.2));
    let g = Gazetteer::new(places);
    let real = vcode("鉴湖村");
    let m = g.geocode("院桥镇鉴湖村").unwrap();
    assert_eq!(
        (m.code.as_deref(), m.confidence),
        (Some(real.as_str()), confidence::RESOLVED)
    );
    let m = g.geocode("东城街道鉴湖村村口").unwrap();
    assert_eq!(
        (m.code.as_deref(), m.confidence),
        (Some("X1"), confidence::RESOLVED)
    );
    assert_eq!(m.matched, "东城街道 · 鉴湖村");
    let m = g.geocode("院桥鉴湖").unwrap();
    assert_eq!(m.code, Some(real.clone()));
    let m = g.geocode("院桥百花社区").unwrap();
    assert_eq!(m.code.as_deref(), Some("X2"));
    // no township: no guess
    assert_eq!(g.geocode("鉴湖村"), None);
    assert_eq!(g.geocode("黄岩区鉴湖村村口"), None);
    // a township that has neither: the township
    let m = g.geocode("宁溪镇鉴湖村").unwrap();
    assert_eq!(
        (m.kind, m.code),
        (PlaceKind::Township, Some(tcode("宁溪镇")))
    );
    // a landmark elsewhere in the address still answers
    let m = g.geocode("鉴湖村吾悦广场").unwrap();
    assert_eq!(m.kind, PlaceKind::Landmark);
}

#[test]
fn conflicting_township() {
    // 红三村 is in 东城街道: the village name is trusted, at low confidence.
    let m = geo("院桥镇红三村");
    assert_eq!(
        (m.kind, m.code),
        (PlaceKind::Village, Some(vcode("红三村")))
    );
    assert_eq!(m.township_code, Some(tcode("东城街道")));
    assert_eq!(m.confidence, confidence::CONFLICT);
    // a bare short form in another township's address is dropped: the township wins
    let m = geo("北洋镇大树下");
    assert_eq!(
        (m.kind, m.code),
        (PlaceKind::Township, Some(tcode("北洋镇")))
    );
    // 大树下 alone (3 characters) is the village
    assert_eq!(geo("大树下").code, Some(vcode("大树下村")));
    // a consistent village beats a conflicting landmark
    let m = geo("院桥镇鉴湖村吾悦广场");
    assert_eq!(m.code, Some(vcode("鉴湖村")));
    // two townships, nothing else
    let m = geo("东城街道西城街道");
    assert_eq!(
        (m.code, m.confidence),
        (Some(tcode("东城街道")), confidence::TOWNSHIPS_SEVERAL)
    );
}

#[test]
fn nonsense_and_out_of_district_is_none() {
    for a in [
        "",
        "   ",
        "，。！",
        "12345",
        "asdfgh",
        "不知道在哪里",
        "北京市朝阳区建国路88号",
        "杭州西湖边",
        "杭州市西湖区",
        "上海市浦东新区世纪大道100号",
        "江苏省南京市玄武区",
        "台州市椒江区白云街道",
        "浙江省台州市路桥区新桥镇",
        "温岭市新河镇",
        "临海市东城街道",
        "北京东城区王府井",
        "西城区金融街",
        "安徽省马鞍山市",
        "马鞍山市雨山区",
        "位于江苏省百花路",
        "重新前往现场",
        "上下班路上",
        "祝你快乐",
        "我们胜利了",
        "今天天气很好",
        "红旗飘飘",
        "福利待遇怎么样",
        "繁荣昌盛",
        "请尽快处理",
        "黄岩",
        "浙江省台州市黄岩区",
        "有人打架",
    ] {
        assert_eq!(gaz().geocode(a), None, "{a}");
    }
}

#[test]
fn one_character_aliases_never_match() {
    let g = gaz();
    let mut key_len: HashMap<u32, usize> = HashMap::new();
    fn walk(g: &Gazetteer, node: usize, depth: usize, out: &mut HashMap<u32, usize>) {
        if g.nodes[node].entry != NONE {
            out.insert(g.nodes[node].entry, depth);
        }
        for &(_, kid) in &g.nodes[node].kids {
            walk(g, kid as usize, depth + 1, out);
        }
    }
    walk(g, 0, 0, &mut key_len);
    assert_eq!(key_len.len(), g.alias_count());
    assert!(key_len.values().all(|&d| d >= 2));
    // every single character of every place name
    let mut chars: Vec<char> = g.places().iter().flat_map(|p| p.name.chars()).collect();
    chars.sort_unstable();
    chars.dedup();
    for c in chars {
        assert_eq!(g.geocode(&c.to_string()), None, "{c}");
    }
    // one-character names and stems (葛村村委会 → 葛村, never 葛)
    let mut places = all_places();
    places.push(Place {
        name: "东".into(),
        kind: PlaceKind::Landmark,
        lon: 121.0,
        lat: 28.6,
        code: None,
        township_code: None,
        township_name: None,
    });
    let g = Gazetteer::new(places);
    assert_eq!(g.geocode("东"), None);
    assert_eq!(g.geocode("葛"), None);
    assert_eq!(g.geocode("葛村").unwrap().code, Some(vcode("葛村村委会")));
}

#[test]
fn two_character_short_forms_need_context() {
    // 鉴湖 (鉴湖村) alone is not enough; with a place word or its township it is.
    assert_eq!(gaz().geocode("鉴湖"), None);
    assert_eq!(gaz().geocode("去鉴湖看看"), None);
    assert_eq!(geo("鉴湖附近").code, Some(vcode("鉴湖村")));
    assert_eq!(geo("鉴湖路").confidence, confidence::VILLAGE_BARE);
    assert_eq!(geo("院桥镇鉴湖").code, Some(vcode("鉴湖村")));
    assert_eq!(geo("去院桥鉴湖看看").code, Some(vcode("鉴湖村")));
    // township short forms: start, end, context words, or a consistent village
    assert_eq!(gaz().geocode("重新前往"), None);
    assert_eq!(geo("新前").code, Some(tcode("新前街道")));
    assert_eq!(geo("人在新前附近").code, Some(tcode("新前街道")));
    assert_eq!(geo("报警人说在新前江城社区").code, Some(vcode("江城社区")));
    // 上下 (上下村) is an ordinary word
    assert_eq!(gaz().geocode("上下楼梯"), None);
    assert_eq!(geo("上下村").code, Some(vcode("上下村")));
}

#[test]
fn confidences_are_ordered_as_documented() {
    use confidence as c;
    let order = [
        c::OFFICE_CONSISTENT,
        c::OFFICE,
        c::LANDMARK,
        c::VILLAGE,
        c::LANDMARK_BARE,
        c::VILLAGE_BARE,
        c::CONFLICT,
        c::TOWNSHIP,
        c::TOWNSHIPS_SEVERAL,
    ];
    assert!(order.windows(2).all(|w| w[0] > w[1]));
    let pairs = [
        (c::VILLAGE_CONSISTENT, c::RESOLVED),
        (c::RESOLVED, c::VILLAGE),
        (c::VILLAGE_BARE_CONSISTENT, c::VILLAGE),
        (c::TOWNSHIP_SEAT, c::TOWNSHIP),
    ];
    assert!(pairs.iter().all(|(a, b)| a > b));
    let conf = |a: &str| geo(a).confidence;
    assert!(conf("院桥镇鉴湖村") > conf("鉴湖村"));
    assert!(conf("鉴湖村") > conf("鉴湖路"));
    assert!(conf("鉴湖路") > conf("北洋镇鉴湖村"));
    assert!(conf("北洋镇鉴湖村") > conf("院桥镇"));
    assert!(conf("宁溪镇政府") > conf("宁溪镇"));
    for a in [
        "院桥镇鉴湖村",
        "小东门",
        "吾悦广场",
        "宁溪镇",
        "东城街道西城街道",
    ] {
        let x = conf(a);
        assert!((0.0..=1.0).contains(&x));
    }
}

#[test]
fn feature_collection_fallbacks_and_csv() {
    let fcj = serde_json::json!({"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"code": 7, "name": "测试镇"},
         "geometry": {"type": "Polygon", "coordinates": [[[121.0, 28.0], [121.2, 28.0], [121.2, 28.2], [121.0, 28.2], [121.0, 28.0]]]}},
        {"type": "Feature", "properties": {"name": "无几何"}, "geometry": null}
    ]});
    let t = places_from_feature_collection(PlaceKind::Township, &fcj);
    assert_eq!(t.len(), 1);
    assert_eq!(t[0].code.as_deref(), Some("7"));
    assert!((t[0].lon - 121.1).abs() < 1e-9 && (t[0].lat - 28.1).abs() < 1e-9);
    let grid = serde_json::json!({"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"code": "G1", "name": "测试村网格", "township_code": "7"},
         "geometry": {"type": "MultiPolygon", "coordinates": [[[[121.0, 28.0], [121.2, 28.0], [121.2, 28.2], [121.0, 28.2], [121.0, 28.0]]]]}}
    ]});
    let v = places_from_feature_collection(PlaceKind::Village, &grid);
    assert_eq!(
        (v[0].name.as_str(), v[0].code.as_deref()),
        ("测试村网格", Some("G1"))
    );
    let g = Gazetteer::new(t.into_iter().chain(v).collect());
    let m = g.geocode("测试镇测试村").unwrap();
    assert_eq!(
        (m.kind, m.code.as_deref(), m.matched.as_str()),
        (PlaceKind::Village, Some("G1"), "测试镇 · 测试村")
    );
    assert_eq!(
        places_from_feature_collection(PlaceKind::Post, &serde_json::json!({})),
        vec![]
    );

    let csv = "name,kind,lon,lat\r\n\"A, \"\"quoted\"\"\",poi,121.5,28.5\r\nB,poi,,\r\nC,poi,x,1\n";
    let l = landmarks_from_csv(csv);
    assert_eq!(l.len(), 1);
    assert_eq!(
        (l[0].name.as_str(), l[0].lon, l[0].lat),
        ("A, \"quoted\"", 121.5, 28.5)
    );
    assert_eq!(
        serde_json::to_string(&PlaceKind::Landmark).unwrap(),
        "\"landmark\""
    );
    let m = geo("院桥镇鉴湖村");
    let back: GeocodeMatch = serde_json::from_str(&serde_json::to_string(&m).unwrap()).unwrap();
    assert_eq!(back, m);
}
