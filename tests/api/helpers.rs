//! Test harness: a fresh PostGIS database per test with the real geodata
//! imported, and a real `Application` listening on 127.0.0.1:0.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use futures::{SinkExt, StreamExt};
use lianqin::app::Application;
use lianqin::config::Settings;
use lianqin::domain::LayerKind;
use lianqin::ingest::layer_file::{self, LayerData};
use serde_json::{json, Value};
use sqlx::PgPool;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Message;

pub type WsStream =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// How long any single wait in a test may take before it counts as a failure.
pub const WAIT: Duration = Duration::from_secs(5);

/// Server logs on stderr when `TEST_LOG` is set (e.g. `TEST_LOG=debug`).
fn init_tracing() {
    static INIT: OnceLock<()> = OnceLock::new();
    INIT.get_or_init(|| {
        if let Ok(filter) = std::env::var("TEST_LOG") {
            let _ = tracing_subscriber::fmt()
                .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
                .with_test_writer()
                .try_init();
        }
    });
}

pub fn admin_url() -> String {
    std::env::var("LIANQIN_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

/// `url` with its database name replaced by `db` (query string kept).
fn with_database(url: &str, db: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let scheme_end = base.find("://").map(|i| i + 3).unwrap_or(0);
    let host_part = match base[scheme_end..].find('/') {
        Some(i) => &base[..scheme_end + i],
        None => base,
    };
    match query {
        Some(q) => format!("{host_part}/{db}?{q}"),
        None => format!("{host_part}/{db}"),
    }
}

pub fn geodata_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("geodata")
}

/// The five layer files, parsed once per test binary.
fn parsed_layers() -> &'static Vec<(LayerKind, LayerData)> {
    static LAYERS: OnceLock<Vec<(LayerKind, LayerData)>> = OnceLock::new();
    LAYERS.get_or_init(|| {
        LayerKind::ALL
            .iter()
            .map(|&kind| {
                let path = geodata_dir().join(format!("{}.geojson", kind.name()));
                let text = std::fs::read_to_string(&path)
                    .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
                let data = layer_file::parse(kind, &text)
                    .unwrap_or_else(|e| panic!("parsing {}: {e}", path.display()));
                (kind, data)
            })
            .collect()
    })
}

fn read_geojson(name: &str) -> Value {
    let path = geodata_dir().join(format!("{name}.geojson"));
    serde_json::from_str(&std::fs::read_to_string(&path).expect("geodata file")).expect("json")
}

/// A township with its seat (a point that lies inside it).
#[derive(Debug, Clone)]
pub struct Township {
    pub code: String,
    pub name: String,
    pub seat_lon: f64,
    pub seat_lat: f64,
    /// [w, s, e, n] of the township polygon.
    pub bbox: [f64; 4],
}

impl Township {
    pub fn seat_in_bbox(&self, b: [f64; 4]) -> bool {
        self.seat_lon >= b[0]
            && self.seat_lon <= b[2]
            && self.seat_lat >= b[1]
            && self.seat_lat <= b[3]
    }
}

fn extend_bbox(v: &Value, b: &mut [f64; 4]) {
    match v {
        Value::Array(a) if a.len() >= 2 && a[0].is_number() => {
            let (x, y) = (a[0].as_f64().unwrap(), a[1].as_f64().unwrap());
            b[0] = b[0].min(x);
            b[1] = b[1].min(y);
            b[2] = b[2].max(x);
            b[3] = b[3].max(y);
        }
        Value::Array(a) => a.iter().for_each(|x| extend_bbox(x, b)),
        _ => {}
    }
}

/// The 19 townships of geodata/townships.geojson.
pub fn townships() -> &'static Vec<Township> {
    static T: OnceLock<Vec<Township>> = OnceLock::new();
    T.get_or_init(|| {
        let fc = read_geojson("townships");
        fc["features"]
            .as_array()
            .expect("features")
            .iter()
            .map(|f| {
                let p = &f["properties"];
                let mut bbox = [f64::MAX, f64::MAX, f64::MIN, f64::MIN];
                extend_bbox(&f["geometry"]["coordinates"], &mut bbox);
                Township {
                    code: p["code"].as_str().expect("code").to_string(),
                    name: p["name"].as_str().expect("name").to_string(),
                    seat_lon: p["seat_lon"].as_f64().expect("seat_lon"),
                    seat_lat: p["seat_lat"].as_f64().expect("seat_lat"),
                    bbox,
                }
            })
            .collect()
    })
}

/// grid code → township code, from geodata/grids.geojson.
pub fn grid_townships() -> &'static HashMap<String, String> {
    static G: OnceLock<HashMap<String, String>> = OnceLock::new();
    G.get_or_init(|| {
        let fc = read_geojson("grids");
        fc["features"]
            .as_array()
            .expect("features")
            .iter()
            .map(|f| {
                let p = &f["properties"];
                (
                    p["code"].as_str().expect("code").to_string(),
                    p["township_code"]
                        .as_str()
                        .expect("township_code")
                        .to_string(),
                )
            })
            .collect()
    })
}

/// Two townships such that neither's seat lies in the other's bbox.
pub fn two_separate_townships() -> (Township, Township) {
    let ts = townships();
    for a in ts {
        for b in ts {
            if a.code != b.code && !a.seat_in_bbox(b.bbox) && !b.seat_in_bbox(a.bbox) {
                return (a.clone(), b.clone());
            }
        }
    }
    panic!("no two townships with disjoint seat/bbox pairs");
}

pub fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// A valid incident body reported `minutes_ago` minutes ago.
pub fn incident(source_id: &str, lon: f64, lat: f64, minutes_ago: i64) -> Value {
    json!({
        "source": "110",
        "source_id": source_id,
        "reported_at": rfc3339(Utc::now() - chrono::Duration::minutes(minutes_ago)),
        "lon": lon,
        "lat": lat,
        "category": "治安",
        "description": "测试警情",
        "priority": 2,
    })
}

pub fn at_seat(source_id: &str, t: &Township, minutes_ago: i64) -> Value {
    incident(source_id, t.seat_lon, t.seat_lat, minutes_ago)
}

/// A fresh database; dropped (with force) when this value is dropped, even
/// when the test panics.
pub struct TestDb {
    pub name: String,
    pub url: String,
}

impl TestDb {
    pub async fn create() -> Self {
        let name = format!("lianqin_test_{:016x}", rand::random::<u64>());
        let admin = PgPool::connect(&admin_url())
            .await
            .unwrap_or_else(|e| panic!("connecting to {}: {e}", admin_url()));
        sqlx::query(&format!("create database {name}"))
            .execute(&admin)
            .await
            .expect("create test database");
        admin.close().await;
        let url = with_database(&admin_url(), &name);
        let pool = lianqin::store::connect(&url, 4).await.expect("connect");
        lianqin::store::migrate(&pool, &name)
            .await
            .expect("migrate");
        for (kind, data) in parsed_layers() {
            lianqin::store::layers::replace_layer(&pool, *kind, data)
                .await
                .unwrap_or_else(|e| panic!("importing {kind}: {e}"));
        }
        pool.close().await;
        Self { name, url }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let name = self.name.clone();
        // A separate thread with its own runtime: Drop cannot await, and the
        // test's runtime may be current-thread.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async move {
                if let Ok(admin) = PgPool::connect(&admin_url()).await {
                    let _ = sqlx::query(&format!("drop database if exists {name} with (force)"))
                        .execute(&admin)
                        .await;
                    admin.close().await;
                }
            });
        })
        .join();
    }
}

struct Server {
    stop: oneshot::Sender<()>,
    handle: JoinHandle<std::io::Result<()>>,
}

pub struct TestApp {
    pub addr: SocketAddr,
    pub db_url: String,
    pub client: reqwest::Client,
    /// Direct access to the test database.
    pub pool: PgPool,
    settings: Settings,
    server: Option<Server>,
    // last: dropped after the pool and the server
    _db: TestDb,
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

/// Like [`spawn_app`], with a hook to adjust the settings.
pub async fn spawn_app_with(tweak: impl FnOnce(&mut Settings)) -> TestApp {
    init_tracing();
    let db = TestDb::create().await;
    let mut settings = Settings {
        database_url: db.url.clone(),
        listen: "127.0.0.1:0".parse().unwrap(),
        web_dir: PathBuf::from("/nonexistent/lianqin-test-web-dist"),
        db_max_connections: 8,
        ..Default::default()
    };
    tweak(&mut settings);
    // small: the PostgreSQL server is shared with other suites (max_connections)
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(2)
        .connect(&db.url)
        .await
        .expect("test pool");
    let (addr, server) = start(settings.clone()).await;
    TestApp {
        addr,
        db_url: db.url.clone(),
        client: reqwest::Client::new(),
        pool,
        settings,
        server: Some(server),
        _db: db,
    }
}

async fn start(settings: Settings) -> (SocketAddr, Server) {
    let app = Application::build(settings)
        .await
        .expect("Application::build");
    let addr = app.local_addr();
    let (stop, stop_rx) = oneshot::channel::<()>();
    let handle = tokio::spawn(app.run_until(async move {
        let _ = stop_rx.await;
    }));
    (addr, Server { stop, handle })
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client
            .get(self.url(path))
            .send()
            .await
            .expect("GET request")
    }

    pub async fn post_incidents(&self, body: &Value) -> reqwest::Response {
        self.client
            .post(self.url("/api/v1/incidents"))
            .json(body)
            .send()
            .await
            .expect("POST request")
    }

    /// POSTs and asserts 201; returns the created records (always a list).
    pub async fn post_created(&self, body: &Value) -> Vec<Value> {
        let r = self.post_incidents(body).await;
        let status = r.status();
        let v: Value = r.json().await.expect("json body");
        assert_eq!(status, 201, "POST /api/v1/incidents: {v}");
        match v {
            Value::Array(a) => a,
            one => vec![one],
        }
    }

    pub async fn incident_count(&self) -> i64 {
        sqlx::query_scalar("select count(*) from incident")
            .fetch_one(&self.pool)
            .await
            .expect("count incidents")
    }

    pub async fn ws_connect(&self) -> WsStream {
        let url = format!("ws://{}/api/v1/stream", self.addr);
        let (ws, _) = tokio::time::timeout(WAIT, tokio_tungstenite::connect_async(url))
            .await
            .expect("ws connect timed out")
            .expect("ws connect");
        ws
    }

    /// Connects, subscribes to `bbox` (None: no bbox, i.e. the world) and
    /// returns the socket and the snapshot message.
    pub async fn ws_subscribe(&self, bbox: Option<[f64; 4]>) -> (WsStream, Value) {
        let mut ws = self.ws_connect().await;
        let snap = subscribe(&mut ws, bbox).await;
        (ws, snap)
    }

    /// Stops the server (graceful shutdown) and waits for it to finish.
    pub async fn stop(&mut self) {
        if let Some(s) = self.server.take() {
            let _ = s.stop.send(());
            tokio::time::timeout(Duration::from_secs(15), s.handle)
                .await
                .expect("server did not stop within 15 s")
                .expect("server task panicked")
                .expect("server returned an error");
        }
    }

    /// Stops the server and builds a new `Application` on the same database.
    pub async fn restart(&mut self) {
        self.stop().await;
        let (addr, server) = start(self.settings.clone()).await;
        self.addr = addr;
        self.server = Some(server);
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(s) = self.server.take() {
            s.handle.abort();
        }
    }
}

pub async fn send_json(ws: &mut WsStream, v: Value) {
    tokio::time::timeout(WAIT, ws.send(Message::Text(v.to_string().into())))
        .await
        .expect("ws send timed out")
        .expect("ws send");
}

/// Next text message as JSON, skipping heartbeats and control frames.
pub async fn next_json_within(ws: &mut WsStream, wait: Duration) -> Value {
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        let msg = tokio::time::timeout_at(deadline, ws.next())
            .await
            .unwrap_or_else(|_| panic!("no WebSocket message within {wait:?}"))
            .expect("WebSocket closed")
            .expect("WebSocket error");
        match msg {
            Message::Text(t) => {
                let v: Value = serde_json::from_str(&t).expect("server sent invalid JSON");
                if v["type"] != "heartbeat" {
                    return v;
                }
            }
            Message::Close(f) => panic!("WebSocket closed by server: {f:?}"),
            _ => {}
        }
    }
}

pub async fn next_json(ws: &mut WsStream) -> Value {
    next_json_within(ws, WAIT).await
}

/// Sends a subscribe and returns the snapshot (asserting it is one).
pub async fn subscribe(ws: &mut WsStream, bbox: Option<[f64; 4]>) -> Value {
    let mut msg = json!({"type": "subscribe", "layers": ["incidents"]});
    if let Some(b) = bbox {
        msg["bbox"] = json!(b);
    }
    send_json(ws, msg).await;
    let snap = next_json(ws).await;
    assert_eq!(snap["type"], "snapshot", "expected a snapshot, got {snap}");
    assert!(snap["seq"].is_u64(), "snapshot without seq: {snap}");
    snap
}

/// Ids of the incidents in a snapshot message.
pub fn snapshot_ids(snap: &Value) -> Vec<i64> {
    snap["incidents"]["features"]
        .as_array()
        .expect("snapshot incidents")
        .iter()
        .map(|f| f["id"].as_i64().expect("feature id"))
        .collect()
}

/// Asserts a 4xx JSON error naming `field`; returns the body.
pub async fn assert_field_error(r: reqwest::Response, status: u16, field: &str) -> Value {
    let got = r.status().as_u16();
    let ct = r
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let text = r.text().await.expect("body");
    assert_eq!(got, status, "body: {text}");
    assert!(
        ct.starts_with("application/json"),
        "error content type {ct:?}, body {text}"
    );
    let v: Value = serde_json::from_str(&text).expect("error body is JSON");
    assert_eq!(v["field"], field, "wrong field in {v}");
    assert!(
        v["reason"].as_str().is_some_and(|s| !s.is_empty()),
        "no reason in {v}"
    );
    v
}

// ---- responders / dispatch ------------------------------------------------

impl TestApp {
    /// POSTs `body` as JSON to `path`.
    pub async fn post_json(&self, path: &str, body: &Value) -> reqwest::Response {
        self.client
            .post(self.url(path))
            .json(body)
            .send()
            .await
            .expect("POST request")
    }

    /// GETs `path`, asserts `status`, returns the JSON body.
    pub async fn get_json(&self, path: &str, status: u16) -> Value {
        let r = self.get(path).await;
        let got = r.status().as_u16();
        let text = r.text().await.expect("body");
        assert_eq!(got, status, "GET {path}: {text}");
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("GET {path}: {e}: {text}"))
    }

    /// POSTs `body` to `path`, asserts `status`, returns the JSON body.
    pub async fn post_expect(&self, path: &str, body: &Value, status: u16) -> Value {
        let r = self.post_json(path, body).await;
        let got = r.status().as_u16();
        let text = r.text().await.expect("body");
        assert_eq!(got, status, "POST {path} {body}: {text}");
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("POST {path}: {e}: {text}"))
    }

    /// `GET /api/v1/responders/{id}` (asserting 200): the Feature.
    pub async fn responder(&self, id: &str) -> Value {
        self.get_json(&format!("/api/v1/responders/{id}"), 200)
            .await
    }

    /// Connects and subscribes with an explicit `layers` list.
    pub async fn ws_subscribe_layers(&self, bbox: [f64; 4], layers: &[&str]) -> (WsStream, Value) {
        let mut ws = self.ws_connect().await;
        send_json(
            &mut ws,
            json!({"type": "subscribe", "bbox": bbox, "layers": layers}),
        )
        .await;
        let snap = next_json(&mut ws).await;
        assert_eq!(snap["type"], "snapshot", "expected a snapshot, got {snap}");
        (ws, snap)
    }
}

/// A roster entry body.
pub fn responder_body(id: &str, kind: &str) -> Value {
    json!({"id": id, "name": format!("测试{id}"), "type": kind})
}

/// A position body for `id` at `at` = (lon, lat), taken at `ts`.
pub fn position_body(id: &str, at: (f64, f64), ts: DateTime<Utc>) -> Value {
    json!({"id": id, "lon": at.0, "lat": at.1, "ts": rfc3339(ts)})
}

/// The point `north_m` north and `east_m` east of `from` (small offsets).
pub fn offset(from: (f64, f64), north_m: f64, east_m: f64) -> (f64, f64) {
    const R: f64 = 6_371_008.8;
    let dlat = (north_m / R).to_degrees();
    let dlon = (east_m / (R * from.1.to_radians().cos())).to_degrees();
    (from.0 + dlon, from.1 + dlat)
}

/// Great-circle distance in metres (mean Earth radius 6,371,008.8 m),
/// computed independently of the crate.
pub fn haversine(a: (f64, f64), b: (f64, f64)) -> f64 {
    const R: f64 = 6_371_008.8;
    let (p1, p2) = (a.1.to_radians(), b.1.to_radians());
    let dp = p2 - p1;
    let dl = (b.0 - a.0).to_radians();
    let h = (dp / 2.0).sin().powi(2) + p1.cos() * p2.cos() * (dl / 2.0).sin().powi(2);
    2.0 * R * h.sqrt().asin()
}

/// Polls `check` every 100 ms until it returns `Some`, for at most `wait`.
pub async fn eventually<T, F, Fut>(wait: Duration, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{what}: not within {wait:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
