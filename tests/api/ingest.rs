//! Multi-source ingest end to end: per-source push of every sample file,
//! partial batches, replay, offline geocoding, unlocated records,
//! classification, personal numbers never in clear (database dump).

use chrono::{Duration, Utc};
use serde_json::{json, Value};

use crate::helpers::{rfc3339, spawn_app, TestApp};

fn samples_dir() -> std::path::PathBuf {
    std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("docs/samples")
}

/// The JSON sample files as arrays of records (JSONL lines, or a JSON array).
fn json_samples() -> Vec<(&'static str, Vec<Value>)> {
    let files = [
        ("110", "110.jsonl"),
        ("xinfang", "xinfang.jsonl"),
        ("maodiao", "maodiao.jsonl"),
        ("station", "station.jsonl"),
        ("sensor", "sensor.jsonl"),
        ("eido", "eido.json"),
    ];
    files
        .iter()
        .map(|(source, file)| {
            let text = std::fs::read_to_string(samples_dir().join(file))
                .unwrap_or_else(|e| panic!("reading docs/samples/{file}: {e}"));
            let records: Vec<Value> = if file.ends_with(".json") {
                match serde_json::from_str::<Value>(&text).expect("sample JSON") {
                    Value::Array(a) => a,
                    one => vec![one],
                }
            } else {
                text.lines()
                    .filter(|l| !l.trim().is_empty())
                    .map(|l| serde_json::from_str(l).expect("sample JSONL line"))
                    .collect()
            };
            (*source, records)
        })
        .collect()
}

async fn push(app: &TestApp, source: &str, body: &Value) -> (u16, Value) {
    let r = app
        .client
        .post(app.url(&format!("/api/v1/ingest/{source}")))
        .json(body)
        .send()
        .await
        .expect("POST ingest");
    let status = r.status().as_u16();
    (status, r.json().await.expect("json answer"))
}

#[tokio::test]
async fn every_sample_lands_classified_and_a_replay_stores_nothing_twice() {
    let app = spawn_app().await;
    let mut total = 0;
    for (source, records) in json_samples() {
        assert!(!records.is_empty(), "{source}: empty sample");
        let (status, v) = push(&app, source, &Value::Array(records.clone())).await;
        assert_eq!(status, 201, "{source}: {v}");
        assert_eq!(v["rejected"], 0, "{source}: {v}");
        assert_eq!(v["created"], records.len(), "{source}: {v}");
        for r in v["results"].as_array().unwrap() {
            assert_eq!(r["status"], "created", "{source}: {r}");
            let leaf = r["leaf_id"]
                .as_str()
                .unwrap_or_else(|| panic!("{source}: no leaf in {r}"));
            assert_eq!(leaf.len(), 5, "{r}");
            assert!(r["lead_department"].is_string(), "{r}");
        }
        total += records.len() as i64;
        // replay: every record is a duplicate, nothing new is stored
        let (status, v) = push(&app, source, &Value::Array(records.clone())).await;
        assert_eq!(status, 200, "{source} replay: {v}");
        assert_eq!(v["duplicates"], records.len(), "{source} replay: {v}");
        assert_eq!(v["created"], 0);
    }
    assert_eq!(app.incident_count().await, total);
    // every stored incident carries its raw record and a classification
    let (no_raw, no_leaf): (i64, i64) = sqlx::query_as(
        "select count(*) filter (where raw is null), count(*) filter (where leaf_id is null) from incident",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!((no_raw, no_leaf), (0, 0));
}

fn call_110(id: &str, minutes_ago: i64) -> Value {
    let t = (Utc::now() - Duration::minutes(minutes_ago))
        .with_timezone(&chrono::FixedOffset::east_opt(8 * 3600).unwrap())
        .format("%Y-%m-%d %H:%M:%S")
        .to_string();
    json!({
        "JJDBH": id,
        "BJSJ": t,
        "BJDH": "13805761234",
        "BJRXM": "王建国",
        "SFZH": "331003198001010019",
        "SFDZ": "黄岩区院桥镇院桥村菜市场门口",
        "BJNR": "两个人在菜市场门口打架，有人头上流血，我手机13805761234",
        "BJXL": "200100",
        "JQJB": "2"
    })
}

#[tokio::test]
async fn mixed_batch_keeps_the_good_records_and_names_the_bad_ones() {
    let app = spawn_app().await;
    let mut bad_time = call_110("J-BAD-TIME", 1);
    bad_time["BJSJ"] = json!("yesterday-ish");
    let mut no_id = call_110("x", 1);
    no_id.as_object_mut().unwrap().remove("JJDBH");
    let body = json!([
        call_110("J-OK-1", 3),
        bad_time,
        no_id,
        call_110("J-OK-2", 2)
    ]);
    let (status, v) = push(&app, "110", &body).await;
    assert_eq!(status, 201, "{v}");
    assert_eq!(
        (v["created"].as_i64(), v["rejected"].as_i64()),
        (Some(2), Some(2)),
        "{v}"
    );
    let res = v["results"].as_array().unwrap();
    assert_eq!(res[0]["status"], "created");
    assert_eq!(res[1]["status"], "rejected");
    assert_eq!(res[1]["index"], 1);
    assert_eq!(res[1]["field"], "BJSJ", "{v}");
    assert!(res[1]["reason"].as_str().unwrap().len() > 5);
    assert_eq!(res[2]["field"], "JJDBH", "{v}");
    assert_eq!(res[3]["status"], "created");
    assert_eq!(app.incident_count().await, 2);

    // the source's own 110 code decides the leaf (200100 打架斗殴 → 02.01)
    assert_eq!(res[0]["leaf_id"], "02.01", "{v}");
    let tags: Vec<&str> = res[0]["tags"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(tags.contains(&"injury"), "{tags:?}");

    // all bad → 422, nothing stored
    let (status, v) = push(&app, "110", &json!([{"JJDBH": "J-X"}])).await;
    assert_eq!(status, 422, "{v}");
    assert_eq!(app.incident_count().await, 2);

    // unknown source: 404 naming it; a Chinese name is the same source
    let (status, v) = push(&app, "119", &call_110("J-9", 1)).await;
    assert_eq!(status, 404, "{v}");
    assert_eq!(v["field"], "source");
    assert!(v["reason"].as_str().unwrap().contains("119"));
    let (status, v) = push(&app, "接处警", &call_110("J-OK-1", 3)).await;
    assert_eq!(
        status, 200,
        "same record under the Chinese name is a duplicate: {v}"
    );
    assert_eq!(v["duplicates"], 1);

    // not an object or array
    let (status, v) = push(&app, "110", &json!(42)).await;
    assert_eq!(status, 400, "{v}");
    assert_eq!(v["field"], "body");
}

#[tokio::test]
async fn address_only_records_are_geocoded_and_nonsense_is_stored_unlocated() {
    let app = spawn_app().await;
    let at = rfc3339(Utc::now() - Duration::minutes(5));
    let body = json!([
        {"source": "12345", "source_id": "G1", "reported_at": at,
         "address": "黄岩区宁溪镇政府旁边", "description": "路灯坏了好几天了"},
        {"source": "12345", "source_id": "G2", "reported_at": at,
         "address": "不知道在哪里", "description": "有人在路边烧垃圾"}
    ]);
    let recs = app.post_created(&body).await;
    let located = &recs[0];
    assert_eq!(located["located"], true, "{located}");
    assert!(
        located["geocode"]["matched"]
            .as_str()
            .unwrap()
            .contains("宁溪"),
        "{located}"
    );
    assert!(located["geocode"]["confidence"].as_f64().unwrap() > 0.0);
    assert_eq!(
        located["jurisdiction"]["township_name"], "宁溪镇",
        "{located}"
    );
    let lost = &recs[1];
    assert_eq!(lost["located"], false, "{lost}");
    assert!(lost["lon"].is_null());
    // stored, never dropped, and listed as unlocated
    let list: Value = app
        .get("/api/v1/incidents?located=false")
        .await
        .json()
        .await
        .unwrap();
    let feats = list["features"].as_array().unwrap();
    assert_eq!(feats.len(), 1, "{list}");
    assert!(feats[0]["geometry"].is_null());
    assert_eq!(feats[0]["properties"]["source_id"], "G2");
    // located=true excludes it; located with bbox is refused
    let list: Value = app
        .get("/api/v1/incidents?located=true")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list["features"].as_array().unwrap().len(), 1);
    let r = app
        .get("/api/v1/incidents?located=false&bbox=121,28,122,29")
        .await;
    assert_eq!(r.status(), 400);
    // neither coordinates nor address: refused naming lon
    let r = app
        .post_incidents(&json!({"source": "110", "source_id": "G3", "reported_at": at}))
        .await;
    assert_eq!(r.status(), 400);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["field"], "lon", "{v}");
}

#[tokio::test]
async fn unlocated_incidents_reach_every_screen_on_the_stream() {
    let app = spawn_app().await;
    let (mut ws, _snapshot) = app.ws_subscribe(Some([121.2, 28.6, 121.3, 28.7])).await;
    let at = rfc3339(Utc::now() - Duration::minutes(1));
    app.post_created(
        &json!({"source": "信访", "source_id": "U1", "reported_at": at,
                            "address": "asdfgh", "description": "反映问题"}),
    )
    .await;
    let ev = crate::helpers::next_json(&mut ws).await;
    assert_eq!(ev["type"], "incident", "{ev}");
    let f = &ev["feature"];
    assert_eq!(f["properties"]["source_id"], "U1", "{ev}");
    assert_eq!(f["properties"]["located"], false, "{ev}");
    assert_eq!(f["properties"]["source"], "xinfang");
}

#[tokio::test]
async fn phone_and_id_numbers_never_appear_in_clear() {
    let app = spawn_app().await;
    let phone = "13805761234";
    let id_no = "331003198001010019";
    let (status, v) = push(&app, "110", &call_110("J-PRIV", 2)).await;
    assert_eq!(status, 201, "{v}");
    let at = rfc3339(Utc::now() - Duration::minutes(1));
    let recs = app
        .post_created(
            &json!({"source": "110", "source_id": "P2", "reported_at": at,
            "lon": 121.26, "lat": 28.65, "caller_phone": "+86 138-0576-1234", "caller_id_no": id_no,
            "description": format!("报警人称身份证{id_no}，电话{phone}")}),
        )
        .await;
    let rec = &recs[0];
    let text = rec.to_string();
    assert!(!text.contains(phone) && !text.contains(id_no), "{text}");
    let parties = rec["parties"].as_array().unwrap();
    assert_eq!(parties[0]["phone_masked"], "138****1234", "{rec}");
    let hash = parties[0]["phone_hash"].as_str().unwrap();
    // same person, two sources, two formats: one hash
    let (h110,): (Option<String>,) =
        sqlx::query_as("select caller_hash from incident where source_id = 'J-PRIV'")
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(h110.as_deref(), Some(hash));
    // and nothing in the whole database dump (tables, event log, raw records)
    let out = std::process::Command::new("pg_dump")
        .arg("--data-only")
        .arg(&app.db_url)
        .output()
        .expect("pg_dump runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let dump = String::from_utf8_lossy(&out.stdout);
    assert!(dump.contains("J-PRIV"), "the dump holds the records");
    for clear in [phone, id_no, "王建国"] {
        assert!(!dump.contains(clear), "{clear} in the database dump");
    }
    // nor in the list API
    let list = app.get("/api/v1/incidents").await.text().await.unwrap();
    assert!(!list.contains(phone) && !list.contains(id_no));
}

#[tokio::test]
async fn classify_and_taxonomy() {
    let app = spawn_app().await;
    let r = app
        .client
        .post(app.url("/api/v1/classify"))
        .json(&json!({"text": "干了半年活老板一分钱工资都没给，几十个工友堵在工地门口", "source": "12345"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let c: Value = r.json().await.unwrap();
    assert!(c["leaf_id"].as_str().unwrap().starts_with("0"), "{c}");
    assert_eq!(c["runners_up"].as_array().unwrap().len(), 2, "{c}");
    assert!(
        c["group_name"].is_string() && c["lead_department"].is_string(),
        "{c}"
    );
    assert_eq!(app.incident_count().await, 0, "classify stores nothing");
    // a source code beats the text
    let c: Value = app
        .client
        .post(app.url("/api/v1/classify"))
        .json(&json!({"text": "随便说点什么", "source": "110", "source_category": "300100"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(c["leaf_id"], "03.01", "{c}");
    assert_eq!(c["method"], "source_code");
    // bad input names the field
    for (body, field) in [
        (json!({}), "text"),
        (json!({"text": 3}), "text"),
        (json!({"text": "x", "source": "119"}), "source"),
        (json!({"text": "x", "colour": "red"}), "colour"),
    ] {
        let r = app
            .client
            .post(app.url("/api/v1/classify"))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert!(r.status().is_client_error(), "{body}");
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["field"], field, "{v}");
    }
    let t: Value = app.get("/api/v1/taxonomy").await.json().await.unwrap();
    let groups = t["groups"].as_array().unwrap();
    assert_eq!(groups.len(), 15);
    let leaves: usize = groups
        .iter()
        .map(|g| g["leaves"].as_array().unwrap().len())
        .sum();
    assert_eq!(leaves, 100);
    assert!(t["tags"].as_array().unwrap().len() >= 10);
    assert_eq!(t["sources"].as_array().unwrap().len(), 8);
}

#[tokio::test]
async fn concurrent_pushes_either_land_once_or_are_told_to_retry() {
    let app = crate::helpers::spawn_app_with(|s| {
        s.ingest.queue_jobs = 1;
        s.ingest.workers = 1;
    })
    .await;
    let mut handles = Vec::new();
    for k in 0..12 {
        let client = app.client.clone();
        let url = app.url("/api/v1/ingest/110");
        let body = Value::Array(
            (0..100)
                .map(|i| call_110(&format!("C{k}-{i}"), 3))
                .collect(),
        );
        handles.push(tokio::spawn(async move {
            let r = client.post(url).json(&body).send().await.unwrap();
            let status = r.status().as_u16();
            let retry = r.headers().get("retry-after").is_some();
            let v: Value = r.json().await.unwrap();
            (status, retry, v)
        }));
    }
    let mut created = 0;
    for h in handles {
        let (status, retry, v) = h.await.unwrap();
        match status {
            201 => created += v["created"].as_i64().unwrap(),
            503 => assert!(retry, "503 without Retry-After: {v}"),
            other => panic!("unexpected {other}: {v}"),
        }
    }
    assert_eq!(app.incident_count().await, created);
    let stats: Value = app.get("/api/v1/stats/ingest").await.json().await.unwrap();
    assert_eq!(stats["created"], created, "{stats}");
    assert!(
        stats["us_per_record"]["classify"].as_f64().unwrap() > 0.0,
        "{stats}"
    );
}
