//! Offline address geocoder for Huangyan District (黄岩区) against a gazetteer of the
//! project's geodata: 19 townships, 348 villages/communities (one per grid), the 联勤
//! stations, the police posts and the located landmarks of `geodata/src/places.csv`.
//!
//! Self-contained (no `crate::` imports); deps: `serde`, `serde_json`, `geo`, `thiserror`.
//!
//! # Matching
//!
//! 1. **Normalise** the address: drop whitespace and punctuation, full-width → half-width
//!    ASCII, lower-case ASCII. The administrative prefixes `中国`/`浙江省`/`浙江`/`台州市`/
//!    `台州`/`黄岩区`/`黄岩` are *noise* aliases: consumed and ignored wherever they occur
//!    (a longer real alias such as `黄岩吾悦广场` or `黄岩区人民政府` still wins).
//! 2. **Scan** every position with a character trie of all aliases (names normalised the
//!    same way) and keep the **non-overlapping** occurrences that cover the most characters
//!    (dynamic programming; ties: fewer, i.e. longer, matches, then the earlier one), so
//!    `头陀镇西村` is 头陀 + 镇西村 and `院桥镇鉴湖村` is 院桥镇 + 鉴湖村. Aliases of fewer than two
//!    characters do not exist, so one character never matches.
//! 3. **Context** for two-character short forms:
//!    * a township short form (`院桥`, `东城`, `新前`) counts only at the start of the
//!      address (after the prefixes), at its very end, when followed by
//!      镇/乡/街/路/附近/一带/方向/… , or when a village/POI of that township is also
//!      matched (or directly follows it: `院桥鉴湖村`);
//!    * a bare village/POI short form (`鉴湖`, `百花`, `吾悦`) counts only when followed by
//!      村/社区/附近/路/街/边/旁/口/桥/门口/一带/… , or when its township is also matched
//!      (or directly precedes it: `院桥鉴湖`).
//! 4. **Out of district**: `None` when the address starts (after the prefixes) with another
//!    province, another Zhejiang city or another Taizhou county (`北京`, `杭州`, `椒江` …) or
//!    with a `XX省`/`XX市`/`XXX县` word; when it names one of those followed by 省/市/县/区
//!    anywhere (`位于江苏省…`); or when a short form is directly followed by 省/市/县/区
//!    (`东城区` is Beijing, `马鞍山市` is Anhui — not 东城街道 or 马鞍山村).
//! 5. **Hierarchy** (below).
//!
//! # Alias collisions
//!
//! Each place produces aliases of four strengths, strongest first: the official full name
//! (and the grid name, and a village's base name `鉴湖村`/`百花社区`); a suffixed
//! alternative (`鉴湖村委会`, `东城街`, `小东门工作站`, `吾悦广场`); a township short form
//! (`东城`, `院桥`); a bare short form (`鉴湖`, `百花`, `小东门`).
//! When two places produce the same key, only the targets of the strongest form keep it;
//! equal forms keep all targets and the key is **ambiguous**. So the bare village `屿头`
//! (屿头村) loses to the township short form `屿头` (屿头乡), and the bare station form
//! `吾悦广场` (吾悦广场联勤工作站) loses to the landmark `吾悦广场` (黄岩吾悦广场): the full
//! station name still reaches the station. Longer matches also win at scan time
//! (`屿头村` is the village, `屿头` the township).
//!
//! # Hierarchy and ambiguity rules
//!
//! Let *T* be the set of townships mentioned. For every other (point-level) match:
//! * its target is **consistent** if its township is in *T*;
//! * an **ambiguous** key (several targets) is **resolved** if exactly one target is in
//!   *T*; otherwise (no township mentioned, or none/several of the targets in *T*) it gives
//!   nothing at point level — **no guess**; the result falls back to the township if one is
//!   mentioned, else to another match, else `None`;
//! * a **conflict** (unique target in another township than the one mentioned): a full or
//!   suffixed name (`红三村`) is trusted over the township, at low confidence 0.60 — names
//!   of villages are more specific than the township a caller quotes; a bare short form
//!   (`大树下` for 大树下村) is dropped instead (more likely an ordinary word), and the
//!   township wins.
//!
//! A landmark without a township (built with [`landmarks_from_csv`] but not
//! [`assign_townships`]) is never consistent nor conflicting: it counts as "alone".
//!
//! The candidate with the highest confidence wins; ties go to stations/posts, then
//! landmarks, then villages, then the longer match, then the earlier one. Without a
//! point-level candidate the mentioned township is returned (the first one if several).
//!
//! # Confidence scale
//!
//! | result | confidence |
//! |---|---|
//! | station/post + consistent township | 0.95 |
//! | station/post by name | 0.90 |
//! | village + consistent township | 0.90 |
//! | landmark + consistent township | 0.90 |
//! | landmark by name | 0.85 |
//! | ambiguous name resolved by the township (any kind) | 0.85 |
//! | bare village short form + consistent township (`院桥鉴湖`) | 0.85 |
//! | village alone, unique (full or suffixed name) | 0.80 |
//! | station/post alone, bare short form (`小东门`) | 0.80 |
//! | landmark alone, bare short form (`吾悦门口`) | 0.75 |
//! | village alone, bare short form (`鉴湖路`) | 0.70 |
//! | township + 政府 (`宁溪镇政府`): the township seat | 0.60 |
//! | point-level name conflicting with the mentioned township | 0.60 |
//! | township only | 0.50 |
//! | several different townships, nothing more precise (first one) | 0.40 |

mod alias;
mod load;
#[cfg(test)]
mod tests;

use std::collections::HashMap;

use alias::Form;
pub use load::{assign_townships, landmarks_from_csv, places_from_feature_collection};

/// The kind of a gazetteer place.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PlaceKind {
    Township,
    Village,
    Station,
    Post,
    Landmark,
}

/// One gazetteer entry (WGS-84 lon/lat).
#[derive(Debug, Clone, PartialEq)]
pub struct Place {
    pub name: String,
    pub kind: PlaceKind,
    pub lon: f64,
    pub lat: f64,
    pub code: Option<String>,
    pub township_code: Option<String>,
    pub township_name: Option<String>,
}

/// A geocoding result.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct GeocodeMatch {
    pub lon: f64,
    pub lat: f64,
    /// The canonical names matched, e.g. `"院桥镇 · 鉴湖村"` or `"东城街道"`.
    pub matched: String,
    /// The most precise level matched.
    pub kind: PlaceKind,
    /// 0..1, see the module docs for the scale.
    pub confidence: f32,
    pub code: Option<String>,
    pub township_code: Option<String>,
}

/// Errors of [`Gazetteer::from_geodata`].
#[derive(Debug, thiserror::Error)]
pub enum GeocodeError {
    #[error("invalid GeoJSON in the {layer} layer: {source}")]
    Json {
        layer: &'static str,
        #[source]
        source: serde_json::Error,
    },
}

/// Confidence constants (see the module docs).
pub mod confidence {
    pub const OFFICE_CONSISTENT: f32 = 0.95;
    pub const OFFICE: f32 = 0.90;
    pub const VILLAGE_CONSISTENT: f32 = 0.90;
    pub const LANDMARK_CONSISTENT: f32 = 0.90;
    pub const LANDMARK: f32 = 0.85;
    pub const RESOLVED: f32 = 0.85;
    pub const VILLAGE_BARE_CONSISTENT: f32 = 0.85;
    pub const VILLAGE: f32 = 0.80;
    pub const OFFICE_BARE: f32 = 0.80;
    pub const LANDMARK_BARE: f32 = 0.75;
    pub const VILLAGE_BARE: f32 = 0.70;
    pub const TOWNSHIP_SEAT: f32 = 0.60;
    pub const CONFLICT: f32 = 0.60;
    pub const TOWNSHIP: f32 = 0.50;
    pub const TOWNSHIPS_SEVERAL: f32 = 0.40;
}

const NONE: u32 = u32::MAX;

struct Entry {
    form: Form,
    len: usize,
    targets: Vec<u32>,
}

#[derive(Default)]
struct Node {
    kids: Vec<(char, u32)>,
    entry: u32,
}

/// An in-memory gazetteer with an alias trie. Build once, share (`Send + Sync`).
pub struct Gazetteer {
    places: Vec<Place>,
    display: Vec<String>,
    /// Interned township code of each place (`NONE` if unknown).
    tcode: Vec<u32>,
    entries: Vec<Entry>,
    nodes: Vec<Node>,
}

impl std::fmt::Debug for Gazetteer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gazetteer")
            .field("places", &self.places.len())
            .field("aliases", &self.alias_count())
            .finish()
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Status {
    Consistent,
    Resolved,
    Alone,
    Conflict,
}

#[derive(Clone, Copy, Debug)]
struct Hit {
    start: usize,
    end: usize,
    entry: u32,
}

/// Words after a two-character township short form that make it a place reference.
const TOWN_CONTEXT: &[&str] = &[
    "镇",
    "乡",
    "街",
    "路",
    "附近",
    "一带",
    "方向",
    "地区",
    "境内",
    "片区",
    "辖区",
    "那边",
    "这边",
    "周边",
    "政府",
    "派出所",
    "警务室",
];
/// Words after a two-character bare village/POI short form that make it a place reference.
const PLACE_CONTEXT: &[&str] = &[
    "村", "社区", "附近", "路", "街", "边", "旁", "口", "桥", "一带", "周边", "对面", "小区",
    "那边", "这边", "辖区", "片区", "居委", "网格", "公交", "站", "方向", "里面", "后面", "前面",
    "门",
];
/// Other provinces, Zhejiang cities and Taizhou counties: an address starting with one
/// (after the prefixes) is out of district.
const FOREIGN: &[&str] = &[
    "北京",
    "天津",
    "上海",
    "重庆",
    "河北",
    "山西",
    "辽宁",
    "吉林",
    "黑龙江",
    "江苏",
    "安徽",
    "福建",
    "江西",
    "山东",
    "河南",
    "湖北",
    "湖南",
    "广东",
    "海南",
    "四川",
    "贵州",
    "云南",
    "陕西",
    "甘肃",
    "青海",
    "台湾",
    "内蒙古",
    "广西",
    "西藏",
    "宁夏",
    "新疆",
    "香港",
    "澳门",
    "杭州",
    "宁波",
    "温州",
    "嘉兴",
    "湖州",
    "绍兴",
    "金华",
    "衢州",
    "舟山",
    "丽水",
    "椒江",
    "路桥",
    "临海",
    "温岭",
    "玉环",
    "天台",
    "仙居",
    "三门",
];

fn starts_with_at(text: &[char], pos: usize, word: &str) -> bool {
    (pos..)
        .zip(word.chars())
        .all(|(i, c)| text.get(i) == Some(&c))
}

fn followed_by_any(text: &[char], pos: usize, words: &[&str]) -> bool {
    words.iter().any(|w| starts_with_at(text, pos, w))
}

fn is_cjk(c: char) -> bool {
    matches!(c, '\u{3400}'..='\u{9FFF}' | '\u{F900}'..='\u{FAFF}')
}

impl Gazetteer {
    /// Builds the gazetteer. Duplicates are dropped: a second place of the same kind and
    /// code, and a landmark with the same name as a station or post (`城南派出所` is both a
    /// `places.csv` row and post PP020). Missing `township_name`s are filled from the
    /// township places by code.
    pub fn new(places: Vec<Place>) -> Self {
        let mut seen = std::collections::HashSet::new();
        let office_names: std::collections::HashSet<String> = places
            .iter()
            .filter(|p| matches!(p.kind, PlaceKind::Station | PlaceKind::Post))
            .map(|p| alias::normalize_str(&p.name))
            .collect();
        let town_names: HashMap<String, String> = places
            .iter()
            .filter(|p| p.kind == PlaceKind::Township)
            .filter_map(|p| Some((p.code.clone()?, p.name.clone())))
            .collect();
        let places: Vec<Place> = places
            .into_iter()
            .filter(|p| match &p.code {
                Some(code) => seen.insert((p.kind, code.clone())),
                None => true,
            })
            .filter(|p| {
                p.kind != PlaceKind::Landmark
                    || !office_names.contains(&alias::normalize_str(&p.name))
            })
            .map(|mut p| {
                if p.township_name.is_none() {
                    p.township_name = p
                        .township_code
                        .as_ref()
                        .and_then(|c| town_names.get(c))
                        .cloned();
                }
                p
            })
            .collect();

        let mut tcode_ids: HashMap<String, u32> = HashMap::new();
        let tcode = places
            .iter()
            .map(|p| match &p.township_code {
                Some(c) => {
                    let next = tcode_ids.len() as u32;
                    *tcode_ids.entry(c.clone()).or_insert(next)
                }
                None => NONE,
            })
            .collect();

        // alias key → (form, targets)
        let mut keys: HashMap<String, (Form, Vec<u32>)> = HashMap::new();
        for (i, place) in places.iter().enumerate() {
            for (key, form) in alias::aliases_for(place) {
                let slot = keys.entry(key).or_insert((form, Vec::new()));
                if form > slot.0 {
                    *slot = (form, vec![i as u32]);
                } else if form == slot.0 && !slot.1.contains(&(i as u32)) {
                    slot.1.push(i as u32);
                }
            }
        }
        for noise in alias::NOISE {
            keys.entry(noise.to_string())
                .or_insert((Form::Noise, Vec::new()));
        }
        let mut sorted: Vec<(String, (Form, Vec<u32>))> = keys.into_iter().collect();
        sorted.sort_by(|a, b| a.0.cmp(&b.0));

        let mut g = Gazetteer {
            display: places.iter().map(alias::display_name).collect(),
            places,
            tcode,
            entries: Vec::with_capacity(sorted.len()),
            nodes: vec![Node {
                kids: Vec::new(),
                entry: NONE,
            }],
        };
        for (key, (form, targets)) in sorted {
            let id = g.entries.len() as u32;
            g.entries.push(Entry {
                form,
                len: key.chars().count(),
                targets,
            });
            g.insert(&key, id);
        }
        g
    }

    /// Builds the gazetteer from the project's geodata files (contents, not paths):
    /// `townships.geojson`, `grids.geojson`, `stations.geojson`, `posts.geojson` and
    /// `places.csv`. Landmarks get their township from the township polygons.
    pub fn from_geodata(
        townships: &str,
        grids: &str,
        stations: &str,
        posts: &str,
        places_csv: &str,
    ) -> Result<Self, GeocodeError> {
        let parse = |layer: &'static str, text: &str| {
            serde_json::from_str::<serde_json::Value>(text)
                .map_err(|source| GeocodeError::Json { layer, source })
        };
        let townships = parse("townships", townships)?;
        let mut places = places_from_feature_collection(PlaceKind::Township, &townships);
        places.extend(places_from_feature_collection(
            PlaceKind::Village,
            &parse("grids", grids)?,
        ));
        places.extend(places_from_feature_collection(
            PlaceKind::Station,
            &parse("stations", stations)?,
        ));
        places.extend(places_from_feature_collection(
            PlaceKind::Post,
            &parse("posts", posts)?,
        ));
        let mut landmarks = landmarks_from_csv(places_csv);
        assign_townships(&mut landmarks, &townships);
        places.extend(landmarks);
        Ok(Self::new(places))
    }

    fn insert(&mut self, key: &str, id: u32) {
        let mut node = 0usize;
        for c in key.chars() {
            node = match self.nodes[node].kids.binary_search_by_key(&c, |k| k.0) {
                Ok(i) => self.nodes[node].kids[i].1 as usize,
                Err(i) => {
                    let next = self.nodes.len();
                    self.nodes.push(Node {
                        kids: Vec::new(),
                        entry: NONE,
                    });
                    self.nodes[node].kids.insert(i, (c, next as u32));
                    next
                }
            };
        }
        self.nodes[node].entry = id;
    }

    /// Number of places (after de-duplication).
    pub fn len(&self) -> usize {
        self.places.len()
    }

    pub fn is_empty(&self) -> bool {
        self.places.is_empty()
    }

    /// Number of distinct alias keys (including the administrative prefixes).
    pub fn alias_count(&self) -> usize {
        self.entries.len()
    }

    /// The places, in insertion order (after de-duplication).
    pub fn places(&self) -> &[Place] {
        &self.places
    }

    /// The non-overlapping alias occurrences covering the most of the text, sorted by start.
    fn scan(&self, text: &[char]) -> Vec<Hit> {
        let mut hits = Vec::new();
        for start in 0..text.len() {
            let mut node = 0usize;
            for (i, c) in text[start..].iter().enumerate() {
                let kids = &self.nodes[node].kids;
                match kids.binary_search_by_key(c, |k| k.0) {
                    Ok(k) => node = kids[k].1 as usize,
                    Err(_) => break,
                }
                let entry = self.nodes[node].entry;
                if entry != NONE {
                    hits.push(Hit {
                        start,
                        end: start + i + 1,
                        entry,
                    });
                }
            }
        }
        if hits.len() > 1 {
            // Segmentation covering the most characters, then with the fewest hits;
            // ties go to the longer, earlier hit (`头陀镇西村` = 头陀 + 镇西村, not 头陀镇 + 西村).
            // `hits` is sorted by start, then by length ascending.
            let n = text.len();
            let mut best = vec![(0usize, 0usize); n + 1];
            let mut choice = vec![NONE; n + 1];
            let mut k = hits.len();
            for i in (0..n).rev() {
                best[i] = best[i + 1];
                let better =
                    |a: (usize, usize), b: (usize, usize)| a.0 > b.0 || (a.0 == b.0 && a.1 < b.1);
                let mut take: Option<((usize, usize), u32)> = None;
                while k > 0 && hits[k - 1].start == i {
                    k -= 1;
                    let h = hits[k];
                    let score = (h.end - h.start + best[h.end].0, best[h.end].1 + 1);
                    if take.is_none_or(|(t, _)| better(score, t)) {
                        take = Some((score, k as u32));
                    }
                }
                if let Some((score, idx)) = take {
                    if !better(best[i], score) {
                        best[i] = score;
                        choice[i] = idx;
                    }
                }
            }
            let mut picked = Vec::new();
            let mut i = 0;
            while i < n {
                if choice[i] == NONE {
                    i += 1;
                } else {
                    let h = hits[choice[i] as usize];
                    picked.push(h);
                    i = h.end;
                }
            }
            hits = picked;
        }
        hits
    }

    fn is_foreign(&self, text: &[char], lead: usize, hits: &[Hit]) -> bool {
        let alias_at_lead = hits.iter().any(|h| h.start == lead);
        if !alias_at_lead {
            if FOREIGN.iter().any(|w| starts_with_at(text, lead, w)) {
                return true;
            }
            // `XX省`, `XX市`, `XXX县` … as the first word (not `农贸市场`).
            for n in 2..=3 {
                if text.len() > lead + n
                    && text[lead..lead + n].iter().all(|&c| is_cjk(c))
                    && matches!(text[lead + n], '省' | '市' | '县')
                    && text.get(lead + n + 1) != Some(&'场')
                {
                    return true;
                }
            }
        }
        // `马鞍山市`, `东城区` (Beijing), `新桥镇`…: a short form followed by an
        // administrative suffix is another place of the same name.
        let shadowed = hits.iter().any(|h| {
            matches!(
                self.entries[h.entry as usize].form,
                Form::Bare | Form::TownShort
            ) && !hits.iter().any(|g| g.start == h.end)
                && matches!(text.get(h.end), Some('省' | '市' | '县' | '区'))
                && !matches!(text.get(h.end + 1), Some('场' | '域'))
        });
        if shadowed {
            return true;
        }
        (0..text.len()).any(|i| {
            FOREIGN.iter().any(|w| {
                starts_with_at(text, i, w)
                    && matches!(
                        text.get(i + w.chars().count()),
                        Some('省' | '市' | '县' | '区')
                    )
                    && !hits.iter().any(|h| {
                        h.start <= i
                            && i < h.end
                            && self.entries[h.entry as usize].form != Form::Noise
                    })
            })
        })
    }

    fn confidence(kind: PlaceKind, status: Status, form: Form) -> f32 {
        use confidence as c;
        let bare = form == Form::Bare;
        match (kind, status) {
            (_, Status::Conflict) => c::CONFLICT,
            (_, Status::Resolved) => c::RESOLVED,
            (PlaceKind::Village, Status::Consistent) if bare => c::VILLAGE_BARE_CONSISTENT,
            (PlaceKind::Village | PlaceKind::Township, Status::Consistent) => c::VILLAGE_CONSISTENT,
            (PlaceKind::Village | PlaceKind::Township, Status::Alone) if bare => c::VILLAGE_BARE,
            (PlaceKind::Village | PlaceKind::Township, Status::Alone) => c::VILLAGE,
            (PlaceKind::Station | PlaceKind::Post, Status::Consistent) => c::OFFICE_CONSISTENT,
            (PlaceKind::Station | PlaceKind::Post, Status::Alone) if bare => c::OFFICE_BARE,
            (PlaceKind::Station | PlaceKind::Post, Status::Alone) => c::OFFICE,
            (PlaceKind::Landmark, Status::Consistent) => c::LANDMARK_CONSISTENT,
            (PlaceKind::Landmark, Status::Alone) if bare => c::LANDMARK_BARE,
            (PlaceKind::Landmark, Status::Alone) => c::LANDMARK,
        }
    }

    fn is_township(&self, p: u32) -> bool {
        self.places[p as usize].kind == PlaceKind::Township
    }

    fn result(&self, p: u32, confidence: f32) -> GeocodeMatch {
        let place = &self.places[p as usize];
        let matched = match (&place.kind, &place.township_name) {
            (PlaceKind::Township, _) | (_, None) => self.display[p as usize].clone(),
            (_, Some(t)) => format!("{t} · {}", self.display[p as usize]),
        };
        GeocodeMatch {
            lon: place.lon,
            lat: place.lat,
            matched,
            kind: place.kind,
            confidence,
            code: place.code.clone(),
            township_code: place.township_code.clone(),
        }
    }

    /// Geocodes a free-text address; `None` when nothing in the district is recognised
    /// (never a guess). See the module docs for the rules.
    pub fn geocode(&self, address: &str) -> Option<GeocodeMatch> {
        let text = alias::normalize(address);
        if text.len() < 2 {
            return None;
        }
        let hits = self.scan(&text);
        let mut lead = 0;
        for h in &hits {
            if h.start == lead && self.entries[h.entry as usize].form == Form::Noise {
                lead = h.end;
            }
        }
        if self.is_foreign(&text, lead, &hits) {
            return None;
        }
        let hits: Vec<Hit> = hits
            .into_iter()
            .filter(|h| self.entries[h.entry as usize].form != Form::Noise)
            .collect();
        if hits.is_empty() {
            return None;
        }
        let n = text.len();

        // Context validity of two-character short forms, pass 1 (own context only).
        let needs_context = |h: &Hit| {
            let e = &self.entries[h.entry as usize];
            e.len == 2 && matches!(e.form, Form::Bare | Form::TownShort)
        };
        let is_town_hit = |h: &Hit| {
            self.entries[h.entry as usize]
                .targets
                .iter()
                .any(|&p| self.is_township(p))
        };
        let valid1: Vec<bool> = hits
            .iter()
            .map(|h| {
                if !needs_context(h) {
                    true
                } else if self.entries[h.entry as usize].form == Form::TownShort {
                    h.start == lead || h.end == n || followed_by_any(&text, h.end, TOWN_CONTEXT)
                } else {
                    followed_by_any(&text, h.end, PLACE_CONTEXT)
                }
            })
            .collect();
        let tcodes_of = |h: &Hit, town: bool| {
            self.entries[h.entry as usize]
                .targets
                .iter()
                .filter(move |&&p| self.is_township(p) == town)
                .map(|&p| self.tcode[p as usize])
                .filter(|&t| t != NONE)
        };
        // Pass 2: a consistent partner (valid, or adjacent: `院桥鉴湖`) validates it.
        let valid: Vec<bool> = hits
            .iter()
            .enumerate()
            .map(|(i, h)| {
                if valid1[i] {
                    return true;
                }
                let town = is_town_hit(h);
                let mine: Vec<u32> = tcodes_of(h, town).collect();
                hits.iter().enumerate().any(|(j, g)| {
                    j != i
                        && is_town_hit(g) != town
                        && (valid1[j]
                            || if town {
                                g.start == h.end
                            } else {
                                g.end == h.start
                            })
                        && tcodes_of(g, !town).any(|t| mine.contains(&t))
                })
            })
            .collect();

        // Townships mentioned: (tcode, place, end of the hit), in order.
        let mut towns: Vec<(u32, u32, usize)> = Vec::new();
        for (h, _) in hits.iter().zip(&valid).filter(|(_, v)| **v) {
            for &p in &self.entries[h.entry as usize].targets {
                if self.is_township(p) && !towns.iter().any(|t| t.1 == p) {
                    towns.push((self.tcode[p as usize], p, h.end));
                }
            }
        }
        let in_towns = |p: u32| {
            let t = self.tcode[p as usize];
            t != NONE && towns.iter().any(|x| x.0 == t)
        };

        // Point-level candidates.
        let mut best: Option<(f32, u8, usize, std::cmp::Reverse<usize>, u32)> = None;
        for (h, _) in hits.iter().zip(&valid).filter(|(_, v)| **v) {
            let entry = &self.entries[h.entry as usize];
            let points: Vec<u32> = entry
                .targets
                .iter()
                .copied()
                .filter(|&p| !self.is_township(p))
                .collect();
            let pick = if points.is_empty() {
                None
            } else if towns.is_empty() {
                (points.len() == 1).then(|| (points[0], Status::Alone))
            } else {
                let consistent: Vec<u32> =
                    points.iter().copied().filter(|&p| in_towns(p)).collect();
                match (consistent.len(), points.len()) {
                    (1, 1) => Some((consistent[0], Status::Consistent)),
                    (1, _) => Some((consistent[0], Status::Resolved)),
                    (0, 1) if self.tcode[points[0] as usize] == NONE => {
                        Some((points[0], Status::Alone))
                    }
                    (0, 1) if entry.form != Form::Bare => Some((points[0], Status::Conflict)),
                    _ => None,
                }
            };
            let Some((p, status)) = pick else { continue };
            let kind = self.places[p as usize].kind;
            let conf = Self::confidence(kind, status, entry.form);
            let kind_rank = match kind {
                PlaceKind::Station | PlaceKind::Post => 2,
                PlaceKind::Landmark => 1,
                PlaceKind::Village | PlaceKind::Township => 0,
            };
            let key = (conf, kind_rank, entry.len, std::cmp::Reverse(h.start), p);
            if best.is_none_or(|b| (key.0, key.1, key.2, key.3) > (b.0, b.1, b.2, b.3)) {
                best = Some(key);
            }
        }
        if let Some((conf, _, _, _, p)) = best {
            return Some(self.result(p, conf));
        }
        let &(t, p, end) = towns.first()?;
        let conf = if towns.iter().any(|x| x.0 != t) {
            confidence::TOWNSHIPS_SEVERAL
        } else if followed_by_any(&text, end, &["政府", "人民政府", "镇政府", "乡政府"])
        {
            confidence::TOWNSHIP_SEAT
        } else {
            confidence::TOWNSHIP
        };
        Some(self.result(p, conf))
    }
}
