//! The demo roster behind `serve --demo`: a realistic duty roster per post,
//! grid and station (officers, auxiliaries and a patrol car per police post,
//! a grid worker per grid, a cadre per township, lawyers, a prosecutor and
//! mediators per joint-duty station), all `demo: true` with `demo-` ids and
//! 【演示】 names, moved through the same position path as real devices:
//!
//! - free responders patrol: walk or drive towards a waypoint near their
//!   home at their type's pace, then pick the next (grid workers stay in
//!   their grid);
//! - a demo commander dispatches the nearest free officer or car to most
//!   P1/P2 demo incidents a few seconds after they arrive (the rest wait
//!   for a human commander on the console);
//! - dispatched demo responders acknowledge after a few seconds (one in
//!   eight never does, so the screen shows the timeout and the automatic
//!   re-offer), head to the incident, go `on_scene` on arrival and become
//!   `available` again after a while.

use std::collections::HashMap;
use std::time::Duration;

use chrono::Utc;
use geo::BoundingRect;
use rand::{rngs::SmallRng, Rng, SeedableRng};
use serde_json::Value;
use tokio::sync::watch;

use crate::config::DemoSettings;
use crate::dispatch::Query;
use crate::dispatcher::Dispatcher;
use crate::domain::{
    responder::mask_phone, Area, AssignmentStatus, Bbox, Fix, Position, ResponderSpec,
    ResponderType, Status,
};
use crate::live::WorldHandle;
use crate::spatial::haversine_m;
use crate::spatial::pip::PreparedArea;

/// Seconds between position reports of a demo device.
const TICK: Duration = Duration::from_secs(2);

const SURNAMES: &[char] = &[
    '王', '李', '张', '刘', '陈', '杨', '黄', '赵', '吴', '周', '徐', '孙', '朱', '胡', '林', '何',
    '郭', '罗', '郑', '梁', '谢', '叶', '蒋', '潘', '金', '应', '章', '蔡', '陶', '戴',
];
const GIVEN: &[char] = &[
    '伟', '芳', '敏', '静', '强', '磊', '军', '洋', '勇', '艳', '杰', '涛', '明', '超', '霞', '平',
    '刚', '辉', '鹏', '华', '丹', '浩', '宇', '婷', '斌', '峰', '建', '国', '海', '波',
];

/// Walking / driving pace of a patrol, km/h, by type.
fn patrol_kmh(kind: ResponderType) -> f64 {
    match kind {
        ResponderType::PatrolCar | ResponderType::Fire => 25.0,
        ResponderType::Police | ResponderType::Auxiliary => 5.0,
        ResponderType::Grid | ResponderType::Cadre => 4.0,
        _ => 3.0,
    }
}

/// Response pace, km/h (faster than patrol).
fn response_kmh(kind: ResponderType) -> f64 {
    match kind {
        ResponderType::PatrolCar | ResponderType::Fire => 40.0,
        ResponderType::Police | ResponderType::Auxiliary => 25.0,
        ResponderType::Grid | ResponderType::Cadre => 15.0,
        _ => 20.0,
    }
}

struct Walker {
    id: String,
    kind: ResponderType,
    home: (f64, f64),
    range_m: f64,
    /// Grid workers stay inside their grid.
    area: Option<PreparedArea>,
    at: (f64, f64),
    target: (f64, f64),
    /// When this walker may next change status on its own (ack, clear).
    next_step: chrono::DateTime<Utc>,
    /// Will this walker ignore its current dispatch (to show timeouts)?
    ignores: bool,
    /// The assignment this walker last reacted to.
    seen: Option<i64>,
}

fn name(rng: &mut SmallRng) -> String {
    let s = SURNAMES[rng.gen_range(0..SURNAMES.len())];
    let g1 = GIVEN[rng.gen_range(0..GIVEN.len())];
    if rng.gen_bool(0.5) {
        format!("【演示】{s}{g1}")
    } else {
        let g2 = GIVEN[rng.gen_range(0..GIVEN.len())];
        format!("【演示】{s}{g1}{g2}")
    }
}

fn jitter(rng: &mut SmallRng, (lon, lat): (f64, f64), metres: f64) -> (f64, f64) {
    let r = metres * rng.gen_range(0.0f64..1.0).sqrt();
    let a = rng.gen_range(0.0..std::f64::consts::TAU);
    (
        lon + r * a.cos() / (111_320.0 * lat.to_radians().cos()),
        lat + r * a.sin() / 110_574.0,
    )
}

fn point_in(rng: &mut SmallRng, area: &Area) -> Option<(f64, f64)> {
    let prepared = PreparedArea::new(&area.geometry)?;
    let bb = area.geometry.bounding_rect()?;
    (0..64).find_map(|_| {
        let x = rng.gen_range(bb.min().x..=bb.max().x);
        let y = rng.gen_range(bb.min().y..=bb.max().y);
        prepared.contains(x, y).then_some((x, y))
    })
}

/// A walker's status and (assignment id, incident id, assignment status).
type WalkerState = (Status, Option<(i64, i64, AssignmentStatus)>);

struct Planned {
    spec: ResponderSpec,
    walker: Walker,
}

/// Builds the roster from the layers (deterministic for a seed).
fn plan(world: &WorldHandle, rng: &mut SmallRng) -> Vec<Planned> {
    let snap = world.snapshot();
    let layers = &snap.layers;
    let urban = |code: &Option<String>| {
        code.as_deref().is_some_and(|c| {
            layers
                .townships
                .iter()
                .find(|t| t.code == *c)
                .is_some_and(|t| super::township_weight(t) >= 12)
        })
    };
    let mut out = Vec::new();
    let mut push = |rng: &mut SmallRng,
                    id: String,
                    kind: ResponderType,
                    skills: &[&str],
                    home: (f64, f64),
                    range_m: f64,
                    area: Option<&Area>,
                    station: Option<String>,
                    post: Option<String>,
                    department: String| {
        let status = match rng.gen_range(0..100) {
            0..=79 => Status::Available,
            80..=94 => Status::Busy,
            _ => Status::OffDuty,
        };
        let phone = format!("13{}", rng.gen_range(100_000_000u64..999_999_999));
        let at = jitter(rng, home, range_m * 0.5);
        out.push(Planned {
            spec: ResponderSpec {
                id: id.clone(),
                name: name(rng),
                kind,
                skills: skills.iter().map(|s| s.to_string()).collect(),
                station,
                post,
                department: Some(department),
                phone_masked: Some(mask_phone(&phone)),
                shift: Some(
                    if rng.gen_bool(0.5) {
                        "08:00-20:00"
                    } else {
                        "20:00-08:00"
                    }
                    .into(),
                ),
                status: Some(status),
                demo: true,
            },
            walker: Walker {
                id,
                kind,
                home,
                range_m,
                area: area.and_then(|a| PreparedArea::new(&a.geometry)),
                at,
                target: at,
                next_step: Utc::now(),
                ignores: false,
                seen: None,
            },
        });
    };
    let station_of = |township: &Option<String>| -> Option<String> {
        let t = township.as_deref()?;
        layers
            .stations
            .iter()
            .find(|s| s.serves.iter().any(|c| c == t))
            .map(|s| s.code.clone())
    };
    for post in &layers.posts {
        let home = (post.point.x(), post.point.y());
        let station = station_of(&post.township_code);
        let dept = post.name.clone();
        let (officers, aux, cars) = if urban(&post.township_code) {
            (6, 4, 2)
        } else {
            (3, 2, 1)
        };
        let range = if urban(&post.township_code) {
            1500.0
        } else {
            3500.0
        };
        for i in 0..officers {
            let skills: &[&str] = match i % 3 {
                0 => &["driving", "first_aid"],
                1 => &["driving", "anti_fraud"],
                _ => &["first_aid"],
            };
            push(
                rng,
                format!("demo-{}-M{:02}", post.code, i + 1),
                ResponderType::Police,
                skills,
                home,
                range,
                None,
                station.clone(),
                Some(post.code.clone()),
                dept.clone(),
            );
        }
        for i in 0..aux {
            push(
                rng,
                format!("demo-{}-F{:02}", post.code, i + 1),
                ResponderType::Auxiliary,
                &["first_aid"],
                home,
                range,
                None,
                station.clone(),
                Some(post.code.clone()),
                dept.clone(),
            );
        }
        for i in 0..cars {
            push(
                rng,
                format!("demo-{}-C{:02}", post.code, i + 1),
                ResponderType::PatrolCar,
                &["driving", "first_aid"],
                home,
                range * 2.0,
                None,
                station.clone(),
                Some(post.code.clone()),
                dept.clone(),
            );
        }
    }
    for grid in &layers.grids {
        let Some(home) = point_in(rng, grid) else {
            continue;
        };
        let station = station_of(&grid.parent_code);
        push(
            rng,
            format!("demo-{}-W", grid.code),
            ResponderType::Grid,
            &["visiting", "mediation"],
            home,
            800.0,
            Some(grid),
            station,
            None,
            format!("{}网格", grid.name.trim_end_matches("网格")),
        );
    }
    for t in &layers.townships {
        let (Some(lon), Some(lat)) = (
            t.props.get("seat_lon").and_then(Value::as_f64),
            t.props.get("seat_lat").and_then(Value::as_f64),
        ) else {
            continue;
        };
        let station = station_of(&Some(t.code.clone()));
        push(
            rng,
            format!("demo-{}-K", t.code),
            ResponderType::Cadre,
            &["mediation"],
            (lon, lat),
            2000.0,
            Some(t),
            station,
            None,
            format!("{}综治办", t.name),
        );
    }
    for st in &layers.stations {
        let home = (st.point.x(), st.point.y());
        let dept = st.name.clone();
        for (i, (kind, skills)) in [
            (ResponderType::Lawyer, &["legal_aid"][..]),
            (ResponderType::Lawyer, &["legal_aid", "mediation"][..]),
            (ResponderType::Prosecutor, &["prosecution"][..]),
            (ResponderType::Mediator, &["mediation"][..]),
            (ResponderType::Mediator, &["mediation", "psychology"][..]),
        ]
        .into_iter()
        .enumerate()
        {
            push(
                rng,
                format!("demo-{}-S{:02}", st.code, i + 1),
                kind,
                skills,
                home,
                600.0,
                None,
                Some(st.code.clone()),
                None,
                dept.clone(),
            );
        }
    }
    out
}

impl Walker {
    fn pick_target(&mut self, rng: &mut SmallRng) {
        for _ in 0..16 {
            let p = jitter(rng, self.home, self.range_m);
            if self.area.as_ref().is_none_or(|a| a.contains(p.0, p.1)) {
                self.target = p;
                return;
            }
        }
        self.target = self.home;
    }

    /// Moves towards `to` at `kmh` for one tick; true when there.
    fn step(&mut self, to: (f64, f64), kmh: f64, rng: &mut SmallRng) -> bool {
        let d = haversine_m(self.at.0, self.at.1, to.0, to.1);
        let stride = kmh / 3.6 * TICK.as_secs_f64() * rng.gen_range(0.7..1.2);
        if d <= stride.max(1.0) {
            self.at = to;
            return true;
        }
        let f = stride / d;
        self.at = (
            self.at.0 + (to.0 - self.at.0) * f,
            self.at.1 + (to.1 - self.at.1) * f,
        );
        false
    }
}

/// Runs until `shutdown` flips.
pub async fn run(
    dispatcher: Dispatcher,
    world: WorldHandle,
    settings: DemoSettings,
    mut shutdown: watch::Receiver<bool>,
) {
    if world.snapshot().layers.posts.is_empty() {
        tracing::warn!(
            "demo roster: no posts loaded; import geodata first. Demo roster not started"
        );
        return;
    }
    let mut rng = SmallRng::seed_from_u64(settings.seed.unwrap_or(0x4c51_5253));
    let planned = plan(&world, &mut rng);
    let specs: Vec<ResponderSpec> = planned.iter().map(|p| p.spec.clone()).collect();
    let mut walkers: Vec<Walker> = planned.into_iter().map(|p| p.walker).collect();
    for chunk in specs.chunks(500) {
        if let Err(e) = dispatcher.upsert(chunk.to_vec()).await {
            tracing::warn!(error = %e, "demo roster: upsert failed; demo roster not started");
            return;
        }
    }
    // continue from stored positions after a restart
    world.roster().read(|r| {
        for w in &mut walkers {
            if let Some(f) = r.by_id(&w.id).and_then(|x| x.fix) {
                w.at = (f.position.lon(), f.position.lat());
                w.target = w.at;
            }
        }
    });
    tracing::info!(
        responders = walkers.len(),
        "demo roster started (all responders marked demo)"
    );
    let Some(mut sub) = world.subscribe(Bbox::world(), 0, false).await else {
        return;
    };
    let mut incidents: HashMap<i64, (f64, f64)> = HashMap::new();
    let mut to_dispatch: Vec<(chrono::DateTime<Utc>, i64, (f64, f64))> = Vec::new();
    let mut tick = tokio::time::interval(TICK);
    loop {
        tokio::select! {
            _ = shutdown.changed() => break,
            ev = sub.events.recv() => {
                match ev {
                    Ok(ev) => {
                        if let crate::live::EventBody::One { json, .. } = &ev.body {
                            note_incident(json, &mut incidents, &mut to_dispatch, &mut rng);
                        }
                    }
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                    Err(_) => break,
                }
                continue;
            }
            _ = tick.tick() => {}
        }
        let now = Utc::now();
        // the demo commander
        let due: Vec<_> = to_dispatch
            .iter()
            .filter(|(at, _, _)| *at <= now)
            .cloned()
            .collect();
        to_dispatch.retain(|(at, _, _)| *at > now);
        for (_, incident_id, (lon, lat)) in due {
            let Ok(p) = Position::new(lon, lat) else {
                continue;
            };
            let pick = world.roster().read(|r| {
                let q = Query {
                    kinds: vec![ResponderType::Police, ResponderType::PatrolCar],
                    statuses: vec![Status::Available],
                    ..Default::default()
                };
                r.nearest(p, 1, &q, now)
                    .first()
                    .map(|h| r.get(h.slot).spec.id.clone())
            });
            if let Some(id) = pick {
                let _ = dispatcher
                    .assign(incident_id, vec![id], Some("demo".into()))
                    .await;
            }
        }
        // every walker: its state decides what it does this tick
        let states: Vec<WalkerState> = world.roster().read(|r| {
            walkers
                .iter()
                .map(|w| match r.by_id(&w.id) {
                    Some(x) => (
                        x.status,
                        x.assignment
                            .as_ref()
                            .map(|a| (a.id, a.incident_id, a.status)),
                    ),
                    None => (Status::OffDuty, None),
                })
                .collect()
        });
        let mut fixes = Vec::with_capacity(walkers.len());
        for (w, (status, assignment)) in walkers.iter_mut().zip(states) {
            let moved = match (status, assignment) {
                (Status::OffDuty, _) => false,
                (Status::Dispatched, Some((aid, _, _))) => {
                    if w.seen != Some(aid) {
                        // a new dispatch: answer in a few seconds, or never (1 in 8)
                        w.seen = Some(aid);
                        w.ignores = rng.gen_bool(0.125);
                        w.next_step = now + chrono::Duration::seconds(rng.gen_range(3..12));
                    } else if now >= w.next_step && !w.ignores {
                        let _ = dispatcher.ack(aid).await;
                        w.next_step = now + chrono::Duration::hours(1);
                    }
                    false
                }
                (Status::EnRoute, Some((_, incident, _))) => {
                    let to = match incidents.get(&incident) {
                        Some(p) => Some(*p),
                        None => incident_position(&dispatcher, incident).await.inspect(|p| {
                            incidents.insert(incident, *p);
                        }),
                    };
                    match to {
                        Some(to) => {
                            if w.step(to, response_kmh(w.kind), &mut rng) {
                                let _ = dispatcher.set_status(w.id.clone(), Status::OnScene).await;
                                w.next_step =
                                    now + chrono::Duration::seconds(rng.gen_range(60..240));
                            }
                            true
                        }
                        None => false,
                    }
                }
                (Status::OnScene, _) => {
                    if now >= w.next_step {
                        let _ = dispatcher.set_status(w.id.clone(), Status::Available).await;
                        w.pick_target(&mut rng);
                    }
                    false
                }
                (Status::Dispatched, None) | (Status::EnRoute, None) => {
                    let _ = dispatcher.set_status(w.id.clone(), Status::Available).await;
                    false
                }
                (Status::Available, _) | (Status::Busy, _) => {
                    if w.step(w.target, patrol_kmh(w.kind), &mut rng) {
                        w.pick_target(&mut rng);
                    }
                    true
                }
            };
            let _ = moved;
            if status != Status::OffDuty {
                let Ok(position) = Position::new(w.at.0, w.at.1) else {
                    continue;
                };
                fixes.push((
                    w.id.clone(),
                    Fix {
                        position,
                        ts: now,
                        speed_mps: None,
                        heading: None,
                        accuracy_m: Some(rng.gen_range(5.0..25.0f64).round()),
                        altitude_m: None,
                        battery: None,
                    },
                ));
            }
        }
        if world.positions(fixes).await.is_none() {
            break;
        }
    }
    tracing::info!("demo roster stopped");
}

/// Remembers a streamed incident's place; P1/P2 demo incidents are queued
/// for the demo commander.
fn note_incident(
    json: &str,
    incidents: &mut HashMap<i64, (f64, f64)>,
    to_dispatch: &mut Vec<(chrono::DateTime<Utc>, i64, (f64, f64))>,
    rng: &mut SmallRng,
) {
    let Ok(v) = serde_json::from_str::<Value>(json) else {
        return;
    };
    if v["type"] != "incident" {
        return;
    }
    let f = &v["feature"];
    let (Some(id), Some(lon), Some(lat)) = (
        f["id"].as_i64(),
        f["geometry"]["coordinates"][0].as_f64(),
        f["geometry"]["coordinates"][1].as_f64(),
    ) else {
        return;
    };
    if incidents.len() > 5000 {
        incidents.clear();
    }
    incidents.insert(id, (lon, lat));
    let demo = f["properties"]["demo"].as_bool() == Some(true);
    let urgent = f["properties"]["priority"].as_i64().is_some_and(|p| p <= 2);
    if demo && urgent && rng.gen_bool(0.7) {
        to_dispatch.push((
            Utc::now() + chrono::Duration::seconds(rng.gen_range(5..20)),
            id,
            (lon, lat),
        ));
    }
}

async fn incident_position(d: &Dispatcher, id: i64) -> Option<(f64, f64)> {
    let inc = crate::store::incidents::get(d.pool(), id).await.ok()??;
    let p = inc.position?;
    Some((p.lon(), p.lat()))
}
