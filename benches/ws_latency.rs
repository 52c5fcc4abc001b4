//! Ingest → WebSocket delivery latency with 100 subscribed clients.
//!
//! A real server (`Application::build` on 127.0.0.1:0, fresh database with
//! the geodata imported) runs in its own thread and runtime; 100
//! `tokio_tungstenite` clients subscribe to the district bbox; incidents are
//! POSTed one per request at a steady (open-loop) rate. For every delivered
//! message on every client: t_received − t_sent (t_sent = just before the
//! POST) and t_received − t_response (negative when the event beats the HTTP
//! response: the world publishes right after the commit, before the response
//! is written).
//!
//! `cargo bench --bench ws_latency` (env: LIANQIN_TEST_DATABASE_URL,
//! LIANQIN_BENCH_WS_SECS seconds per rate, default 20).

mod common;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use common::{quantile_sorted, Server, TempDb};
use futures::{SinkExt, StreamExt};
use rand::{rngs::SmallRng, Rng, SeedableRng};
use tokio::sync::watch;
use tokio_tungstenite::tungstenite::Message;

const CLIENTS: usize = 100;
const RATES: [u32; 2] = [20, 100];
/// Unreported warm-up before the measured rates: connections, prepared statements.
const WARMUP: (u32, u64) = (20, 3);

fn main() -> anyhow::Result<()> {
    let rt = common::runtime();
    rt.block_on(async {
        let db = TempDb::create("ws").await?;
        let result = run(&db).await;
        db.drop_db().await?;
        result
    })
}

/// What one client saw: (phase, incident number, received at).
type Seen = Vec<(u32, u32, Instant)>;

struct ClientResult {
    seen: Seen,
    resyncs: usize,
}

async fn run(db: &TempDb) -> anyhow::Result<()> {
    let secs: u64 = std::env::var("LIANQIN_BENCH_WS_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20);
    let pool = lianqin::store::connect(&db.url, 2).await?;
    common::migrate_and_import(&pool, &db.name).await?;
    common::print_machine("Ingest → WebSocket delivery latency", Some(&pool)).await;
    let layers = lianqin::store::layers::load_all(&pool).await?;
    pool.close().await;
    let index = lianqin::spatial::JurisdictionIndex::build(&layers);
    let [w, s, e, n] = index.district_bbox().expect("district loaded");

    measure(
        Server::start(&db.url)?,
        "as shipped: `Application::build` + `run_until` (TCP_NODELAY on accepted sockets)",
        [w, s, e, n],
        secs,
    )
    .await?;
    println!(
        "One process holds the server (own runtime) and the load generator + 100 clients (another runtime); with PostgreSQL they share {} cores. \
         \"bench process\" CPU is server + load generator + clients together. Latencies are over every (message, client) pair.\n",
        common::nproc()
    );
    Ok(())
}

async fn measure(
    server: Server,
    label: &str,
    [w, s, e, n]: [f64; 4],
    secs: u64,
) -> anyhow::Result<()> {
    println!("### Server: {label}\n");
    let base = format!("http://{}", server.addr);
    let ws_url = format!("ws://{}/api/v1/stream", server.addr);

    // connect and subscribe every client; each waits for its snapshot
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut clients = Vec::with_capacity(CLIENTS);
    let subscribe = format!(r#"{{"type":"subscribe","bbox":[{w},{s},{e},{n}]}}"#);
    let (ready_tx, mut ready_rx) = tokio::sync::mpsc::channel::<()>(CLIENTS);
    for _ in 0..CLIENTS {
        let (mut ws, _) = tokio_tungstenite::connect_async(ws_url.as_str()).await?;
        ws.send(Message::Text(subscribe.clone().into())).await?;
        let mut stop = stop_rx.clone();
        let ready = ready_tx.clone();
        clients.push(tokio::spawn(async move {
            let mut out = ClientResult {
                seen: Vec::new(),
                resyncs: 0,
            };
            loop {
                tokio::select! {
                    _ = stop.changed() => break,
                    msg = ws.next() => match msg {
                        Some(Ok(Message::Text(t))) => {
                            let now = Instant::now();
                            if let Some(id) = parse_incident(&t) {
                                out.seen.push((id.0, id.1, now));
                            } else if t.contains(r#""type":"snapshot""#) {
                                let _ = ready.send(()).await;
                            } else if t.contains(r#""type":"resync""#) {
                                out.resyncs += 1;
                            }
                        }
                        Some(Ok(_)) => {}
                        _ => break,
                    }
                }
            }
            let _ = ws.close(None).await;
            out
        }));
    }
    drop(ready_tx);
    for _ in 0..CLIENTS {
        ready_rx
            .recv()
            .await
            .ok_or_else(|| anyhow::anyhow!("a client never got its snapshot"))?;
    }
    println!(
        "{CLIENTS} WebSocket clients subscribed to the district bbox; incidents POSTed one per request, open loop, {secs} s per rate after an unreported {} s warm-up at {}/s, points uniform in the bbox.\n", WARMUP.1, WARMUP.0
    );

    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(64)
        .build()?;
    let mut rng = SmallRng::seed_from_u64(7);
    // (phase, i) -> (t_sent, t_response)
    let mut sent: HashMap<(u32, u32), (Instant, Instant)> = HashMap::new();
    let mut phase_stats = Vec::new();
    let phases = std::iter::once(WARMUP).chain(RATES.iter().map(|&r| (r, secs)));
    for (phase, (rate, phase_secs)) in phases.enumerate() {
        let phase = phase as u32;
        let total = rate as u64 * phase_secs;
        let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / rate as f64));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
        let cpu0 = common::process_cpu_secs();
        let pg0 = common::postgres_cpu_secs();
        let t0 = Instant::now();
        let mut posts = Vec::with_capacity(total as usize);
        for i in 0..total as u32 {
            tick.tick().await;
            let body = common::incident_json(
                &format!("ws-{phase}-{i}"),
                rng.gen_range(w..e),
                rng.gen_range(s..n),
            );
            let req = http
                .post(format!("{base}/api/v1/incidents"))
                .header("content-type", "application/json")
                .body(body);
            posts.push(tokio::spawn(async move {
                let t_sent = Instant::now();
                let resp = req.send().await;
                let ok = match resp {
                    Ok(r) => {
                        let status = r.status();
                        let _ = r.bytes().await;
                        status.as_u16() == 201
                    }
                    Err(_) => false,
                };
                (i, t_sent, Instant::now(), ok)
            }));
        }
        let mut failed = 0;
        let mut http_ms = Vec::with_capacity(posts.len());
        for p in posts {
            let (i, t_sent, t_resp, ok) = p.await?;
            if ok {
                sent.insert((phase, i), (t_sent, t_resp));
                http_ms.push((t_resp - t_sent).as_secs_f64() * 1e3);
            } else {
                failed += 1;
            }
        }
        let wall = t0.elapsed().as_secs_f64();
        // let the last deliveries land before the next phase
        tokio::time::sleep(Duration::from_secs(2)).await;
        let cpu = common::process_cpu_secs()
            .zip(cpu0)
            .map(|(a, b)| (a - b) / (wall + 2.0));
        let pg = common::postgres_cpu_secs()
            .zip(pg0)
            .map(|(a, b)| (a - b) / (wall + 2.0));
        http_ms.sort_by(f64::total_cmp);
        phase_stats.push((rate, total, failed, http_ms, wall, cpu, pg));
    }
    let _ = stop_tx.send(true);
    let mut results = Vec::new();
    for c in clients {
        results.push(c.await?);
    }
    server.stop();

    println!("| rate (incidents/s) | posted | delivered / expected | t_recv − t_sent p50 / p99 / max (ms) | t_recv − t_response p50 / p99 / max (ms) | HTTP POST round trip p50 / p99 (ms) | CPU: bench process / PostgreSQL (cores) |");
    println!("|---:|---:|---:|---:|---:|---:|---:|");
    for (phase, (rate, total, failed, http_ms, _wall, cpu, pg)) in phase_stats.iter().enumerate() {
        if phase == 0 {
            continue; // warm-up
        }
        let mut from_sent = Vec::new();
        let mut from_resp = Vec::new();
        for r in &results {
            for &(p, i, t) in &r.seen {
                if p as usize != phase {
                    continue;
                }
                if let Some(&(ts, tr)) = sent.get(&(p, i)) {
                    from_sent.push(signed_ms(t, ts));
                    from_resp.push(signed_ms(t, tr));
                }
            }
        }
        from_sent.sort_by(f64::total_cmp);
        from_resp.sort_by(f64::total_cmp);
        let ok = total - *failed as u64;
        println!(
            "| {rate} | {ok} ok, {failed} failed | {} / {} | {} | {} | {:.1} / {:.1} | {} / {} |",
            from_sent.len(),
            ok * CLIENTS as u64,
            pct(&from_sent),
            pct(&from_resp),
            quantile_sorted(http_ms, 0.5),
            quantile_sorted(http_ms, 0.99),
            cpu.map(|c| format!("{c:.2}")).unwrap_or_else(|| "?".into()),
            pg.map(|c| format!("{c:.2}")).unwrap_or_else(|| "?".into()),
        );
    }
    let resyncs: usize = results.iter().map(|r| r.resyncs).sum();
    println!("\nResync messages (a client fell > client_queue events behind): {resyncs}.\n");
    Ok(())
}

fn signed_ms(a: Instant, b: Instant) -> f64 {
    if a >= b {
        (a - b).as_secs_f64() * 1e3
    } else {
        -((b - a).as_secs_f64() * 1e3)
    }
}

fn pct(sorted: &[f64]) -> String {
    if sorted.is_empty() {
        return "n/a".into();
    }
    format!(
        "{:.1} / {:.1} / {:.1}",
        quantile_sorted(sorted, 0.5),
        quantile_sorted(sorted, 0.99),
        sorted[sorted.len() - 1]
    )
}

/// `(phase, i)` from an incident event whose source_id is `ws-<phase>-<i>`,
/// by substring search (cheap: 100 clients share the cores with the server).
fn parse_incident(text: &str) -> Option<(u32, u32)> {
    if !text.starts_with(r#"{"feature""#) && !text.contains(r#""type":"incident""#) {
        return None;
    }
    let key = r#""source_id":"ws-"#;
    let at = text.find(key)? + key.len();
    let rest = &text[at..];
    let end = rest.find('"')?;
    let (p, i) = rest[..end].split_once('-')?;
    Some((p.parse().ok()?, i.parse().ok()?))
}
