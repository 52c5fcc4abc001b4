//! The multi-source ingest pipeline (issue 6), side by side in one run:
//!
//! 1. in-process: classification (jieba-rs + linear model + rule tags) in
//!    texts per second on ONE core, on the held-out corpus; offline geocoding
//!    in addresses per second;
//! 2. end to end: native 110 records (GCJ-02 coordinates, or only an address
//!    to geocode; callers' phones to hash) pushed to `POST /api/v1/ingest/110`
//!    in batches of 1,000 by 4 closed-loop clients while 100 WebSocket
//!    clients are subscribed to the district — parse → normalize → geocode →
//!    classify → commit → index → fan-out — in events per second, with the
//!    server's own time per stage (`GET /api/v1/stats/ingest`), against the
//!    floor: the same rows (same columns, same detail/raw JSON) inserted with
//!    one multi-row `insert … on conflict do nothing` per batch;
//! 3. ingest → screen latency at a steady 2,000 events/s (batches of 20 every
//!    10 ms) with 500 subscribed WebSocket clients (20 district walls + 480
//!    station/township screens, each subscribed to its township's box).
//!
//! `cargo bench --bench ingest_pipeline` (env: LIANQIN_TEST_DATABASE_URL,
//! LIANQIN_BENCH_REPS, LIANQIN_BENCH_WINDOW_MS, LIANQIN_BENCH_LAT_SECS).

mod common;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{fmt_rate, median, quantile_sorted, Server, TempDb};
use futures::{SinkExt, StreamExt};
use rand::{rngs::SmallRng, Rng, SeedableRng};
use serde_json::{json, Value};
use sqlx::{PgPool, QueryBuilder};
use tokio::sync::watch;
use tokio_tungstenite::tungstenite::Message;

const BATCH: usize = 1000;
const CLIENTS: usize = 4;
const WS_CLIENTS: usize = 100;
const LAT_RATE: u64 = 2000;
const LAT_BATCH: u64 = 20;
const LAT_WALLS: usize = 20;
const LAT_SCREENS: usize = 480;

static NEXT_ID: AtomicU64 = AtomicU64::new(0);

fn main() -> anyhow::Result<()> {
    let rt = common::runtime();
    rt.block_on(async {
        let db = TempDb::create("pipeline").await?;
        let result = run(&db).await;
        db.drop_db().await?;
        result
    })
}

struct Corpus {
    texts: Vec<String>,
    /// Addresses the gazetteer should place (township + village names).
    addresses: Vec<String>,
    seats: Vec<common::Seat>,
    total_w: f64,
}

fn corpus() -> anyhow::Result<Corpus> {
    let texts: Vec<String> = lianqin::classify::heldout()
        .into_iter()
        .map(|e| e.text)
        .collect();
    let grids: Value = serde_json::from_str(&std::fs::read_to_string(
        common::repo_root().join("geodata/grids.geojson"),
    )?)?;
    let addresses = grids["features"]
        .as_array()
        .expect("features")
        .iter()
        .map(|f| {
            let p = &f["properties"];
            let village = p["village_name"]
                .as_str()
                .unwrap_or("")
                .trim_end_matches("村民委员会")
                .trim_end_matches("居民委员会")
                .trim_end_matches("居委会")
                .trim_end_matches("村委会")
                .to_string();
            format!(
                "黄岩区{}{}村口",
                p["township_name"].as_str().unwrap_or(""),
                village
            )
        })
        .collect();
    let seats = common::load_seats();
    let total_w = seats.iter().map(|s| s.weight).sum();
    Ok(Corpus {
        texts,
        addresses,
        seats,
        total_w,
    })
}

/// One native 110 record: 2 in 3 with GCJ-02 terminal coordinates, 1 in 3
/// with only an address; always a caller phone (hashed by the pipeline).
fn record_110(c: &Corpus, rng: &mut SmallRng, id: &str) -> Value {
    let t = chrono::Utc::now().with_timezone(&chrono::FixedOffset::east_opt(8 * 3600).expect("+8"));
    let text = &c.texts[rng.gen_range(0..c.texts.len())];
    let phone = format!("138{:08}", rng.gen_range(0..100_000_000u64));
    let mut r = json!({
        "JJDBH": id,
        "BJSJ": t.format("%Y-%m-%d %H:%M:%S").to_string(),
        "BJDH": phone,
        "BJNR": text,
        "JQJB": "3",
    });
    if rng.gen_range(0..3) == 0 {
        r["SFDZ"] = json!(c.addresses[rng.gen_range(0..c.addresses.len())]);
    } else {
        let p = common::draw_pos(rng, &c.seats, c.total_w);
        let (x, y) = wgs84_to_gcj02(p.lon(), p.lat());
        r["ZDDWXZB"] = json!(x);
        r["ZDDWYZB"] = json!(y);
        r["SFDZ"] = json!("黄岩区");
    }
    r
}

/// Forward GCJ-02 offset (the server converts back at the edge).
fn wgs84_to_gcj02(lon: f64, lat: f64) -> (f64, f64) {
    // one fixed-point iteration of the inverse is exact to < 1 m for our use
    let (bx, by) = lianqin::spatial::crs::Datum::Gcj02.to_wgs84(lon, lat);
    (lon + (lon - bx), lat + (lat - by))
}

async fn run(db: &TempDb) -> anyhow::Result<()> {
    let reps = common::reps(3);
    let window = Duration::from_millis(
        std::env::var("LIANQIN_BENCH_WINDOW_MS")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(6000),
    );
    let lat_secs: u64 = std::env::var("LIANQIN_BENCH_LAT_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10);
    let pool = lianqin::store::connect(&db.url, 8).await?;
    common::migrate_and_import(&pool, &db.name).await?;
    common::print_machine("Multi-source ingest pipeline", Some(&pool)).await;
    let c = Arc::new(corpus()?);

    in_process(&c, reps)?;

    let layers = lianqin::store::layers::load_all(&pool).await?;
    let index = lianqin::spatial::JurisdictionIndex::build(&layers);
    let bbox = index.district_bbox().expect("district loaded");
    let township_boxes = township_boxes(&layers);
    let server = Server::start(&db.url)?;
    sqlx::query("create table incident_raw (like incident including all)")
        .execute(&pool)
        .await?;
    // the pipeline alone, then with the fan-out the issue names
    for ws_clients in [0, WS_CLIENTS] {
        end_to_end(&server, &pool, &c, bbox, reps, window, ws_clients).await?;
    }
    latency(&server, &c, bbox, &township_boxes, lat_secs).await?;
    server.stop();
    pool.close().await;
    Ok(())
}

fn in_process(c: &Corpus, reps: usize) -> anyhow::Result<()> {
    let clf = lianqin::classify::Classifier::standard();
    let t = Instant::now();
    let _ = lianqin::classify::Classifier::train(&lianqin::classify::load_jsonl(
        &std::fs::read_to_string(common::repo_root().join("data/classify/train.jsonl"))?,
    )?);
    let train_s = t.elapsed().as_secs_f64();
    // warm-up (jieba dictionary, caches)
    for text in c.texts.iter().take(200) {
        std::hint::black_box(clf.classify(text, Some("110"), None, Some(10)));
    }
    let chars: usize = c.texts.iter().map(|t| t.chars().count()).sum();
    let mut rates = Vec::new();
    for _ in 0..reps.max(3) {
        let t = Instant::now();
        let mut n = 0usize;
        while t.elapsed() < Duration::from_millis(1500) {
            for text in &c.texts {
                std::hint::black_box(clf.classify(text, Some("110"), None, Some(10)));
                n += 1;
            }
        }
        rates.push(n as f64 / t.elapsed().as_secs_f64());
    }
    let snap = lianqin::live::Snapshot::new(common::layers_from_files()?);
    let placed = c
        .addresses
        .iter()
        .filter(|a| snap.gazetteer.geocode(a).is_some())
        .count();
    let mut geo_rates = Vec::new();
    for _ in 0..reps.max(3) {
        let t = Instant::now();
        let mut n = 0usize;
        while t.elapsed() < Duration::from_millis(800) {
            for a in &c.addresses {
                std::hint::black_box(snap.gazetteer.geocode(a));
                n += 1;
            }
        }
        geo_rates.push(n as f64 / t.elapsed().as_secs_f64());
    }
    println!("### In-process stages (one thread)\n");
    println!("| stage | input | median rate | target |");
    println!("|---|---|---:|---:|");
    println!(
        "| classify (jieba-rs words + char n-grams → linear model, tags, runners-up) | {} held-out texts, mean {:.0} characters | {} texts/s per core | ≥ 50,000 |",
        c.texts.len(),
        chars as f64 / c.texts.len() as f64,
        fmt_rate(median(&rates))
    );
    println!(
        "| geocode (gazetteer, {} places) | {} village addresses (`黄岩区<township><village>村口`), {placed} placed | {} addresses/s | — |",
        snap.gazetteer.len(),
        c.addresses.len(),
        fmt_rate(median(&geo_rates))
    );
    println!(
        "\nTraining the model from `data/classify/train.jsonl` (at start-up): {train_s:.2} s.\n"
    );
    Ok(())
}

/// [w, s, e, n] of every township polygon.
fn township_boxes(layers: &lianqin::domain::Layers) -> Vec<[f64; 4]> {
    use geo::BoundingRect;
    layers
        .townships
        .iter()
        .filter_map(|t| t.geometry.bounding_rect())
        .map(|r| [r.min().x, r.min().y, r.max().x, r.max().y])
        .collect()
}

/// Receive times of `lat-<i>` incidents, shared by the latency clients.
type Seen = Arc<std::sync::Mutex<Vec<(u64, Instant)>>>;
/// Per client: (incident messages, resyncs).
type Clients = Vec<tokio::task::JoinHandle<(u64, u64)>>;

/// Subscribes `boxes.len()` clients (one per box) and counts what each gets;
/// returns the join handles and a stop switch. With `seen`, every `lat-<i>`
/// incident message is recorded with its receive time.
async fn subscribe_clients(
    ws_url: &str,
    boxes: &[[f64; 4]],
    seen: Option<Seen>,
) -> anyhow::Result<(Clients, watch::Sender<bool>)> {
    let (stop_tx, stop_rx) = watch::channel(false);
    let (ready_tx, mut ready_rx) = tokio::sync::mpsc::channel::<()>(boxes.len().max(1));
    let mut handles = Vec::with_capacity(boxes.len());
    for b in boxes {
        let (mut ws, _) = tokio_tungstenite::connect_async(ws_url).await?;
        let sub = format!(
            r#"{{"type":"subscribe","bbox":[{},{},{},{}],"layers":["incidents"]}}"#,
            b[0], b[1], b[2], b[3]
        );
        ws.send(Message::Text(sub.into())).await?;
        let mut stop = stop_rx.clone();
        let ready = ready_tx.clone();
        let seen = seen.clone();
        handles.push(tokio::spawn(async move {
            let (mut got, mut resyncs) = (0u64, 0u64);
            loop {
                tokio::select! {
                    _ = stop.changed() => break,
                    msg = ws.next() => match msg {
                        Some(Ok(Message::Text(t))) => {
                            if t.contains(r#""type":"incident""#) {
                                got += 1;
                                if let (Some(seen), Some(i)) = (&seen, lat_id(&t)) {
                                    seen.lock().expect("seen").push((i, Instant::now()));
                                }
                            } else if t.contains(r#""type":"snapshot""#) {
                                let _ = ready.send(()).await;
                            } else if t.contains(r#""type":"resync""#) {
                                resyncs += 1;
                            }
                        }
                        Some(Ok(_)) => {}
                        _ => break,
                    }
                }
            }
            let _ = ws.close(None).await;
            (got, resyncs)
        }));
    }
    drop(ready_tx);
    for _ in 0..boxes.len() {
        ready_rx
            .recv()
            .await
            .ok_or_else(|| anyhow::anyhow!("a client never got its snapshot"))?;
    }
    Ok((handles, stop_tx))
}

/// `i` of a `"JJDBH"`-derived source id `lat-<i>` in an incident message.
fn lat_id(text: &str) -> Option<u64> {
    let key = r#""source_id":"lat-"#;
    let at = text.find(key)? + key.len();
    let rest = &text[at..];
    rest[..rest.find('"')?].parse().ok()
}

async fn stage_stats(http: &reqwest::Client, base: &str) -> anyhow::Result<Value> {
    Ok(http
        .get(format!("{base}/api/v1/stats/ingest"))
        .send()
        .await?
        .json()
        .await?)
}

async fn end_to_end(
    server: &Server,
    pool: &PgPool,
    c: &Arc<Corpus>,
    bbox: [f64; 4],
    reps: usize,
    window: Duration,
    ws_clients: usize,
) -> anyhow::Result<()> {
    let base = format!("http://{}", server.addr);
    let url = format!("{base}/api/v1/ingest/110");
    let http = reqwest::Client::builder().build()?;
    let (clients, stop) = subscribe_clients(
        &format!("ws://{}/api/v1/stream", server.addr),
        &vec![bbox; ws_clients],
        None,
    )
    .await?;
    // warm-up: connections, statements, the classifier's first use
    push_window(&http, &url, c, 100, 2, Duration::from_millis(500)).await?;
    let sample: (Value, Option<Value>) =
        sqlx::query_as("select detail, raw from incident order by id desc limit 1")
            .fetch_one(pool)
            .await?;
    raw_window(pool, c, &sample, BATCH, 2, Duration::from_millis(500)).await?;

    let before = stage_stats(&http, &base).await?;
    let (mut ours, mut raw) = (Vec::new(), Vec::new());
    let cpu0 = common::process_cpu_secs();
    let pg0 = common::postgres_cpu_secs();
    let mut ours_wall = 0.0;
    for _ in 0..reps {
        let t = Instant::now();
        ours.push(push_window(&http, &url, c, BATCH, CLIENTS, window).await?);
        ours_wall += t.elapsed().as_secs_f64();
        raw.push(raw_window(pool, c, &sample, BATCH, CLIENTS, window).await?);
    }
    let cpu = common::process_cpu_secs().zip(cpu0).map(|(a, b)| a - b);
    let pg = common::postgres_cpu_secs().zip(pg0).map(|(a, b)| a - b);
    let after = stage_stats(&http, &base).await?;
    let _ = stop.send(true);
    let (mut delivered, mut resyncs) = (0u64, 0u64);
    for h in clients {
        let (g, r) = h.await?;
        delivered += g;
        resyncs += r;
    }
    let created = after["created"].as_u64().unwrap_or(0) - before["created"].as_u64().unwrap_or(0);

    let (o, r) = (median(&ours), median(&raw));
    println!("### End to end: `POST /api/v1/ingest/110`, batches of {BATCH}, {CLIENTS} clients, {ws_clients} WebSocket clients subscribed\n");
    println!("Each cell: events committed per second over a {} ms closed-loop window, median of {reps} repetitions, the two variants interleaved.\n", window.as_millis());
    println!("| lianqin pipeline (events/s) | raw PostGIS multi-row insert, same rows (rows/s) | lianqin ÷ raw | target |");
    println!("|---:|---:|---:|---:|");
    println!(
        "| {} | {} | {:.2} | ≥ 20,000 events/s |",
        fmt_rate(o),
        fmt_rate(r),
        o / r
    );
    println!("\nServer time per record and stage in these windows (`GET /api/v1/stats/ingest` before and after; normalize includes geocode and classify; queue = waiting for a commit worker):\n");
    println!("| stage | µs per record |");
    println!("|---|---:|");
    let n0 = before["records"].as_f64().unwrap_or(0.0);
    let n1 = after["records"].as_f64().unwrap_or(0.0);
    for k in [
        "normalize",
        "geocode",
        "classify",
        "locate",
        "queue",
        "commit",
        "publish",
    ] {
        let m0 = before["us_per_record"][k].as_f64().unwrap_or(0.0);
        let m1 = after["us_per_record"][k].as_f64().unwrap_or(0.0);
        let mean = (m1 * n1 - m0 * n0) / (n1 - n0).max(1.0);
        println!("| {k} | {mean:.1} |");
    }
    println!(
        "\nTransactions: {} for {} records ({} geocoded from the address, {} unlocated). Fan-out: {} messages delivered to {ws_clients} clients for {created} new events ({:.0} % of created × clients), {resyncs} resyncs (a client that falls > `[stream] client_queue` = 8,192 events behind gets a resync instead of a backlog: the documented slow-consumer policy). CPU during the measured windows: bench process (server + load generator + clients) {} s, PostgreSQL {} s, over {:.1} s of lianqin windows. {} cores shared.\n",
        after["transactions"].as_u64().unwrap_or(0) - before["transactions"].as_u64().unwrap_or(0),
        after["records"].as_u64().unwrap_or(0) - before["records"].as_u64().unwrap_or(0),
        after["geocoded"].as_u64().unwrap_or(0) - before["geocoded"].as_u64().unwrap_or(0),
        after["unlocated"].as_u64().unwrap_or(0) - before["unlocated"].as_u64().unwrap_or(0),
        delivered,
        100.0 * delivered as f64 / (created.max(1) * ws_clients.max(1) as u64) as f64,
        cpu.map(|x| format!("{x:.1}")).unwrap_or_else(|| "?".into()),
        pg.map(|x| format!("{x:.1}")).unwrap_or_else(|| "?".into()),
        ours_wall,
        common::nproc()
    );
    Ok(())
}

fn batch_body(c: &Corpus, rng: &mut SmallRng, n: usize, prefix: &str) -> String {
    let first = NEXT_ID.fetch_add(n as u64, Ordering::Relaxed);
    let items: Vec<Value> = (0..n)
        .map(|k| record_110(c, rng, &format!("{prefix}{}", first + k as u64)))
        .collect();
    Value::Array(items).to_string()
}

async fn push_window(
    http: &reqwest::Client,
    url: &str,
    c: &Arc<Corpus>,
    batch: usize,
    clients: usize,
    window: Duration,
) -> anyhow::Result<f64> {
    let t0 = Instant::now();
    let deadline = t0 + window;
    let tasks: Vec<_> = (0..clients)
        .map(|k| {
            let (http, url, c) = (http.clone(), url.to_string(), c.clone());
            tokio::spawn(async move {
                let mut rng = SmallRng::seed_from_u64(k as u64 ^ NEXT_ID.load(Ordering::Relaxed));
                let mut created = 0u64;
                while Instant::now() < deadline {
                    let body = batch_body(&c, &mut rng, batch, "pl-");
                    let r = http
                        .post(&url)
                        .header("content-type", "application/json")
                        .body(body)
                        .send()
                        .await?;
                    let status = r.status();
                    let v: Value = r.json().await?;
                    if status.as_u16() == 503 {
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                    anyhow::ensure!(status.is_success(), "push failed: {status} {v}");
                    created += v["created"].as_u64().unwrap_or(0);
                }
                anyhow::Ok(created)
            })
        })
        .collect();
    let mut total = 0;
    for t in tasks {
        total += t.await??;
    }
    Ok(total as f64 / t0.elapsed().as_secs_f64())
}

/// The floor: the same rows — source, id, time, text, address, point,
/// jurisdiction, a real stored `detail` and `raw` — in one multi-row insert
/// per batch, autocommit, nothing else.
async fn raw_window(
    pool: &PgPool,
    c: &Arc<Corpus>,
    sample: &(Value, Option<Value>),
    batch: usize,
    clients: usize,
    window: Duration,
) -> anyhow::Result<f64> {
    let t0 = Instant::now();
    let deadline = t0 + window;
    let detail = sample.0.to_string();
    let raw = sample.1.clone().unwrap_or(Value::Null).to_string();
    let tasks: Vec<_> = (0..clients)
        .map(|k| {
            let (pool, c, detail, raw) = (pool.clone(), c.clone(), detail.clone(), raw.clone());
            tokio::spawn(async move {
                let mut conn = pool.acquire().await?;
                let mut rng = SmallRng::seed_from_u64(k as u64 ^ 0xabc ^ NEXT_ID.load(Ordering::Relaxed));
                let mut created = 0u64;
                while Instant::now() < deadline {
                    let first = NEXT_ID.fetch_add(batch as u64, Ordering::Relaxed);
                    let now = chrono::Utc::now();
                    let rows: Vec<(String, f64, f64, String)> = (0..batch)
                        .map(|i| {
                            let p = common::draw_pos(&mut rng, &c.seats, c.total_w);
                            let text = c.texts[rng.gen_range(0..c.texts.len())].clone();
                            (format!("raw-{}", first + i as u64), p.lon(), p.lat(), text)
                        })
                        .collect();
                    let mut q = QueryBuilder::new(
                        "insert into incident_raw (source, source_id, reported_at, category, description, priority, demo, geom, township_code, jurisdiction, detail, raw) ",
                    );
                    q.push_values(&rows, |mut b, (id, lon, lat, text)| {
                        b.push_bind("110")
                            .push_bind(id)
                            .push_bind(now)
                            .push_bind("打架斗殴")
                            .push_bind(text)
                            .push_bind(3i16)
                            .push_bind(false)
                            .push("ST_SetSRID(ST_MakePoint(")
                            .push_bind_unseparated(*lon)
                            .push_unseparated(", ")
                            .push_bind_unseparated(*lat)
                            .push_unseparated("), 4326)")
                            .push_bind("331003001")
                            .push_bind(r#"{"inside":true,"township_code":"331003001"}"#)
                            .push_unseparated("::jsonb")
                            .push_bind(&detail)
                            .push_unseparated("::jsonb")
                            .push_bind(&raw)
                            .push_unseparated("::jsonb");
                    });
                    q.push(" on conflict (source, source_id) do nothing");
                    created += q.build().execute(&mut *conn).await?.rows_affected();
                }
                anyhow::Ok(created)
            })
        })
        .collect();
    let mut total = 0;
    for t in tasks {
        total += t.await??;
    }
    Ok(total as f64 / t0.elapsed().as_secs_f64())
}

async fn latency(
    server: &Server,
    c: &Arc<Corpus>,
    bbox: [f64; 4],
    townships: &[[f64; 4]],
    secs: u64,
) -> anyhow::Result<()> {
    let base = format!("http://{}", server.addr);
    let url = format!("{base}/api/v1/ingest/110");
    let mut boxes = vec![bbox; LAT_WALLS];
    for i in 0..LAT_SCREENS {
        boxes.push(townships[i % townships.len()]);
    }
    let seen: Seen = Default::default();
    let (clients, stop) = subscribe_clients(
        &format!("ws://{}/api/v1/stream", server.addr),
        &boxes,
        Some(seen.clone()),
    )
    .await?;
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(64)
        .build()?;
    let sent: Arc<std::sync::Mutex<HashMap<u64, (Instant, Instant)>>> = Default::default();
    let mut tick = tokio::time::interval(Duration::from_millis(1000 * LAT_BATCH / LAT_RATE));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let total_batches = secs * LAT_RATE / LAT_BATCH;
    let mut rng = SmallRng::seed_from_u64(99);
    let mut posts = Vec::new();
    let mut failed = 0u64;
    let cpu0 = common::process_cpu_secs();
    let pg0 = common::postgres_cpu_secs();
    let t0 = Instant::now();
    for b in 0..total_batches {
        tick.tick().await;
        let ids: Vec<u64> = (0..LAT_BATCH).map(|k| b * LAT_BATCH + k).collect();
        let body = Value::Array(
            ids.iter()
                .map(|i| record_110(c, &mut rng, &format!("lat-{i}")))
                .collect(),
        )
        .to_string();
        let req = http
            .post(&url)
            .header("content-type", "application/json")
            .body(body);
        let sent = sent.clone();
        posts.push(tokio::spawn(async move {
            let t_sent = Instant::now();
            let ok = match req.send().await {
                Ok(r) => {
                    let s = r.status().as_u16();
                    let _ = r.bytes().await;
                    s == 201
                }
                Err(_) => false,
            };
            let t_resp = Instant::now();
            if ok {
                let mut m = sent.lock().expect("sent");
                for i in ids {
                    m.insert(i, (t_sent, t_resp));
                }
            }
            ok
        }));
    }
    for p in posts {
        failed += u64::from(!p.await?);
    }
    let wall = t0.elapsed().as_secs_f64();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let cpu = common::process_cpu_secs()
        .zip(cpu0)
        .map(|(a, b)| (a - b) / (wall + 2.0));
    let pg = common::postgres_cpu_secs()
        .zip(pg0)
        .map(|(a, b)| (a - b) / (wall + 2.0));
    let _ = stop.send(true);
    let (mut delivered, mut resyncs) = (0u64, 0u64);
    for h in clients {
        let (g, r) = h.await?;
        delivered += g;
        resyncs += r;
    }
    let sent = sent.lock().expect("sent");
    let mut from_sent = Vec::new();
    let mut from_resp = Vec::new();
    for &(i, t) in seen.lock().expect("seen").iter() {
        if let Some(&(ts, tr)) = sent.get(&i) {
            from_sent.push((t - ts).as_secs_f64() * 1e3);
            from_resp.push(if t >= tr {
                (t - tr).as_secs_f64() * 1e3
            } else {
                -((tr - t).as_secs_f64() * 1e3)
            });
        }
    }
    from_sent.sort_by(f64::total_cmp);
    from_resp.sort_by(f64::total_cmp);
    let q = |v: &[f64], p: f64| {
        if v.is_empty() {
            f64::NAN
        } else {
            quantile_sorted(v, p)
        }
    };
    println!(
        "### Ingest → screen latency at a steady {LAT_RATE} events/s, {} WebSocket clients\n",
        boxes.len()
    );
    println!(
        "{LAT_WALLS} clients subscribed to the whole district (walls) and {LAT_SCREENS} to one township's box each (station screens, round-robin over the 19 townships); native 110 records pushed in batches of {LAT_BATCH} every {} ms (open loop) for {secs} s, {:.0} events/s achieved. Latency per (event, client) pair: received − sent (the push leaves the load generator; includes normalize, geocode, classify and the commit) and received − the push's HTTP response (after the commit; negative when the event beats the response).\n",
        1000 * LAT_BATCH / LAT_RATE,
        (sent.len() as f64) / wall
    );
    println!("| events pushed | failed pushes | (event, client) deliveries | received − sent p50 / p99 (ms) | received − response p50 / p99 (ms) | resyncs | CPU: bench process / PostgreSQL (cores) | target |");
    println!("|---:|---:|---:|---:|---:|---:|---:|---:|");
    println!(
        "| {} | {failed} | {delivered} | {:.1} / {:.1} | {:.1} / {:.1} | {resyncs} | {} / {} | p99 ≤ 50 ms |\n",
        sent.len(),
        q(&from_sent, 0.5),
        q(&from_sent, 0.99),
        q(&from_resp, 0.5),
        q(&from_resp, 0.99),
        cpu.map(|x| format!("{x:.2}")).unwrap_or_else(|| "?".into()),
        pg.map(|x| format!("{x:.2}")).unwrap_or_else(|| "?".into()),
    );
    Ok(())
}
