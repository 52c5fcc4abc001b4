use chrono::Utc;
use serde_json::{json, Value};

use crate::helpers::{
    assert_field_error, at_seat, incident, rfc3339, spawn_app, townships, TestApp,
};

#[tokio::test]
async fn ingest_is_idempotent_on_source_and_source_id() {
    let app = spawn_app().await;
    let t = &townships()[3];

    let r = app.post_incidents(&at_seat("A1", t, 5)).await;
    assert_eq!(r.status(), 201);
    let first: Value = r.json().await.unwrap();
    let id = first["id"].as_i64().expect("id");
    assert_eq!(first["created"], true, "{first}");
    assert_eq!(first["source"], "110");
    assert_eq!(first["source_id"], "A1");
    let j = &first["jurisdiction"];
    assert_eq!(j["inside"], true, "{first}");
    assert_eq!(j["township_code"], t.code.as_str(), "{first}");
    assert!(j["grid_code"].is_string(), "{first}");
    assert!(j["station_code"].is_string(), "{first}");
    assert!(j["post_code"].is_string(), "{first}");
    assert_eq!(app.incident_count().await, 1);

    // the same (source, source_id) again, even with other content: 200, same record
    let mut again = at_seat("A1", t, 1);
    again["description"] = json!("resent");
    let r = app.post_incidents(&again).await;
    assert_eq!(r.status(), 200);
    let second: Value = r.json().await.unwrap();
    assert_eq!(second["id"], id, "{second}");
    assert_eq!(second["created"], false, "{second}");
    assert_eq!(
        second["description"], first["description"],
        "stored record is returned"
    );
    assert_eq!(app.incident_count().await, 1);

    // the same source_id from another source is another incident
    let mut other_source = at_seat("A1", t, 1);
    other_source["source"] = json!("12345");
    let rec = app.post_created(&other_source).await;
    assert_ne!(rec[0]["id"], id);
    assert_eq!(app.incident_count().await, 2);

    // an array: new, duplicate, new → 201, in input order
    let batch = json!([
        at_seat("A2", t, 3),
        at_seat("A1", t, 3),
        at_seat("A3", t, 2)
    ]);
    let r = app.post_incidents(&batch).await;
    assert_eq!(r.status(), 201);
    let list: Value = r.json().await.unwrap();
    let list = list.as_array().expect("array answer to an array");
    assert_eq!(list.len(), 3);
    assert_eq!(list[0]["source_id"], "A2");
    assert_eq!(list[0]["created"], true);
    assert_eq!(list[1]["source_id"], "A1");
    assert_eq!(list[1]["id"], id);
    assert_eq!(list[1]["created"], false);
    assert_eq!(list[2]["source_id"], "A3");
    assert_eq!(list[2]["created"], true);
    let (a2, a3) = (
        list[0]["id"].as_i64().unwrap(),
        list[2]["id"].as_i64().unwrap(),
    );
    assert!(a2 != id && a3 != id && a2 != a3);
    assert_eq!(app.incident_count().await, 4);

    // an array where everything is already stored: 200
    let r = app
        .post_incidents(&json!([at_seat("A3", t, 2), at_seat("A2", t, 2)]))
        .await;
    assert_eq!(r.status(), 200);
    let list: Value = r.json().await.unwrap();
    assert_eq!(list[0]["id"], a3);
    assert_eq!(list[1]["id"], a2);
    assert_eq!(app.incident_count().await, 4);

    // duplicates inside one batch: the first wins and only it is "created"
    let r = app
        .post_incidents(&json!([at_seat("B1", t, 2), at_seat("B1", t, 1)]))
        .await;
    assert_eq!(r.status(), 201);
    let list: Value = r.json().await.unwrap();
    assert_eq!(list[0]["id"], list[1]["id"]);
    assert_eq!(list[0]["created"], true);
    assert_eq!(list[1]["created"], false);
    assert_eq!(app.incident_count().await, 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_identical_posts_store_exactly_one_row() {
    let app = spawn_app().await;
    let t = &townships()[5];
    let body = at_seat("RACE-1", t, 1);
    let answers = futures::future::join_all((0..20).map(|_| async {
        let r = app.post_incidents(&body).await;
        let status = r.status().as_u16();
        let v: Value = r.json().await.unwrap();
        (status, v)
    }))
    .await;
    let ids: std::collections::HashSet<i64> = answers
        .iter()
        .map(|(s, v)| {
            assert!(*s == 200 || *s == 201, "status {s}: {v}");
            v["id"].as_i64().expect("id")
        })
        .collect();
    assert_eq!(
        ids.len(),
        1,
        "different ids for one (source, source_id): {ids:?}"
    );
    let created = answers.iter().filter(|(_, v)| v["created"] == true).count();
    let status_201 = answers.iter().filter(|(s, _)| *s == 201).count();
    assert_eq!(created, 1, "exactly one answer says created");
    assert_eq!(status_201, 1, "exactly one 201");
    assert_eq!(app.incident_count().await, 1);
    let logged: i64 =
        sqlx::query_scalar("select count(*) from event_log where kind = 'incident.created'")
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(logged, 1);
}

/// One malformed request: raw body bytes, content type, expected status and field.
struct Bad {
    name: &'static str,
    body: Vec<u8>,
    content_type: Option<&'static str>,
    status: u16,
    field: &'static str,
}

fn bad_json(name: &'static str, v: Value, field: &'static str) -> Bad {
    Bad {
        name,
        body: v.to_string().into_bytes(),
        content_type: Some("application/json"),
        status: 400,
        field,
    }
}

fn bad_raw(name: &'static str, raw: &str, field: &'static str) -> Bad {
    Bad {
        name,
        body: raw.as_bytes().to_vec(),
        content_type: Some("application/json"),
        status: 400,
        field,
    }
}

fn cases(lon: f64, lat: f64) -> Vec<Bad> {
    // every body uses fresh source ids, so storing it would change the count
    let good = |id: &str| incident(id, lon, lat, 1);
    let with = |id: &str, k: &str, v: Value| {
        let mut b = good(id);
        b[k] = v;
        b
    };
    let without = |id: &str, k: &str| {
        let mut b = good(id);
        b.as_object_mut().unwrap().remove(k);
        b
    };
    let future = rfc3339(Utc::now() + chrono::Duration::hours(1));
    let mut huge = good("X-huge");
    huge["description"] = json!("x".repeat(2 * 1024 * 1024 + 100));
    let too_many: Vec<Value> = (0..1001).map(|i| good(&format!("X-many-{i}"))).collect();
    vec![
        bad_raw(
            "truncated JSON",
            r#"{"source":"110","source_id":"X1","#,
            "body",
        ),
        bad_raw("not JSON at all", "hello", "body"),
        bad_raw(
            "NaN literal",
            &format!(
                r#"{{"source":"110","source_id":"X2","reported_at":"{}","lon":NaN,"lat":{lat}}}"#,
                rfc3339(Utc::now())
            ),
            "body",
        ),
        bad_raw(
            "number out of range",
            &format!(
                r#"{{"source":"110","source_id":"X3","reported_at":"{}","lon":1e999,"lat":{lat}}}"#,
                rfc3339(Utc::now())
            ),
            "body",
        ),
        bad_raw("empty body", "", "body"),
        bad_json(
            "NUL character in description",
            with("X-nul", "description", json!("before\u{0}after")),
            "description",
        ),
        Bad {
            name: "text/plain content type",
            body: good("X4").to_string().into_bytes(),
            content_type: Some("text/plain"),
            status: 415,
            field: "content-type",
        },
        Bad {
            name: "no content type",
            body: good("X5").to_string().into_bytes(),
            content_type: None,
            status: 415,
            field: "content-type",
        },
        bad_json("empty array", json!([]), "body"),
        bad_json("a number", json!(3), "body"),
        bad_json("null", Value::Null, "body"),
        bad_json("a string", json!("incident"), "body"),
        bad_json(
            "one bad element among good ones",
            json!([good("X6a"), with("X6b", "lat", json!(91.0)), good("X6c")]),
            "[1].lat",
        ),
        bad_json(
            "last element bad",
            json!([
                good("X7a"),
                good("X7b"),
                with("X7c", "source", json!("119"))
            ]),
            "[2].source",
        ),
        bad_json("non-object element", json!([good("X8a"), 5]), "[1]"),
        bad_json("array element is an array", json!([[good("X9a")]]), "[0]"),
        bad_json(
            "lon as \"NaN\" string",
            with("X10", "lon", json!("NaN")),
            "lon",
        ),
        bad_json(
            "lat as \"Infinity\" string",
            with("X11", "lat", json!("Infinity")),
            "lat",
        ),
        bad_json(
            "lon as numeric string",
            with("X12", "lon", json!(lon.to_string())),
            "lon",
        ),
        bad_json("lat 91", with("X13", "lat", json!(91)), "lat"),
        bad_json("lat -90.0001", with("X14", "lat", json!(-90.0001)), "lat"),
        bad_json("lon 180.5", with("X15", "lon", json!(180.5)), "lon"),
        bad_json("lon -181", with("X16", "lon", json!(-181)), "lon"),
        bad_json("missing source", without("X17", "source"), "source"),
        bad_json(
            "missing source_id",
            without("X18", "source_id"),
            "source_id",
        ),
        bad_json(
            "missing reported_at",
            without("X19", "reported_at"),
            "reported_at",
        ),
        bad_json("missing lon", without("X20", "lon"), "lon"),
        bad_json("missing lat", without("X21", "lat"), "lat"),
        bad_json("null lat", with("X22", "lat", Value::Null), "lat"),
        bad_json("unknown field", with("X23", "lng", json!(lon)), "lng"),
        bad_json(
            "unknown source",
            with("X24", "source", json!("119")),
            "source",
        ),
        bad_json(
            "empty source_id",
            with("X25", "source_id", json!("  ")),
            "source_id",
        ),
        bad_json(
            "source_id too long",
            with("X26", "source_id", json!("s".repeat(129))),
            "source_id",
        ),
        bad_json(
            "source_id a number",
            with("X27", "source_id", json!(27)),
            "source_id",
        ),
        bad_json("priority 9", with("X28", "priority", json!(9)), "priority"),
        bad_json("priority 0", with("X29", "priority", json!(0)), "priority"),
        bad_json(
            "priority -1",
            with("X30", "priority", json!(-1)),
            "priority",
        ),
        bad_json(
            "priority 2.5",
            with("X31", "priority", json!(2.5)),
            "priority",
        ),
        bad_json(
            "priority \"1\"",
            with("X32", "priority", json!("1")),
            "priority",
        ),
        bad_json(
            "future reported_at",
            with("X33", "reported_at", json!(future)),
            "reported_at",
        ),
        bad_json(
            "reported_at not a date",
            with("X34", "reported_at", json!("yesterday")),
            "reported_at",
        ),
        bad_json(
            "reported_at without offset",
            with("X35", "reported_at", json!("2025-01-01T08:00:00")),
            "reported_at",
        ),
        bad_json("unknown crs", with("X36", "crs", json!("utm")), "crs"),
        bad_json("crs not a string", with("X37", "crs", json!(4326)), "crs"),
        bad_json(
            "description too long",
            with("X38", "description", json!("述".repeat(2001))),
            "description",
        ),
        bad_json(
            "category not a string",
            with("X39", "category", json!(["a"])),
            "category",
        ),
        bad_json("more than 1000 incidents", Value::Array(too_many), "body"),
        Bad {
            name: "body over 2 MiB",
            body: huge.to_string().into_bytes(),
            content_type: Some("application/json"),
            status: 413,
            field: "body",
        },
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_is_4xx_with_field_and_never_stored() {
    let app = spawn_app().await;
    let t = &townships()[0];
    // one stored incident, so "unchanged" is not just "still zero"
    app.post_created(&at_seat("baseline", t, 1)).await;
    let before = app.incident_count().await;
    assert_eq!(before, 1);
    for case in cases(t.seat_lon, t.seat_lat) {
        let mut req = app
            .client
            .post(app.url("/api/v1/incidents"))
            .body(case.body.clone());
        if let Some(ct) = case.content_type {
            req = req.header(reqwest::header::CONTENT_TYPE, ct);
        }
        let r = req
            .send()
            .await
            .unwrap_or_else(|e| panic!("{}: request failed: {e}", case.name));
        let status = r.status().as_u16();
        let text = r.text().await.unwrap_or_default();
        assert!(status < 500, "{}: server error {status}: {text}", case.name);
        assert_eq!(status, case.status, "{}: {text}", case.name);
        let v: Value = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("{}: error body is not JSON ({e}): {text}", case.name));
        assert_eq!(v["field"], case.field, "{}: {v}", case.name);
        assert!(
            v["reason"].as_str().is_some_and(|s| !s.is_empty()),
            "{}: no reason: {v}",
            case.name
        );
        assert_eq!(
            app.incident_count().await,
            before,
            "{}: the incident count changed",
            case.name
        );
    }
    let r = app.get("/healthz").await;
    assert_eq!(r.status(), 200, "server unhealthy after bad input");
    let events: i64 =
        sqlx::query_scalar("select count(*) from event_log where kind = 'incident.created'")
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(events, 1, "bad input wrote to the event log");
}

async fn query(app: &TestApp, params: &[(&str, &str)]) -> Vec<Value> {
    let r = app
        .client
        .get(app.url("/api/v1/incidents"))
        .query(params)
        .send()
        .await
        .unwrap();
    let status = r.status();
    let ct = r.headers()[reqwest::header::CONTENT_TYPE]
        .to_str()
        .unwrap()
        .to_string();
    let v: Value = r.json().await.unwrap();
    assert_eq!(status, 200, "{params:?}: {v}");
    assert!(ct.starts_with("application/geo+json"), "{ct}");
    assert_eq!(v["type"], "FeatureCollection");
    v["features"].as_array().expect("features").clone()
}

fn source_ids(features: &[Value]) -> Vec<String> {
    features
        .iter()
        .map(|f| f["properties"]["source_id"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn query_filters_by_bbox_since_and_limit_newest_first() {
    let app = spawn_app().await;
    let ts = townships();
    let (a, b, c) = (&ts[0], &ts[7], &ts[14]);
    // inserted oldest-last, so id order and time order disagree
    app.post_created(&at_seat("Q-new", a, 10)).await;
    app.post_created(&at_seat("Q-mid", b, 20)).await;
    app.post_created(&at_seat("Q-old", c, 30)).await;

    let all = query(&app, &[]).await;
    assert_eq!(source_ids(&all), ["Q-new", "Q-mid", "Q-old"]);
    let f = &all[0];
    assert_eq!(f["type"], "Feature");
    assert_eq!(f["geometry"]["type"], "Point");
    assert!((f["geometry"]["coordinates"][0].as_f64().unwrap() - a.seat_lon).abs() < 1e-9);
    assert!((f["geometry"]["coordinates"][1].as_f64().unwrap() - a.seat_lat).abs() < 1e-9);
    assert_eq!(
        f["properties"]["jurisdiction"]["township_code"],
        a.code.as_str()
    );

    // a small box around one seat
    let d = 0.002;
    let around = |t: &crate::helpers::Township| {
        format!(
            "{},{},{},{}",
            t.seat_lon - d,
            t.seat_lat - d,
            t.seat_lon + d,
            t.seat_lat + d
        )
    };
    assert_eq!(
        source_ids(&query(&app, &[("bbox", &around(b))]).await),
        ["Q-mid"]
    );
    assert_eq!(
        source_ids(&query(&app, &[("bbox", &around(c))]).await),
        ["Q-old"]
    );
    assert!(query(&app, &[("bbox", "120.0,30.0,120.1,30.1")])
        .await
        .is_empty());
    let district = "120.0,28.0,122.0,29.5";
    assert_eq!(query(&app, &[("bbox", district)]).await.len(), 3);

    let since = rfc3339(Utc::now() - chrono::Duration::minutes(15));
    assert_eq!(
        source_ids(&query(&app, &[("since", &since)]).await),
        ["Q-new"]
    );
    // an offset with '+', properly encoded
    let since_cst = (Utc::now() - chrono::Duration::minutes(25))
        .with_timezone(&chrono::FixedOffset::east_opt(8 * 3600).unwrap())
        .to_rfc3339();
    assert_eq!(
        source_ids(&query(&app, &[("since", &since_cst)]).await),
        ["Q-new", "Q-mid"]
    );
    assert_eq!(
        source_ids(&query(&app, &[("limit", "2")]).await),
        ["Q-new", "Q-mid"]
    );
    assert_eq!(source_ids(&query(&app, &[("limit", "1")]).await), ["Q-new"]);
    assert_eq!(
        source_ids(
            &query(
                &app,
                &[("bbox", district), ("since", &since_cst), ("limit", "1")]
            )
            .await
        ),
        ["Q-new"]
    );
}

#[tokio::test]
async fn bad_query_parameters_are_400_naming_the_field() {
    let app = spawn_app().await;
    for (q, field) in [
        ("bbox=1,2,3", "bbox"),
        ("bbox=3,0,1,1", "bbox"),
        ("bbox=0,5,1,1", "bbox"),
        ("bbox=a,b,c,d", "bbox"),
        ("bbox=0,0,1,95", "bbox"),
        ("bbox=NaN,0,1,1", "bbox"),
        ("bbox=", "bbox"),
        ("since=yesterday", "since"),
        ("since=2025-01-01", "since"),
        ("limit=0", "limit"),
        ("limit=99999", "limit"),
        ("limit=-1", "limit"),
        ("limit=ten", "limit"),
        ("foo=1", "foo"),
        ("limit=5&bbx=1,2,3,4", "bbx"),
    ] {
        let r = app.get(&format!("/api/v1/incidents?{q}")).await;
        assert_field_error(r, 400, field).await;
    }
}

#[tokio::test]
async fn until_and_cursor_pages_read_a_period_exactly_once() {
    let app = spawn_app().await;
    let t = &townships()[2];
    let base = Utc::now() - chrono::Duration::hours(5);
    let at = |min: i64| rfc3339(base + chrono::Duration::minutes(min));
    let mut body = Vec::new();
    // 24 inside [since, until): pairs share a reported_at (ties broken by id)
    for k in 0..24 {
        let mut b = at_seat(&format!("P{k}"), t, 0);
        b["reported_at"] = json!(at(10 + k / 2));
        body.push(b);
    }
    // outside: before since, exactly at until (exclusive), after until
    for (id, min) in [("OUT-early", 5), ("OUT-until", 100), ("OUT-late", 120)] {
        let mut b = at_seat(id, t, 0);
        b["reported_at"] = json!(at(min));
        body.push(b);
    }
    app.post_created(&Value::Array(body)).await;
    let since = at(10);
    let until = at(100);
    let mut url = format!(
        "/api/v1/incidents?since={}&until={}&limit=5",
        urlencode(&since),
        urlencode(&until)
    );
    let mut seen: Vec<(String, i64)> = Vec::new();
    let mut pages = 0;
    loop {
        let r = app.get(&url).await;
        assert_eq!(r.status(), 200, "{url}");
        let v: Value = r.json().await.unwrap();
        for f in v["features"].as_array().unwrap() {
            seen.push((
                f["properties"]["reported_at"].as_str().unwrap().to_string(),
                f["id"].as_i64().unwrap(),
            ));
        }
        pages += 1;
        match v["next"].as_str() {
            Some(next) => url = next.to_string(),
            None => break,
        }
        assert!(pages < 20, "pagination does not end");
    }
    assert_eq!(seen.len(), 24, "{seen:?}");
    let mut ids: Vec<i64> = seen.iter().map(|s| s.1).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 24, "an incident was read twice");
    // newest first, ties by id descending
    let mut sorted = seen.clone();
    sorted.sort_by(|a, b| b.cmp(a));
    assert_eq!(seen, sorted);
    assert_eq!(pages, 5, "24 rows in pages of 5: 4 full pages + 1");
    // a forged cursor is a 400 naming it
    let r = app.get("/api/v1/incidents?cursor=abc").await;
    assert_eq!(r.status(), 400);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["field"], "cursor");
}

fn urlencode(s: &str) -> String {
    s.replace('+', "%2B").replace(':', "%3A")
}
