use std::time::Duration;

use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

use crate::helpers::{
    at_seat, next_json, next_json_within, send_json, snapshot_ids, spawn_app, spawn_app_with,
    subscribe, two_separate_townships, Township, WsStream, WAIT,
};

/// The next `incident` message (asserting nothing else but heartbeats comes first).
async fn next_incident(ws: &mut WsStream) -> Value {
    let v = next_json(ws).await;
    assert_eq!(
        v["type"], "incident",
        "expected an incident message, got {v}"
    );
    v
}

fn seq(v: &Value) -> u64 {
    v["seq"].as_u64().unwrap_or_else(|| panic!("no seq in {v}"))
}

fn feature_id(v: &Value) -> i64 {
    v["feature"]["id"]
        .as_i64()
        .unwrap_or_else(|| panic!("no feature id in {v}"))
}

async fn post_one(app: &crate::helpers::TestApp, source_id: &str, t: &Township) -> i64 {
    app.post_created(&at_seat(source_id, t, 1)).await[0]["id"]
        .as_i64()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscriber_gets_incidents_inside_its_bbox_only() {
    let app = spawn_app().await;
    let (inside, outside) = two_separate_townships();
    let (mut ws, snap) = app.ws_subscribe(Some(inside.bbox)).await;
    let s = seq(&snap);
    assert!(snapshot_ids(&snap).is_empty());
    let b: Vec<f64> = serde_json::from_value(snap["bbox"].clone()).unwrap();
    assert_eq!(b, inside.bbox.to_vec(), "snapshot echoes the bbox");

    // outside first: if the filter leaked, it would arrive first
    let out_id = post_one(&app, "WS-out", &outside).await;
    let in_id = post_one(&app, "WS-in", &inside).await;
    let msg = next_incident(&mut ws).await;
    assert_eq!(feature_id(&msg), in_id, "got {msg} (outside id {out_id})");
    assert!(
        seq(&msg) > s,
        "event seq {} not after snapshot seq {s}",
        seq(&msg)
    );
    let f = &msg["feature"];
    assert_eq!(f["type"], "Feature");
    assert_eq!(f["geometry"]["type"], "Point");
    assert!((f["geometry"]["coordinates"][0].as_f64().unwrap() - inside.seat_lon).abs() < 1e-9);
    assert_eq!(f["properties"]["source_id"], "WS-in");
    assert_eq!(
        f["properties"]["jurisdiction"]["township_code"],
        inside.code.as_str()
    );

    // the socket still answers pings, and nothing else was queued before it
    send_json(&mut ws, json!({"type": "ping"})).await;
    let pong = next_json(&mut ws).await;
    assert_eq!(pong["type"], "pong", "{pong}");
    assert!(seq(&pong) >= seq(&msg));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_subscribe_gets_an_error_and_the_socket_stays_usable() {
    let app = spawn_app().await;
    let (inside, _) = two_separate_townships();
    let mut ws = app.ws_connect().await;
    send_json(
        &mut ws,
        json!({"type": "subscribe", "bbox": [3, 0, 1, 1], "layers": ["incidents"]}),
    )
    .await;
    let e = next_json(&mut ws).await;
    assert_eq!(e["type"], "error", "{e}");
    assert_eq!(e["field"], "bbox", "{e}");
    assert!(e["reason"].as_str().is_some_and(|r| !r.is_empty()), "{e}");

    for (bad, field) in [
        (json!({"type": "subscribe", "bbox": [1, 2, 3]}), "bbox"),
        (
            json!({"type": "subscribe", "bbox": "121,28,122,29"}),
            "bbox",
        ),
        (json!({"type": "subscribe", "layers": ["cars"]}), "layers"),
        (json!({"type": "dance"}), "type"),
    ] {
        send_json(&mut ws, bad.clone()).await;
        let e = next_json(&mut ws).await;
        assert_eq!(e["type"], "error", "{bad}: {e}");
        assert_eq!(e["field"], field, "{bad}: {e}");
    }
    tokio::time::timeout(
        WAIT,
        futures::SinkExt::send(&mut ws, Message::Text("not json".into())),
    )
    .await
    .unwrap()
    .unwrap();
    let e = next_json(&mut ws).await;
    assert_eq!(e["field"], "message", "{e}");

    // still usable: a good subscribe works and delivers
    let snap = subscribe(&mut ws, Some(inside.bbox)).await;
    let id = post_one(&app, "WS-after-error", &inside).await;
    let msg = next_incident(&mut ws).await;
    assert_eq!(feature_id(&msg), id);
    assert!(seq(&msg) > seq(&snap));

    // an error after subscribing keeps the subscription
    send_json(&mut ws, json!({"type": "subscribe", "bbox": [3, 0, 1, 1]})).await;
    let e = next_json(&mut ws).await;
    assert_eq!(e["field"], "bbox", "{e}");
    let id2 = post_one(&app, "WS-after-error-2", &inside).await;
    assert_eq!(feature_id(&next_incident(&mut ws).await), id2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_clients_each_get_only_their_bbox() {
    let app = spawn_app().await;
    let (t1, t2) = two_separate_townships();
    let (mut ws1, _) = app.ws_subscribe(Some(t1.bbox)).await;
    let (mut ws2, _) = app.ws_subscribe(Some(t2.bbox)).await;
    // published in this order: x1, x2, s1, s2. Receiving the sentinel right
    // after its own incident proves the other one was not delivered.
    let x1 = post_one(&app, "X1", &t1).await;
    let x2 = post_one(&app, "X2", &t2).await;
    let s1 = post_one(&app, "S1", &t1).await;
    let s2 = post_one(&app, "S2", &t2).await;
    let got1 = [
        feature_id(&next_incident(&mut ws1).await),
        feature_id(&next_incident(&mut ws1).await),
    ];
    let got2 = [
        feature_id(&next_incident(&mut ws2).await),
        feature_id(&next_incident(&mut ws2).await),
    ];
    assert_eq!(got1, [x1, s1], "client 1 (x2={x2}, s2={s2})");
    assert_eq!(got2, [x2, s2], "client 2 (x1={x1}, s1={s1})");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snapshot_contains_stored_incidents_inside_the_bbox() {
    let app = spawn_app().await;
    let (inside, outside) = two_separate_townships();
    let a = post_one(&app, "SNAP-a", &inside).await;
    let _out = post_one(&app, "SNAP-out", &outside).await;
    let b = app.post_created(&at_seat("SNAP-b", &inside, 0)).await[0]["id"]
        .as_i64()
        .unwrap();
    let (mut ws, snap) = app.ws_subscribe(Some(inside.bbox)).await;
    // newest first (b was reported after a)
    assert_eq!(snapshot_ids(&snap), vec![b, a], "{snap}");
    assert_eq!(snap["incidents"]["type"], "FeatureCollection");
    assert!(
        seq(&snap) >= 3,
        "snapshot seq {} after 3 incidents",
        seq(&snap)
    );
    // snapshot incidents are not sent again as events
    let c = post_one(&app, "SNAP-c", &inside).await;
    assert_eq!(feature_id(&next_incident(&mut ws).await), c);

    // re-subscribing to another box replaces the subscription with a new
    // snapshot — at most once per second: a faster one is refused and the
    // old subscription stays
    let pace = lianqin::realtime::MIN_SUBSCRIBE_INTERVAL + std::time::Duration::from_millis(100);
    tokio::time::sleep(pace).await;
    let snap2 = subscribe(&mut ws, Some(outside.bbox)).await;
    assert_eq!(snapshot_ids(&snap2).len(), 1, "{snap2}");
    send_json(&mut ws, json!({"type": "subscribe"})).await;
    let refused = next_json(&mut ws).await;
    assert_eq!(refused["type"], "error", "{refused}");
    assert_eq!(refused["field"], "type", "{refused}");
    let d = post_one(&app, "SNAP-d", &outside).await;
    assert_eq!(
        feature_id(&next_incident(&mut ws).await),
        d,
        "the outside box is still in force"
    );
    // without a bbox: the whole world
    tokio::time::sleep(pace).await;
    let snap3 = subscribe(&mut ws, None).await;
    assert_eq!(snapshot_ids(&snap3).len(), 5, "{snap3}");
}

/// Socket buffers between the server and a client that does not read: the
/// server's send buffer can grow to `tcp_wmem` max; the client's receive
/// buffer we make small.
fn socket_buffer_bytes() -> usize {
    std::fs::read_to_string("/proc/sys/net/ipv4/tcp_wmem")
        .ok()
        .and_then(|s| s.split_whitespace().nth(2)?.parse().ok())
        .unwrap_or(4 * 1024 * 1024)
}

/// Polls /healthz until the live world reports `n` stream subscribers.
async fn wait_for_subscribers(app: &crate::helpers::TestApp, n: u64) {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let h: Value = app.get("/healthz").await.json().await.unwrap();
        if h["world"]["subscribers"].as_u64() == Some(n) {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "never saw {n} subscribers: {h}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A client that stops reading falls behind its bounded queue and is resynced
/// (resync + fresh snapshot), while a reading client gets every event.
///
/// Why this is deterministic: a session only lags when its task stops
/// calling `recv` while more than `client_queue` events are published. A
/// flood of live events does not achieve that reliably: a session that lags
/// during the flood skips the missed events, so the flood never fills its
/// socket. Instead the slow client's *snapshot* is made larger than every
/// buffer between the server and it (its receive buffer is set small; the
/// snapshot exceeds the largest send buffer the kernel allows, `tcp_wmem`
/// max): the server subscribes it to the live events, then blocks writing the
/// snapshot (write timeout 10 s) and cannot drain its 4-event queue while
/// the 50 incidents are published. The reading client's box excludes the
/// stored incidents, so its snapshot is small, and the 50 are posted in
/// batches of 2, so its queue of 4 never overflows.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_consumer_is_resynced_while_a_reader_gets_everything() {
    let big_description = "警".repeat(2000);
    let big_address = "址".repeat(256);
    let per_incident = 3 * 2000 + 3 * 256 + 500;
    let stored_total = (socket_buffer_bytes() + 2 * 1024 * 1024) / per_incident + 1;
    let app = spawn_app_with(|s| {
        s.stream.client_queue = 4;
        s.stream.snapshot_limit = stored_total + 100;
        s.stream.heartbeat_secs = 60;
    })
    .await;
    let (t, other) = two_separate_townships();

    // large stored incidents outside the reader's box (nobody subscribed yet)
    let mut n = 0;
    while n < stored_total {
        let batch: Vec<Value> = (n..(n + 200).min(stored_total))
            .map(|i| {
                let mut b = at_seat(&format!("BIG-{i}"), &other, 5);
                b["description"] = json!(big_description);
                b["address"] = json!(big_address);
                b
            })
            .collect();
        n += batch.len();
        app.post_created(&Value::Array(batch)).await;
    }

    // the slow client: small receive buffer, subscribes to the whole world
    // and does not read its (huge) snapshot
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let stream = socket.connect(app.addr).await.unwrap();
    let (mut slow, _) = tokio_tungstenite::client_async(
        format!("ws://{}/api/v1/stream", app.addr),
        tokio_tungstenite::MaybeTlsStream::Plain(stream),
    )
    .await
    .unwrap();
    send_json(
        &mut slow,
        json!({"type": "subscribe", "layers": ["incidents"]}),
    )
    .await;
    // its subscription exists (the snapshot is being written)
    wait_for_subscribers(&app, 1).await;

    // the reader subscribes and reads everything in a task
    let (mut reader, reader_snap) = app.ws_subscribe(Some(t.bbox)).await;
    assert!(snapshot_ids(&reader_snap).is_empty());
    let reader_seq = seq(&reader_snap);
    let reading = tokio::spawn(async move {
        let mut got = Vec::new();
        while got.len() < 50 {
            let v = next_json_within(&mut reader, Duration::from_secs(20)).await;
            assert_eq!(v["type"], "incident", "reading client got {v}");
            got.push(v);
        }
        got
    });

    // 50 incidents inside both boxes, in batches of 2
    let mut posted = Vec::new();
    for i in (0..50).step_by(2) {
        let recs = app
            .post_created(&json!([
                at_seat(&format!("LIVE-{i}"), &t, 1),
                at_seat(&format!("LIVE-{}", i + 1), &t, 1)
            ]))
            .await;
        posted.extend(recs.iter().map(|r| r["id"].as_i64().unwrap()));
    }

    let got = tokio::time::timeout(Duration::from_secs(30), reading)
        .await
        .expect("reading client did not get 50 incidents in 30 s")
        .expect("reader task");
    let ids: Vec<i64> = got.iter().map(feature_id).collect();
    assert_eq!(ids, posted, "reading client: every incident, in order");
    let seqs: Vec<u64> = got.iter().map(seq).collect();
    assert!(seqs[0] > reader_seq);
    assert!(
        seqs.windows(2).all(|w| w[0] < w[1]),
        "seq not strictly increasing: {seqs:?}"
    );
    let last_seq = *seqs.last().unwrap();

    // now the slow client reads: its first snapshot (from before the 50),
    // then resync, then a fresh snapshot that holds the 50
    let first = next_json_within(&mut slow, Duration::from_secs(20)).await;
    assert_eq!(first["type"], "snapshot", "{}", first["type"]);
    // (other layers, e.g. heat deltas, share the sequence, so the snapshots
    // are compared with the 50 incidents' numbers, not with equality)
    assert!(
        seq(&first) <= reader_seq,
        "first snapshot predates the reader"
    );
    assert!(seq(&first) < seqs[0], "first snapshot predates the 50");
    assert_eq!(snapshot_ids(&first).len(), stored_total);
    let resync = next_json_within(&mut slow, Duration::from_secs(20)).await;
    assert_eq!(
        resync["type"], "resync",
        "the slow client was not resynced; got {}",
        resync["type"]
    );
    assert!(resync["reason"].is_string(), "resync without a reason");
    let snap = next_json_within(&mut slow, Duration::from_secs(20)).await;
    assert_eq!(snap["type"], "snapshot", "after resync: {}", snap["type"]);
    assert!(seq(&snap) >= last_seq, "fresh snapshot is current");
    let snap_ids = snapshot_ids(&snap);
    assert_eq!(snap_ids.len(), stored_total + 50);
    // newest first: the 50 live ones (reported after the stored ones), newest first
    let newest: Vec<i64> = posted.iter().rev().copied().collect();
    assert_eq!(&snap_ids[..50], &newest[..], "snapshot order");

    // and it is live again
    let id = post_one(&app, "AFTER-RESYNC", &t).await;
    let msg = next_incident(&mut slow).await;
    assert_eq!(feature_id(&msg), id);
    assert!(seq(&msg) > last_seq);
}

/// A page from another site must not read the feed (cross-site WebSocket
/// hijacking); the big screen's own origin and non-browser clients may.
#[tokio::test]
async fn a_cross_site_origin_is_refused() {
    use tokio_tungstenite::tungstenite::{client::IntoClientRequest, Error};
    let app = spawn_app().await;
    let url = format!("ws://{}/api/v1/stream", app.addr);
    let with_origin = |origin: &str| {
        let mut req = url.as_str().into_client_request().unwrap();
        req.headers_mut().insert("origin", origin.parse().unwrap());
        req
    };
    match tokio_tungstenite::connect_async(with_origin("http://evil.example")).await {
        Err(Error::Http(resp)) => assert_eq!(resp.status(), 403),
        Err(other) => panic!("expected HTTP 403, got {other}"),
        Ok(_) => panic!("a cross-site origin was accepted"),
    }
    let same = format!("http://{}", app.addr);
    let (mut ws, _) = tokio_tungstenite::connect_async(with_origin(&same))
        .await
        .expect("same origin");
    let snap = subscribe(&mut ws, None).await;
    assert_eq!(snap["type"], "snapshot");
}

/// A backfilled record older than the live retention (72 h) is stored and
/// queryable, but not streamed: a reconnecting screen's snapshot would not
/// contain it either.
#[tokio::test]
async fn old_backfill_is_stored_but_not_streamed() {
    let app = spawn_app().await;
    let (inside, _) = two_separate_townships();
    let (mut ws, _snap) = app.ws_subscribe(Some(inside.bbox)).await;
    let mut old = at_seat("OLD-1", &inside, 0);
    old["reported_at"] = json!((chrono::Utc::now() - chrono::Duration::days(10)).to_rfc3339());
    let old_id = app.post_created(&old).await[0]["id"].as_i64().unwrap();
    let fresh = post_one(&app, "NEW-1", &inside).await;
    // the next incident on the stream is the fresh one, not the backfill
    assert_eq!(feature_id(&next_incident(&mut ws).await), fresh);
    let all: Value = app
        .get("/api/v1/incidents?limit=10")
        .await
        .json()
        .await
        .unwrap();
    let ids: Vec<i64> = all["features"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["id"].as_i64().unwrap())
        .collect();
    assert!(ids.contains(&old_id), "the backfill is stored: {ids:?}");
}

/// On shutdown a subscribed screen is told "going away" (1001) with a close
/// frame, so it reconnects at once instead of waiting for a dead socket.
#[tokio::test]
async fn shutdown_closes_streams_with_going_away() {
    use futures::StreamExt;
    use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
    let mut app = spawn_app().await;
    let (mut ws, _snap) = app.ws_subscribe(None).await;
    app.stop().await;
    let close = tokio::time::timeout(WAIT, async {
        while let Some(msg) = ws.next().await {
            match msg {
                Ok(Message::Close(frame)) => return frame,
                Ok(_) => continue,
                Err(e) => panic!("socket error before a close frame: {e}"),
            }
        }
        panic!("socket ended without a close frame")
    })
    .await
    .expect("close frame within the wait");
    assert_eq!(
        close.expect("a close frame with a code").code,
        CloseCode::Away
    );
}
