//! Text normalisation and alias generation.
//!
//! Every alias is normalised with the same [`normalize`] as the addresses, so that
//! `黄岩 吾悦广场`, `黄岩吾悦广场` and `黄岩吾悦广场。` are the same key.

use super::{Place, PlaceKind};

/// Strength of an alias. When two places produce the same alias key, only the targets
/// with the strongest form are kept (ties keep every target: the alias is ambiguous).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(super) enum Form {
    /// Administrative prefixes (`浙江省`, `台州市`, `黄岩区`, …): consumed, never a result.
    Noise = 0,
    /// A bare short form without its generic suffix: `鉴湖` (鉴湖村), `百花` (百花社区),
    /// `小东门` (小东门联勤工作站), `吾悦` (黄岩吾悦广场). Two-character bare forms need context.
    Bare = 1,
    /// A township short form: `东城`, `院桥`, `屿头`. Two-character ones need context.
    TownShort = 2,
    /// A suffixed alternative name: `鉴湖村`, `百花社区`, `东城街`, `小东门工作站`, `吾悦广场`.
    Suffixed = 3,
    /// The official full name (or the grid name `百花社区网格`).
    Full = 4,
}

/// Administrative prefixes that are consumed and ignored (the district and its parents).
pub(super) const NOISE: &[&str] = &[
    "中华人民共和国",
    "中国",
    "浙江省",
    "浙江",
    "台州市",
    "台州",
    "黄岩区",
    "黄岩",
];

/// Derived (non-official) forms that are too generic to be aliases.
const GENERIC: &[&str] = &[
    "人民政府",
    "政府",
    "西站",
    "东站",
    "南站",
    "北站",
    "火车站",
    "汽车站",
    "广场",
    "林场",
    "派出所",
    "警务室",
    "警务站",
    "工作站",
    "社区",
    "村委会",
    "居委会",
    "中心",
    "医院",
    "人民医院",
    "公安分局",
    "分局",
    "小镇",
    "生活区",
    "新区",
];

/// Normalises an address or a name: drops whitespace and punctuation, maps full-width
/// ASCII (`１２３ＡＢ`) to half-width, lower-cases ASCII letters.
pub(super) fn normalize(s: &str) -> Vec<char> {
    let mut out = Vec::with_capacity(s.len() / 2 + 1);
    for c in s.chars() {
        let c = match c {
            '\u{FF01}'..='\u{FF5E}' => char::from_u32(c as u32 - 0xFEE0).unwrap_or(c),
            _ => c,
        };
        if c.is_whitespace() || c.is_control() {
            continue;
        }
        if c.is_ascii() {
            if c.is_ascii_alphanumeric() {
                out.push(c.to_ascii_lowercase());
            }
            continue;
        }
        let punct = matches!(c,
            '\u{00A0}'..='\u{00BF}'     // Latin-1 symbols, · « »
            | '\u{2000}'..='\u{206F}'   // general punctuation: — ‘ ’ “ ” …
            | '\u{2190}'..='\u{21FF}'   // arrows
            | '\u{2500}'..='\u{25FF}'   // box drawing, shapes
            | '\u{3000}'..='\u{3006}'   // CJK symbols (not 〇)
            | '\u{3008}'..='\u{303F}'   // 〈〉《》「」『』【】〔〕…
            | '\u{30FB}'                // ・
            | '\u{FE10}'..='\u{FE6F}'   // vertical / small forms
            | '\u{FF00}'..='\u{FF0F}'   // remaining full-width forms
            | '\u{FF5F}'..='\u{FF65}'
            | '\u{FFE0}'..='\u{FFEF}');
        if !punct {
            out.push(c);
        }
    }
    out
}

pub(super) fn normalize_str(s: &str) -> String {
    normalize(s).into_iter().collect()
}

fn strip_suffix_any<'a>(s: &'a str, suffixes: &[&'a str]) -> Option<(&'a str, &'a str)> {
    suffixes
        .iter()
        .find_map(|suf| s.strip_suffix(suf).map(|stem| (stem, *suf)))
}

fn char_len(s: &str) -> usize {
    s.chars().count()
}

/// What a village/community committee name reduces to.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum VillageBase {
    /// `鉴湖村` (from `鉴湖村`, `鉴湖村委会`, `鉴湖村村民委员会`).
    Village(String),
    /// `百花社区` (from `百花社区`, `百花社区居委会`).
    Community(String),
    /// `上宅` (from `上宅居委会`: a residents' committee without 社区 in its name).
    Residents(String),
    /// Anything else (`方山下林场生活区`).
    Other(String),
}

pub(super) fn village_base(name: &str) -> VillageBase {
    let name = name.strip_suffix("网格").unwrap_or(name);
    if let Some((stem, _)) = strip_suffix_any(name, &["社区居民委员会", "社区居委会"]) {
        return VillageBase::Community(format!("{stem}社区"));
    }
    if let Some((stem, _)) = strip_suffix_any(name, &["村民委员会", "村委会"]) {
        // 红三村委会 → 红三村; 墙洋村村委会 → 墙洋村.
        return if stem.ends_with('村') {
            VillageBase::Village(stem.to_string())
        } else {
            VillageBase::Village(format!("{stem}村"))
        };
    }
    if let Some((stem, _)) = strip_suffix_any(name, &["居民委员会", "居委会"]) {
        return VillageBase::Residents(stem.to_string());
    }
    if name.ends_with("社区") {
        VillageBase::Community(name.to_string())
    } else if name.ends_with('村') {
        VillageBase::Village(name.to_string())
    } else {
        VillageBase::Other(name.to_string())
    }
}

/// The name shown in [`super::GeocodeMatch::matched`].
pub(super) fn display_name(place: &Place) -> String {
    if place.kind == PlaceKind::Village {
        match village_base(&place.name) {
            VillageBase::Village(b) | VillageBase::Community(b) => return b,
            VillageBase::Residents(_) | VillageBase::Other(_) => {}
        }
    }
    place.name.clone()
}

/// The grid name the generator derives from a committee name
/// (`百花社区居委会` → `百花社区网格`, `红三村委会` → `红三村网格`, `上宅居委会` → `上宅网格`).
fn grid_name(name: &str) -> String {
    if name.ends_with("网格") {
        return name.to_string();
    }
    let stem = name
        .strip_suffix("居委会")
        .or_else(|| {
            name.strip_suffix("村委会")
                .map(|_| &name[..name.len() - "委会".len()])
        })
        .unwrap_or(name);
    format!("{stem}网格")
}

/// All aliases of a place with their [`Form`]. Keys are normalised; keys shorter than two
/// characters and derived keys in the generic stop list are dropped.
pub(super) fn aliases_for(place: &Place) -> Vec<(String, Form)> {
    let mut out: Vec<(String, Form)> = Vec::new();
    let mut add = |s: String, form: Form| {
        let key = normalize_str(&s);
        if char_len(&key) < 2 {
            return;
        }
        if form != Form::Full && GENERIC.contains(&key.as_str()) {
            return;
        }
        if let Some(slot) = out.iter_mut().find(|(k, _)| *k == key) {
            slot.1 = slot.1.max(form);
        } else {
            out.push((key, form));
        }
    };
    let name = place.name.trim();
    // Parenthesised alternatives: `黄岩公安分局 (台州市公安局黄岩分局)`.
    let mut names: Vec<&str> = vec![name];
    if let Some((a, b)) = name.split_once(['(', '（']) {
        names = vec![a.trim(), b.trim_end_matches([')', '）']).trim()];
        add(name.to_string(), Form::Full);
    }
    for name in names {
        match place.kind {
            PlaceKind::Township => township_aliases(name, &mut add),
            PlaceKind::Village => village_aliases(name, &mut add),
            PlaceKind::Station | PlaceKind::Post => office_aliases(name, &mut add),
            PlaceKind::Landmark => landmark_aliases(name, &mut add),
        }
    }
    out
}

fn township_aliases(name: &str, add: &mut impl FnMut(String, Form)) {
    add(name.to_string(), Form::Full);
    if let Some(stem) = name.strip_suffix("街道") {
        add(format!("{name}办事处"), Form::Full);
        add(format!("{name}办"), Form::Suffixed);
        add(format!("{stem}街"), Form::Suffixed);
        add(stem.to_string(), Form::TownShort);
    } else if let Some((stem, _)) = strip_suffix_any(name, &["镇", "乡"]) {
        add(stem.to_string(), Form::TownShort);
    }
}

fn village_aliases(name: &str, add: &mut impl FnMut(String, Form)) {
    add(name.to_string(), Form::Full);
    add(grid_name(name), Form::Full);
    let mut suffixed: Vec<String> = Vec::new();
    let mut bare: Option<String> = None;
    match village_base(name) {
        VillageBase::Village(b) => {
            let stem = b.strip_suffix('村').unwrap_or(&b).to_string();
            suffixed.extend([
                b.clone(),
                format!("{stem}村委会"),
                format!("{stem}村民委员会"),
                format!("{b}村委会"),
                format!("{b}村民委员会"),
                format!("{b}网格"),
            ]);
            // `江东新村` is said in full; `江东新` is not a name.
            if !b.ends_with("新村") {
                bare = Some(stem);
            }
        }
        VillageBase::Community(b) => {
            let stem = b.strip_suffix("社区").unwrap_or(&b).to_string();
            suffixed.extend([
                b.clone(),
                format!("{b}居委会"),
                format!("{b}居民委员会"),
                format!("{b}网格"),
            ]);
            bare = Some(stem);
        }
        VillageBase::Residents(r) => {
            suffixed.extend([
                format!("{r}居委会"),
                format!("{r}居委"),
                format!("{r}居民委员会"),
                format!("{r}社区"),
                format!("{r}网格"),
            ]);
            bare = Some(r);
        }
        VillageBase::Other(b) => {
            suffixed.extend([b.clone(), format!("{b}网格")]);
            bare = strip_suffix_any(&b, &["生活区", "新区"]).map(|(s, _)| s.to_string());
        }
    }
    // The base name (`鉴湖村`, `百花社区`) is as official as the committee name: two
    // villages called 鉴湖村 are ambiguous whichever committee spelling they use.
    if let Some(b) = suffixed
        .first()
        .filter(|b| b.ends_with('村') || b.ends_with("社区"))
    {
        add(b.clone(), Form::Full);
    }
    for s in suffixed {
        // `墙洋村村` (generator spelling) and `墙洋村` are both kept.
        if let Some(single) = s.strip_suffix('村').filter(|x| x.ends_with('村')) {
            add(single.to_string(), Form::Suffixed);
        }
        add(s, Form::Suffixed);
    }
    if let Some(b) = bare {
        add(b, Form::Bare);
    }
}

const OFFICE_SUFFIXES: &[&str] = &[
    "联勤工作站",
    "生态警务站",
    "警务工作站",
    "工作站",
    "警务站",
    "警务室",
    "派出所",
];

fn office_aliases(name: &str, add: &mut impl FnMut(String, Form)) {
    add(name.to_string(), Form::Full);
    let Some((stem, suffix)) = strip_suffix_any(name, OFFICE_SUFFIXES) else {
        return;
    };
    match suffix {
        "联勤工作站" | "警务工作站" | "工作站" => {
            add(format!("{stem}工作站"), Form::Suffixed);
            add(format!("{stem}联勤站"), Form::Suffixed);
            add(format!("{stem}联勤工作站"), Form::Suffixed);
        }
        "生态警务站" | "警务站" => {
            add(format!("{stem}警务站"), Form::Suffixed);
            add(format!("{stem}生态警务站"), Form::Suffixed);
            if let Some(s) = stem.strip_suffix("林场") {
                add(format!("{s}警务站"), Form::Suffixed);
            }
        }
        "警务室" => {
            add(format!("{stem}警务室"), Form::Suffixed);
            // 东城街道警务室 → 东城警务室, 东城街警务室; 院桥镇警务室 → 院桥警务室.
            if let Some(s) = stem.strip_suffix("街道") {
                add(format!("{s}警务室"), Form::Suffixed);
                add(format!("{s}街警务室"), Form::Suffixed);
            } else if let Some((s, _)) = strip_suffix_any(stem, &["镇", "乡"]) {
                add(format!("{s}警务室"), Form::Suffixed);
            }
        }
        "派出所" => {
            add(format!("{stem}所"), Form::Suffixed);
            add(format!("{stem}派出所"), Form::Suffixed);
        }
        _ => {}
    }
    // A bare stem (`小东门`, `智能模具小镇`, `模具小镇`) only when it is not a township
    // name and has at least three characters; a township/village/landmark alias of the
    // same spelling always wins (stronger form).
    let township_like = stem.ends_with("街道")
        || (stem.ends_with('镇') && !stem.ends_with("小镇"))
        || stem.ends_with('乡');
    if char_len(stem) >= 3 && !township_like {
        add(stem.to_string(), Form::Bare);
        if let Some(s) = stem.strip_prefix("智能").filter(|s| char_len(s) >= 3) {
            add(s.to_string(), Form::Bare);
        }
        if let Some(s) = stem.strip_suffix("林场").filter(|s| char_len(s) >= 3) {
            add(s.to_string(), Form::Bare);
        }
    }
}

fn landmark_aliases(name: &str, add: &mut impl FnMut(String, Form)) {
    add(name.to_string(), Form::Full);
    let mut variants = vec![name.to_string()];
    for prefix in ["黄岩区", "黄岩", "台州市", "台州"] {
        if let Some(rest) = name.strip_prefix(prefix) {
            if char_len(rest) >= 3 {
                add(rest.to_string(), Form::Suffixed);
                variants.push(rest.to_string());
            }
            // 黄岩区人民政府 → 区政府, 区人民政府, 黄岩区政府
            if let Some(p) = rest.strip_suffix("人民政府") {
                add(format!("{prefix}{p}政府"), Form::Suffixed);
                if p.is_empty() && prefix.ends_with('区') {
                    add("区政府".to_string(), Form::Suffixed);
                    add("区人民政府".to_string(), Form::Suffixed);
                } else if !p.is_empty() {
                    add(format!("{p}政府"), Form::Suffixed);
                    add(format!("{p}人民政府"), Form::Suffixed);
                }
            }
            break;
        }
    }
    if let Some(p) = name.strip_suffix("人民政府") {
        add(format!("{p}政府"), Form::Suffixed);
    }
    for v in variants {
        if let Some((stem, _)) = strip_suffix_any(&v, &["广场", "林场"]) {
            add(stem.to_string(), Form::Bare);
        }
    }
}
