//! Bench of the responder index: `cargo bench --bench responders_index`.
//! Prints Markdown tables. 100k responders of 4 types (+50 lawyers) drawn as
//! Gaussian clusters around the 19 real township seats of Huangyan.
//! Set `TOWNSHIPS=path` to override the geojson location.

use lianqin::dispatch::index::{Entry, Filter, Hit, IndexConfig, ResponderIndex, Slot, NO_STATION};
use lianqin::domain::{Position, ResponderType, Status};
mod common;

use common::{draw_pos, load_seats, Seat};
use lianqin::spatial::geodesy::{haversine_m, LocalProjection};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use rstar::primitives::GeomWithData;
use rstar::RTree;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

const REPS: usize = 7;
const RARE_SKILL: u32 = 40;
const TYPES: [ResponderType; 4] = [
    ResponderType::Police,
    ResponderType::PatrolCar,
    ResponderType::Auxiliary,
    ResponderType::Grid,
];
const TYPE_SHARE: [f64; 4] = [0.35, 0.10, 0.30, 0.25];

fn make_entries(rng: &mut SmallRng, seats: &[Seat], n: usize) -> Vec<Entry> {
    let total_w: f64 = seats.iter().map(|s| s.weight).sum();
    let mut v = Vec::with_capacity(n + 50);
    for i in 0..n + 50 {
        let kind = if i >= n {
            ResponderType::Lawyer
        } else {
            let mut x: f64 = rng.gen();
            let mut t = TYPES[3];
            for (ty, share) in TYPES.iter().zip(TYPE_SHARE) {
                if x < share {
                    t = *ty;
                    break;
                }
                x -= share;
            }
            t
        };
        let mut skills = 0u64;
        for b in 0..16 {
            if rng.gen_bool(0.2) {
                skills |= 1 << b;
            }
        }
        if rng.gen_bool(0.005) {
            skills |= 1 << RARE_SKILL;
        }
        v.push(Entry {
            pos: Some(draw_pos(rng, seats, total_w)),
            kind,
            status: if rng.gen_bool(0.2) {
                Status::ALL[rng.gen_range(1..6)]
            } else {
                Status::Available
            },
            skills,
            station: if rng.gen_bool(0.1) {
                NO_STATION
            } else {
                rng.gen_range(0..60)
            },
            fix_ms: 1_000,
        });
    }
    v
}

/// Pre-generated random moves by up to ~50 m.
fn make_moves(rng: &mut SmallRng, entries: &[Entry], n: usize) -> Vec<(Slot, Position)> {
    let mut cur: Vec<Position> = entries.iter().map(|e| e.pos.unwrap()).collect();
    (0..n)
        .map(|_| {
            let s = rng.gen_range(0..cur.len());
            let p = cur[s];
            let np = Position::new(
                p.lon() + rng.gen_range(-0.00035..0.00035),
                p.lat() + rng.gen_range(-0.0003..0.0003),
            )
            .unwrap();
            cur[s] = np;
            (s as Slot, np)
        })
        .collect()
}

fn build(cfg: IndexConfig, entries: &[Entry]) -> ResponderIndex {
    let mut idx = ResponderIndex::new(cfg);
    for (i, e) in entries.iter().enumerate() {
        idx.upsert(i as Slot, *e);
    }
    idx
}

fn pct(v: &mut [f64], p: f64) -> f64 {
    v.sort_by(f64::total_cmp);
    v[((v.len() - 1) as f64 * p).round() as usize]
}

fn median(mut v: Vec<f64>) -> f64 {
    pct(&mut v, 0.5)
}

fn updates_per_s(idx: &mut ResponderIndex, moves: &[(Slot, Position)], reps: usize) -> Vec<f64> {
    let mut fix = 2_000;
    (0..reps)
        .map(|_| {
            let t = Instant::now();
            for &(s, p) in moves {
                fix += 1;
                idx.set_position(s, p, fix);
            }
            moves.len() as f64 / t.elapsed().as_secs_f64()
        })
        .collect()
}

fn updates_per_s_locked(
    idx: &Arc<RwLock<ResponderIndex>>,
    moves: &[(Slot, Position)],
    reps: usize,
) -> Vec<f64> {
    let mut fix = 3_000_000;
    (0..reps)
        .map(|_| {
            let t = Instant::now();
            for batch in moves.chunks(1_000) {
                let mut g = idx.write().unwrap();
                for &(s, p) in batch {
                    fix += 1;
                    g.set_position(s, p, fix);
                }
            }
            moves.len() as f64 / t.elapsed().as_secs_f64()
        })
        .collect()
}

/// Per-rep (p50, p99) latencies in µs; each query's latency includes taking the read lock.
fn query_latency(
    idx: &Arc<RwLock<ResponderIndex>>,
    q: Position,
    filter: &Filter,
    k: usize,
    per_rep: usize,
) -> (f64, f64, f64, f64, usize) {
    let mut out: Vec<Hit> = Vec::with_capacity(k);
    let mut p50s = Vec::new();
    let mut p99s = Vec::new();
    let mut inner50 = Vec::new();
    let mut p999s = Vec::new();
    let mut lat = Vec::with_capacity(per_rep);
    let mut inner = Vec::with_capacity(per_rep);
    for _ in 0..REPS {
        lat.clear();
        inner.clear();
        for _ in 0..per_rep {
            let t0 = Instant::now();
            let g = idx.read().unwrap();
            let t1 = Instant::now();
            g.nearest(q, k, filter, 0, &mut out);
            let t2 = Instant::now();
            drop(g);
            lat.push((t2 - t0).as_secs_f64() * 1e6);
            inner.push((t2 - t1).as_secs_f64() * 1e6);
        }
        p50s.push(pct(&mut lat, 0.5));
        p99s.push(pct(&mut lat, 0.99));
        p999s.push(pct(&mut lat, 0.999));
        inner50.push(pct(&mut inner, 0.5));
    }
    (
        median(p50s),
        median(p99s),
        median(p999s),
        median(inner50),
        out.len(),
    )
}

/// Streams positions through the lock: batches of 1,000 every 10 ms (100k/s).
fn start_writer(
    idx: Arc<RwLock<ResponderIndex>>,
    moves: Arc<Vec<(Slot, Position)>>,
    stop: Arc<AtomicBool>,
) -> std::thread::JoinHandle<(u64, f64)> {
    std::thread::spawn(move || {
        let mut i = 0usize;
        let mut fix = 10_000_000;
        let mut applied = 0u64;
        let t0 = Instant::now();
        let mut next = Instant::now();
        while !stop.load(Ordering::Relaxed) {
            {
                let mut g = idx.write().unwrap();
                for _ in 0..1_000 {
                    let (s, p) = moves[i % moves.len()];
                    i += 1;
                    fix += 1;
                    g.set_position(s, p, fix);
                }
            }
            applied += 1_000;
            next += Duration::from_millis(10);
            let now = Instant::now();
            if next > now {
                std::thread::sleep(next - now);
            }
        }
        (applied, applied as f64 / t0.elapsed().as_secs_f64())
    })
}

fn brute_knn(entries: &[Entry], q: Position, k: usize, f: &Filter, out: &mut Vec<(f64, Slot)>) {
    out.clear();
    for (i, e) in entries.iter().enumerate() {
        if let Some(p) = e.pos {
            if f.matches(i as Slot, e) {
                out.push((haversine_m(q.lon(), q.lat(), p.lon(), p.lat()), i as Slot));
            }
        }
    }
    let k = k.min(out.len());
    if k > 0 {
        out.select_nth_unstable_by(k - 1, |a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        out.truncate(k);
        out.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
    }
}

type Pt = GeomWithData<[f64; 2], Slot>;

fn time_us(reps: usize, per_rep: usize, mut f: impl FnMut()) -> (f64, f64) {
    let mut all = Vec::new();
    let mut p50s = Vec::new();
    for _ in 0..reps {
        let mut v = Vec::with_capacity(per_rep);
        for _ in 0..per_rep {
            let t = Instant::now();
            f();
            v.push(t.elapsed().as_secs_f64() * 1e6);
        }
        p50s.push(pct(&mut v, 0.5));
        all.extend(v);
    }
    (median(p50s), pct(&mut all, 0.99))
}

fn main() {
    let started = Instant::now();
    let seats = load_seats();
    let urban = seats.iter().find(|s| s.name == "东城街道").unwrap();
    let mountain = seats.iter().min_by(|a, b| a.lon.total_cmp(&b.lon)).unwrap();
    let q_urban = Position::new(urban.lon, urban.lat).unwrap();
    let q_mountain = Position::new(mountain.lon, mountain.lat).unwrap();
    let mut rng = SmallRng::seed_from_u64(42);
    let entries = make_entries(&mut rng, &seats, 100_000);
    let moves = make_moves(&mut rng, &entries, 1_000_000);
    println!(
        "# responders_index bench\n\n{} responders ({} lawyers), {} pre-generated moves (≤ ~50 m); \
         urban query {} ({}, {}), mountain query {} ({}, {}); {} reps; medians.\n",
        entries.len(),
        entries.iter().filter(|e| e.kind == ResponderType::Lawyer).count(),
        moves.len(),
        urban.name,
        urban.lon,
        urban.lat,
        mountain.name,
        mountain.lon,
        mountain.lat,
        REPS
    );
    let police = Filter::available(ResponderType::Police);

    // --- cell size sweep (no concurrent writer) ---
    println!("## Cell size (k=5 available police, no writer)\n");
    println!("| cell | moves/s (median of {REPS}) | urban p50 µs | mountain p50 µs | rare skill urban p50 µs | rare skill mountain p50 µs | lawyer mountain p50 µs |");
    println!("|---|---|---|---|---|---|---|");
    for cell_m in [125.0, 250.0, 500.0, 1000.0] {
        let cfg = IndexConfig {
            cell_m,
            ..IndexConfig::default()
        };
        let mut idx = build(cfg, &entries);
        let ups = median(updates_per_s(&mut idx, &moves[..300_000], REPS));
        let idx = Arc::new(RwLock::new(idx));
        let u = query_latency(&idx, q_urban, &police, 5, 10_000);
        let m = query_latency(&idx, q_mountain, &police, 5, 10_000);
        let rs = query_latency(
            &idx,
            q_urban,
            &police.clone().with_skill(RARE_SKILL),
            5,
            2_000,
        );
        let rm = query_latency(
            &idx,
            q_mountain,
            &police.clone().with_skill(RARE_SKILL),
            5,
            1_000,
        );
        let lw = query_latency(
            &idx,
            q_mountain,
            &Filter::available(ResponderType::Lawyer),
            5,
            1_000,
        );
        println!(
            "| {cell_m} m | {:.2} M | {:.2} | {:.2} | {:.2} | {:.2} | {:.2} |",
            ups / 1e6,
            u.3,
            m.3,
            rs.3,
            rm.3,
            lw.3
        );
    }

    // --- main table at the default cell size ---
    let cfg = IndexConfig::default();
    let mut idx = build(cfg, &entries);
    println!("\n## Updates (cell {} m, 1M moves per rep)\n", cfg.cell_m);
    println!("| mode | median moves/s | p99 (slowest rep) moves/s |");
    println!("|---|---|---|");
    let mut v = updates_per_s(&mut idx, &moves, REPS);
    let (med, low) = (median(v.clone()), pct(&mut v, 0.0));
    println!("| no lock | {:.2} M | {:.2} M |", med / 1e6, low / 1e6);
    let idx = Arc::new(RwLock::new(idx));
    let mut v = updates_per_s_locked(&idx, &moves, REPS);
    let (med, low) = (median(v.clone()), pct(&mut v, 0.0));
    println!(
        "| write lock per 1,000 | {:.2} M | {:.2} M |",
        med / 1e6,
        low / 1e6
    );

    println!("\n## Queries, k = 5, while a writer streams 100k moves/s through the RwLock\n");
    println!(
        "Latency includes taking the read lock; \"inner\" is the query alone under the guard.\n"
    );
    println!("| query | hits | p50 µs | p99 µs | p99.9 µs | inner p50 µs |");
    println!("|---|---|---|---|---|---|");
    let stop = Arc::new(AtomicBool::new(false));
    let writer = start_writer(idx.clone(), Arc::new(moves.clone()), stop.clone());
    let lawyer = Filter::available(ResponderType::Lawyer);
    let rare = police.clone().with_skill(RARE_SKILL);
    let cases: [(&str, Position, &Filter, usize); 6] = [
        ("urban, available police", q_urban, &police, 20_000),
        ("mountain, available police", q_mountain, &police, 20_000),
        ("urban, police + 0.5 % skill", q_urban, &rare, 2_000),
        ("mountain, police + 0.5 % skill", q_mountain, &rare, 2_000),
        ("urban, lawyer (50 total)", q_urban, &lawyer, 5_000),
        ("mountain, lawyer (50 total)", q_mountain, &lawyer, 5_000),
    ];
    for (name, q, f, n) in cases {
        let (p50, p99, p999, inner, hits) = query_latency(&idx, q, f, 5, n);
        println!("| {name} | {hits} | {p50:.2} | {p99:.2} | {p999:.2} | {inner:.2} |");
    }
    stop.store(true, Ordering::Relaxed);
    let (applied, rate) = writer.join().unwrap();
    println!(
        "\n(writer applied {applied} moves during the query phase, {:.0}/s)",
        rate
    );

    // --- comparison: brute force and rstar ---
    println!("\n## Comparison (no concurrent writer)\n");
    println!("| method | moves/s | urban k=5 p50 µs | urban p99 µs | mountain k=5 p50 µs | mountain p99 µs |");
    println!("|---|---|---|---|---|---|");
    {
        let g = idx.read().unwrap();
        let mut out = Vec::new();
        let (u50, u99) = time_us(REPS, 3_000, || g.nearest(q_urban, 5, &police, 0, &mut out));
        let (m50, m99) = time_us(REPS, 3_000, || {
            g.nearest(q_mountain, 5, &police, 0, &mut out)
        });
        println!("| grid (this) | see above | {u50:.2} | {u99:.2} | {m50:.2} | {m99:.2} |");
    }
    let cur: Vec<Entry> = {
        let g = idx.read().unwrap();
        (0..entries.len() as Slot)
            .map(|s| *g.get(s).unwrap())
            .collect()
    };
    {
        let mut out = Vec::new();
        let (u50, u99) = time_us(REPS, 20, || brute_knn(&cur, q_urban, 5, &police, &mut out));
        let (m50, m99) = time_us(REPS, 20, || {
            brute_knn(&cur, q_mountain, 5, &police, &mut out)
        });
        println!(
            "| brute-force haversine scan | n/a | {u50:.0} | {u99:.0} | {m50:.0} | {m99:.0} |"
        );
        // sanity: grid equals brute force here
        let g = idx.read().unwrap();
        let mut hits = Vec::new();
        for q in [q_urban, q_mountain] {
            g.nearest(q, 5, &police, 0, &mut hits);
            brute_knn(&cur, q, 5, &police, &mut out);
            assert_eq!(
                hits.iter().map(|h| h.slot).collect::<Vec<_>>(),
                out.iter().map(|x| x.1).collect::<Vec<_>>()
            );
        }
    }
    {
        // rstar: one tree per type, projected metres, remove + insert per move.
        let proj = LocalProjection::new(cfg.origin_lon, cfg.origin_lat);
        let mut trees: Vec<RTree<Pt>> = (0..ResponderType::COUNT)
            .map(|t| {
                RTree::bulk_load(
                    cur.iter()
                        .enumerate()
                        .filter(|(_, e)| e.kind.index() == t)
                        .map(|(i, e)| {
                            let p = e.pos.unwrap();
                            Pt::new(proj.project(p.lon(), p.lat()), i as Slot)
                        })
                        .collect(),
                )
            })
            .collect();
        let mut shadow: Vec<[f64; 2]> = cur
            .iter()
            .map(|e| proj.project(e.pos.unwrap().lon(), e.pos.unwrap().lat()))
            .collect();
        let chunk = &moves[..100_000];
        let mut rates = Vec::new();
        for _ in 0..REPS {
            let t = Instant::now();
            for &(s, p) in chunk {
                let tree = &mut trees[cur[s as usize].kind.index()];
                let old = Pt::new(shadow[s as usize], s);
                tree.remove(&old).expect("present");
                let np = proj.project(p.lon(), p.lat());
                tree.insert(Pt::new(np, s));
                shadow[s as usize] = np;
            }
            rates.push(chunk.len() as f64 / t.elapsed().as_secs_f64());
        }
        let status: Vec<Status> = cur.iter().map(|e| e.status).collect();
        let tree = &trees[ResponderType::Police.index()];
        let mut sink = 0u64;
        let mut q_rstar = |q: Position| {
            let qp = proj.project(q.lon(), q.lat());
            for p in tree
                .nearest_neighbor_iter(&qp)
                .filter(|p| status[p.data as usize] == Status::Available)
                .take(5)
            {
                sink = sink.wrapping_add(p.data as u64);
            }
        };
        let (u50, u99) = time_us(REPS, 3_000, || q_rstar(q_urban));
        let (m50, m99) = time_us(REPS, 3_000, || q_rstar(q_mountain));
        println!(
            "| rstar 0.12, tree per type, remove+insert (projected distance, not exact) | {:.2} M | {u50:.2} | {u99:.2} | {m50:.2} | {m99:.2} |",
            median(rates) / 1e6
        );
        std::hint::black_box(sink);
    }
    println!(
        "\nTotal bench time {:.1} s.",
        started.elapsed().as_secs_f64()
    );
}
