//! The demo feed behind `serve --demo`: simulated incidents from the source
//! systems, posted through the same [`Ingest`] path as the API, every one
//! marked `demo: true` and with a `demo-` source id so it can never be
//! mistaken for a real record.
//!
//! What it simulates: 110 calls, 12345 hotline orders, petitions, mediation
//! cases, grid workers' reports, station tasks and judicial-office requests,
//! with plausible Chinese descriptions; denser in the urban subdistricts
//! (东城/西城/南城/北城), and about one in five a repeat call from near an
//! earlier place (the repeat-call pattern later clustering work looks for).

pub mod roster;

use std::collections::VecDeque;
use std::time::Duration;

use chrono::Utc;
use geo::BoundingRect;
use rand::{rngs::SmallRng, Rng, SeedableRng};
use tokio::sync::watch;

use crate::config::DemoSettings;
use crate::domain::{Area, NewIncident, Position, Source};
use crate::ingest::Ingest;
use crate::live::WorldHandle;
use crate::spatial::pip::PreparedArea;

/// (category, description, priority) per source.
fn templates(source: Source) -> &'static [(&'static str, &'static str, u8)] {
    match source {
        Source::Police110 => &[
            ("治安", "有人在店门口打架，双方情绪激动", 2),
            ("盗窃", "电动车停在楼下被盗", 3),
            ("交通", "两车相撞，有人受伤，需要救护车", 1),
            ("求助", "老人走失，穿灰色外套，有轻度认知障碍", 2),
            ("纠纷", "邻里因噪音发生争吵", 3),
            ("诈骗", "接到冒充客服电话，已转账两万元", 2),
            ("火情", "居民楼道冒烟，疑似电动车充电起火", 1),
        ],
        Source::Hotline12345 => &[
            ("城市管理", "路边占道经营，影响通行", 4),
            ("环境", "工厂夜间排放异味，周边居民反映强烈", 3),
            ("劳动保障", "工地拖欠农民工工资三个月", 3),
            ("市场监管", "餐馆卫生状况差，食用后腹泻", 3),
        ],
        Source::Petition => &[
            ("信访", "对征地补偿标准有异议，多次反映未解决", 3),
            ("信访", "反映村务公开不到位", 4),
        ],
        Source::Mediation => &[
            ("矛盾纠纷", "宅基地边界纠纷，双方各执一词", 3),
            ("矛盾纠纷", "婚姻家庭纠纷，需要调解", 3),
            ("矛盾纠纷", "承包合同纠纷，涉及多户村民", 3),
        ],
        Source::Grid => &[
            ("安全隐患", "网格员巡查发现出租房消防通道堵塞", 3),
            ("安全隐患", "河道护栏损坏，存在落水隐患", 3),
            ("重点人员", "走访发现独居老人身体不适", 3),
            ("矛盾纠纷", "网格员发现两户因排水问题起争执", 3),
        ],
        Source::Station => &[
            ("联勤任务", "联勤工作站组织夜间巡防", 4),
            ("联勤任务", "配合开展反诈宣传进社区", 4),
        ],
        Source::Sensor => &[
            ("smoke", "烟感告警：出租房内检测到烟雾浓度超标", 2),
            ("crowd", "视频告警：路口识别到人员异常聚集", 3),
        ],
        Source::Eido => &[("EIDO", "邻区指挥中心移交：高速出口车辆故障占道", 3)],
        Source::Judicial => &[("法律服务", "群众咨询遗产继承法律问题", 4)],
        Source::Other => &[("其他", "其他部门转来事项", 4)],
    }
}

/// Source mix (weights out of 100).
const SOURCE_MIX: &[(Source, u32)] = &[
    (Source::Police110, 38),
    (Source::Grid, 20),
    (Source::Hotline12345, 15),
    (Source::Mediation, 10),
    (Source::Petition, 8),
    (Source::Station, 5),
    (Source::Sensor, 3),
    (Source::Eido, 1),
];

const ROADS: &[&str] = &[
    "劳动路",
    "天长路",
    "县前街",
    "大桥路",
    "环城东路",
    "青年路",
    "江滨路",
    "北院大道",
    "西城路",
    "桔乡大道",
];
const REPEAT_SHARE: f64 = 0.2;

pub(crate) fn township_weight(area: &Area) -> u32 {
    let kind = area
        .props
        .get("kind")
        .and_then(|v| v.as_str())
        .unwrap_or("");
    match area.name.as_str() {
        "东城街道" | "西城街道" | "南城街道" | "北城街道" => 12,
        _ if kind == "街道" => 5,
        _ if kind == "镇" => 3,
        _ => 1,
    }
}

fn pick_weighted<'a, T>(rng: &mut SmallRng, items: &'a [(T, u32)]) -> &'a T {
    let total: u32 = items.iter().map(|(_, w)| w).sum();
    let mut r = rng.gen_range(0..total.max(1));
    for (item, w) in items {
        if r < *w {
            return item;
        }
        r -= w;
    }
    &items[0].0
}

struct Place {
    lon: f64,
    lat: f64,
    address: String,
    category: &'static str,
    description: &'static str,
    source: Source,
    priority: u8,
    repeat: bool,
}

/// Runs until `shutdown` flips. Without layers it logs and returns.
pub async fn run(
    ingest: Ingest,
    world: WorldHandle,
    settings: DemoSettings,
    mut shutdown: watch::Receiver<bool>,
) {
    let snap = world.snapshot();
    let layers = snap.layers.clone();
    if layers.grids.is_empty() || layers.townships.is_empty() {
        tracing::warn!(
            "demo feed: no townships or grids loaded; import geodata first. Demo feed not started"
        );
        return;
    }
    let seed = settings
        .seed
        .unwrap_or_else(|| Utc::now().timestamp_nanos_opt().unwrap_or(0) as u64);
    let mut rng = SmallRng::seed_from_u64(seed);
    let run_id = format!("{:x}", Utc::now().timestamp());
    // township weights and their grids (prepared for point sampling)
    let townships: Vec<(&Area, u32)> = layers
        .townships
        .iter()
        .map(|t| (t, township_weight(t)))
        .collect();
    let grids_of = |code: &str| -> Vec<&Area> {
        layers
            .grids
            .iter()
            .filter(|g| g.parent_code.as_deref() == Some(code))
            .collect()
    };
    let mut recent: VecDeque<Place> = VecDeque::with_capacity(64);
    let per_sec = (settings.per_minute / 60.0).max(0.001);
    tracing::info!(
        per_minute = settings.per_minute,
        seed,
        "demo feed started (all incidents marked demo)"
    );
    let mut n: u64 = 0;
    loop {
        // exponential inter-arrival times: a Poisson stream
        let wait = -rng.gen_range(f64::EPSILON..1.0f64).ln() / per_sec;
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs_f64(wait.min(60.0))) => {}
            _ = shutdown.changed() => break,
        }
        let place = if !recent.is_empty() && rng.gen_bool(REPEAT_SHARE) {
            let prev = &recent[rng.gen_range(0..recent.len())];
            // the same matter reported again, from within ~20 m of the first report
            Place {
                lon: prev.lon + rng.gen_range(-0.0002..0.0002),
                lat: prev.lat + rng.gen_range(-0.00015..0.00015),
                address: prev.address.clone(),
                category: prev.category,
                description: prev.description,
                source: prev.source,
                priority: prev.priority,
                repeat: true,
            }
        } else {
            let Some(place) = fresh_place(&mut rng, &townships, &grids_of) else {
                continue;
            };
            place
        };
        n += 1;
        let Ok(position) = Position::new(place.lon, place.lat) else {
            continue;
        };
        let incident = NewIncident {
            source: place.source,
            source_id: format!("demo-{run_id}-{n}"),
            reported_at: Utc::now() - chrono::Duration::seconds(rng.gen_range(0..30)),
            position: Some(position),
            category: Some(place.category.to_string()),
            description: Some(format!(
                "【演示】{}{}",
                place.description,
                if place.repeat {
                    "（再次反映）"
                } else {
                    ""
                }
            )),
            address: Some(place.address.clone()),
            priority: Some(place.priority),
            demo: true,
            detail: Default::default(),
            raw: None,
        };
        if let Err(e) = ingest.submit_wait(vec![incident.into()]).await {
            tracing::warn!(error = %e, "demo feed: ingest failed");
        }
        if recent.len() == 50 {
            recent.pop_front();
        }
        recent.push_back(place);
    }
    tracing::info!(sent = n, "demo feed stopped");
}

fn fresh_place<'a>(
    rng: &mut SmallRng,
    townships: &[(&'a Area, u32)],
    grids_of: &dyn Fn(&str) -> Vec<&'a Area>,
) -> Option<Place> {
    let township = *pick_weighted(rng, townships);
    let grids = grids_of(&township.code);
    let grid = *grids.get(rng.gen_range(0..grids.len().max(1)))?;
    let prepared = PreparedArea::new(&grid.geometry)?;
    let bb = grid.geometry.bounding_rect()?;
    let (lon, lat) = (0..64).find_map(|_| {
        let x = rng.gen_range(bb.min().x..=bb.max().x);
        let y = rng.gen_range(bb.min().y..=bb.max().y);
        prepared.contains(x, y).then_some((x, y))
    })?;
    let source = *pick_weighted(rng, SOURCE_MIX);
    let list = templates(source);
    let (category, description, priority) = list[rng.gen_range(0..list.len())];
    let village = grid.name.trim_end_matches("网格");
    let road = ROADS[rng.gen_range(0..ROADS.len())];
    Some(Place {
        lon,
        lat,
        address: format!(
            "黄岩区{}{}{}{}号附近",
            township.name,
            village,
            road,
            rng.gen_range(1..300)
        ),
        category,
        description,
        source,
        priority,
        repeat: false,
    })
}
