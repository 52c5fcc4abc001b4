//! The WebSocket stream (`GET /api/v1/stream`). Protocol: docs/STREAM.md.
//!
//! Slow-consumer policy: each client's queue is its cursor into the live
//! world's `broadcast` ring of [`StreamSettings::client_queue`] events. The
//! writer never waits for a client. A client that falls more than that many
//! events behind (`Lagged`) is sent `{"type":"resync"}` followed by a fresh
//! snapshot, instead of the events it missed. A client whose socket does not
//! accept a frame within [`StreamSettings::write_timeout`] (plus one second
//! per 32 KiB of frame, so big snapshots reach slow links) is disconnected.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::{close_code, CloseFrame, Message, Utf8Bytes, WebSocket};
use serde_json::{json, Value};
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::watch;

use crate::domain::Bbox;
use crate::live::{EventBody, HeatWant, StreamEvent, Subscription, Topic, WorldHandle};
use crate::risk::heat::Surface;

/// Slowest link a screen is expected to have (≈ 256 kbit/s), for write budgets.
const MIN_LINK_BYTES_PER_SEC: f64 = 32.0 * 1024.0;
/// A client may change its subscription at most this often; each one costs
/// the writer a snapshot query and the session a snapshot.
pub const MIN_SUBSCRIBE_INTERVAL: Duration = Duration::from_secs(1);

/// Layers a client can subscribe to today.
pub const STREAM_LAYERS: &[&str] = &["incidents", "responders", "heat", "clusters"];

/// What a client subscribed to. Without `layers` a subscribe means
/// incidents only (what the first screens asked for).
#[derive(Debug, Clone, PartialEq)]
struct Want {
    bbox: Bbox,
    incidents: bool,
    responders: bool,
    heat: Option<HeatWant>,
    clusters: bool,
}

impl Want {
    fn wants(&self, topic: Topic) -> bool {
        match topic {
            Topic::Incidents => self.incidents,
            Topic::Responders => self.responders,
            Topic::Heat => self.heat.is_some(),
            Topic::Clusters => self.clusters,
        }
    }
}

/// `"heat": {"res": 8, "surface": "live", "category": null}` (all optional).
fn parse_heat(v: Option<&Value>) -> Result<HeatWant, String> {
    let mut w = HeatWant {
        res: 8,
        surface: Surface::Live,
        category: None,
    };
    let Some(v) = v.filter(|v| !v.is_null()) else {
        return Ok(w);
    };
    let o = v
        .as_object()
        .ok_or_else(|| error_msg("heat", "must be an object {res, surface, category}"))?;
    if let Some(r) = o.get("res").filter(|r| !r.is_null()) {
        w.res = r
            .as_u64()
            .filter(|r| (7..=10).contains(r))
            .ok_or_else(|| error_msg("heat.res", "must be an integer from 7 to 10"))?
            as u8;
    }
    if let Some(s) = o.get("surface").filter(|s| !s.is_null()) {
        w.surface = s
            .as_str()
            .and_then(Surface::parse)
            .ok_or_else(|| error_msg("heat.surface", "must be live or risk"))?;
    }
    if let Some(c) = o.get("category").filter(|c| !c.is_null()) {
        w.category = Some(
            c.as_str()
                .ok_or_else(|| error_msg("heat.category", "must be a string"))?
                .to_string(),
        );
    }
    Ok(w)
}

#[derive(Debug, Clone, Copy)]
pub struct StreamSettings {
    /// Events a client may fall behind before it is resynced.
    pub client_queue: usize,
    /// Most incidents in a snapshot.
    pub snapshot_limit: usize,
    /// Application heartbeat interval (below common proxy idle timeouts).
    pub heartbeat: Duration,
    /// Longest a single frame may take to be accepted by the socket.
    pub write_timeout: Duration,
    /// Time allowed between connecting and the first subscribe.
    pub subscribe_timeout: Duration,
}

impl Default for StreamSettings {
    fn default() -> Self {
        Self {
            client_queue: 8192,
            snapshot_limit: 2000,
            heartbeat: Duration::from_secs(10),
            write_timeout: Duration::from_secs(10),
            subscribe_timeout: Duration::from_secs(30),
        }
    }
}

/// A parsed client message.
#[derive(Debug, PartialEq)]
enum ClientMsg {
    Subscribe(Want),
    Ping,
}

fn error_msg(field: &str, reason: &str) -> String {
    json!({"type": "error", "field": field, "reason": reason}).to_string()
}

fn parse_client(text: &str) -> Result<ClientMsg, String> {
    let v: Value = serde_json::from_str(text)
        .map_err(|e| error_msg("message", &format!("not valid JSON: {e}")))?;
    match v.get("type").and_then(Value::as_str) {
        Some("subscribe") => {
            let bbox = match v.get("bbox") {
                None | Some(Value::Null) => Bbox::world(),
                Some(Value::Array(a)) => {
                    let nums: Option<Vec<f64>> = a.iter().map(Value::as_f64).collect();
                    let nums =
                        nums.ok_or_else(|| error_msg("bbox", "must be four numbers [w,s,e,n]"))?;
                    Bbox::from_slice(&nums).map_err(|e| error_msg("bbox", &e.to_string()))?
                }
                Some(_) => return Err(error_msg("bbox", "must be four numbers [w,s,e,n]")),
            };
            let mut want = Want {
                bbox,
                incidents: true,
                responders: false,
                heat: None,
                clusters: false,
            };
            let mut heat = false;
            if let Some(layers) = v.get("layers") {
                let list = layers
                    .as_array()
                    .ok_or_else(|| error_msg("layers", "must be an array of layer names"))?;
                want.incidents = false;
                for l in list {
                    match l.as_str() {
                        Some("incidents") => want.incidents = true,
                        Some("responders") => want.responders = true,
                        Some("heat") => heat = true,
                        Some("clusters") => want.clusters = true,
                        _ => {
                            return Err(error_msg(
                                "layers",
                                &format!(
                                    "unknown layer {l}; supported: {}",
                                    STREAM_LAYERS.join(", ")
                                ),
                            ))
                        }
                    }
                }
            }
            if heat {
                want.heat = Some(parse_heat(v.get("heat"))?);
            }
            Ok(ClientMsg::Subscribe(want))
        }
        Some("ping") => Ok(ClientMsg::Ping),
        Some(other) => Err(error_msg(
            "type",
            &format!("unknown message type {other:?}; expected subscribe or ping"),
        )),
        None => Err(error_msg("type", "is required")),
    }
}

fn snapshot_msg(sub: &Subscription, want: &Want) -> String {
    let mut msg = json!({
        "type": "snapshot",
        "seq": sub.seq,
        "bbox": want.bbox,
    });
    if let Some((reader, w)) = &sub.heat {
        let body =
            reader.read(|h| crate::live::heat_body(h, want.bbox, w, chrono::Utc::now(), false));
        msg["heat"] = serde_json::to_value(body).expect("heat serialises");
    }
    if want.responders {
        msg["assignments"] = Value::Array(sub.assignments.clone());
    }
    // Incident and responder features are pre-serialised: splice them in as text.
    let mut text = msg.to_string();
    text.pop(); // the closing brace
    text.push_str(r#","incidents":{"type":"FeatureCollection","features":["#);
    if want.incidents {
        join_into(&mut text, sub.incidents.iter().map(|f| &**f));
    }
    text.push_str("]}");
    if want.responders {
        text.push_str(r#","responders":{"type":"FeatureCollection","features":["#);
        join_into(&mut text, sub.responders.iter().flatten().map(|f| &**f));
        text.push_str("]}");
    }
    if want.clusters {
        text.push_str(r#","clusters":{"type":"FeatureCollection","features":["#);
        join_into(&mut text, sub.clusters.iter().flatten().map(|f| &**f));
        text.push_str("]}");
    }
    text.push('}');
    text
}

fn join_into<'a>(out: &mut String, parts: impl Iterator<Item = &'a str>) {
    for (i, p) in parts.enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(p);
    }
}

/// This client's share of an event, as a wire message (None: nothing for it).
fn message_for(ev: &StreamEvent, want: &Want) -> Option<Utf8Bytes> {
    if !want.wants(ev.topic) {
        return None;
    }
    match &ev.body {
        EventBody::One { position, json } => position
            .is_none_or(|p| want.bbox.contains(p))
            .then(|| Utf8Bytes::from(&**json)),
        EventBody::Features(items) => {
            let mine = items.iter().filter(|it| match (it.now, it.before) {
                (None, None) => true,
                (a, b) => {
                    a.is_some_and(|p| want.bbox.contains(p))
                        || b.is_some_and(|p| want.bbox.contains(p))
                }
            });
            let mut text = format!(r#"{{"type":"responders","seq":{},"features":["#, ev.seq);
            let before = text.len();
            join_into(&mut text, mine.map(|it| &*it.json));
            if text.len() == before {
                return None;
            }
            text.push_str("]}");
            Some(Utf8Bytes::from(text))
        }
        EventBody::Heat { at, items } => {
            let hw = want.heat.as_ref()?;
            let cells: Vec<Value> = items
                .iter()
                .filter(|it| {
                    it.res == hw.res
                        && it.category.as_deref() == hw.category.as_deref()
                        && it.lon >= want.bbox.west
                        && it.lon <= want.bbox.east
                        && it.lat >= want.bbox.south
                        && it.lat <= want.bbox.north
                })
                .map(|it| {
                    json!({
                        "h3": format!("{:x}", it.h3),
                        "lon": it.lon,
                        "lat": it.lat,
                        "intensity": match hw.surface { Surface::Live => it.live, Surface::Risk => it.risk },
                        "count": it.count,
                    })
                })
                .collect();
            if cells.is_empty() {
                return None;
            }
            let half_life = match hw.surface {
                Surface::Live => crate::risk::heat::HeatConfig::default().live_half_life,
                Surface::Risk => crate::risk::heat::HeatConfig::default().risk_half_life,
            };
            Some(Utf8Bytes::from(
                json!({
                    "type": "heat",
                    "seq": ev.seq,
                    "res": hw.res,
                    "surface": hw.surface.code(),
                    "category": hw.category,
                    "half_life_s": half_life.num_seconds(),
                    "at": at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
                    "cells": cells,
                })
                .to_string(),
            ))
        }
    }
}

struct Session {
    socket: WebSocket,
    settings: StreamSettings,
}

#[derive(Debug)]
struct Closed;

impl Session {
    async fn send(&mut self, text: impl Into<Utf8Bytes>) -> Result<(), Closed> {
        let text: Utf8Bytes = text.into();
        // The budget grows with the frame (a 2 MB snapshot over a slow
        // township link needs more than a one-line delta): the base timeout
        // plus one second per MIN_LINK_BYTES_PER_SEC.
        let budget = self.settings.write_timeout
            + Duration::from_secs_f64(text.len() as f64 / MIN_LINK_BYTES_PER_SEC);
        match tokio::time::timeout(budget, self.socket.send(Message::Text(text))).await {
            Ok(Ok(())) => Ok(()),
            _ => Err(Closed),
        }
    }
}

/// Runs one client connection to completion.
pub async fn serve_socket(
    socket: WebSocket,
    world: WorldHandle,
    settings: StreamSettings,
    mut shutdown: watch::Receiver<bool>,
    sessions: Sessions,
) {
    let _live = sessions.enter();
    let mut s = Session { socket, settings };
    let _ = run(&mut s, &world, &mut shutdown).await;
    let frame = (*shutdown.borrow()).then(|| CloseFrame {
        code: close_code::AWAY,
        reason: "server shutting down".into(),
    });
    // bounded too: a peer with a zero window must not pin this task forever
    let _ = tokio::time::timeout(
        s.settings.write_timeout,
        s.socket.send(Message::Close(frame)),
    )
    .await;
}

/// Counts open stream sessions, so shutdown can wait for their close frames
/// (axum's graceful shutdown does not track upgraded connections).
#[derive(Clone, Default)]
pub struct Sessions(Arc<std::sync::atomic::AtomicUsize>);

struct SessionGuard(Arc<std::sync::atomic::AtomicUsize>);

impl Drop for SessionGuard {
    fn drop(&mut self) {
        self.0.fetch_sub(1, std::sync::atomic::Ordering::AcqRel);
    }
}

impl Sessions {
    fn enter(&self) -> SessionGuard {
        self.0.fetch_add(1, std::sync::atomic::Ordering::AcqRel);
        SessionGuard(self.0.clone())
    }

    pub fn open(&self) -> usize {
        self.0.load(std::sync::atomic::Ordering::Acquire)
    }

    /// Waits until every session has closed, or `limit` has passed.
    pub async fn drained(&self, limit: Duration) {
        let deadline = tokio::time::Instant::now() + limit;
        while self.open() > 0 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

async fn run(
    s: &mut Session,
    world: &WorldHandle,
    shutdown: &mut watch::Receiver<bool>,
) -> Result<(), Closed> {
    // Phase 1: wait for the first subscribe.
    let deadline = tokio::time::sleep(s.settings.subscribe_timeout);
    tokio::pin!(deadline);
    let mut want = loop {
        tokio::select! {
            _ = &mut deadline => {
                s.send(error_msg("type", "no subscribe message received in time")).await?;
                return Err(Closed);
            }
            _ = shutdown.changed() => return Err(Closed),
            msg = s.socket.recv() => match msg {
                Some(Ok(Message::Text(t))) => match parse_client(&t) {
                    Ok(ClientMsg::Subscribe(b)) => break b,
                    Ok(ClientMsg::Ping) => s.send(json!({"type":"pong","seq":world.seq()}).to_string()).await?,
                    Err(e) => s.send(e).await?,
                },
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return Err(Closed),
                Some(Ok(_)) => {}
            }
        }
    };
    let mut sub = subscribe(s, world, &want).await?;
    let mut last_subscribe = tokio::time::Instant::now();
    let mut heartbeat = tokio::time::interval(s.settings.heartbeat);
    heartbeat.tick().await;
    loop {
        tokio::select! {
            _ = shutdown.changed() => return Ok(()),
            _ = heartbeat.tick() => {
                let msg = json!({"type":"heartbeat","seq":world.seq(),"ts":chrono::Utc::now().to_rfc3339()});
                s.send(msg.to_string()).await?;
            }
            ev = sub.recv() => match ev {
                Ok(ev) => {
                    if ev.seq > sub.seq {
                        if let Some(msg) = message_for(&ev, &want) {
                            s.send(msg).await?;
                        }
                    }
                }
                Err(RecvError::Lagged(missed)) => {
                    tracing::info!(missed, "stream client fell behind; resyncing");
                    s.send(json!({"type":"resync","reason":format!("client fell {missed} events behind")}).to_string()).await?;
                    sub = subscribe(s, world, &want).await?;
                }
                Err(RecvError::Closed) => return Ok(()),
            },
            msg = s.socket.recv() => match msg {
                Some(Ok(Message::Text(t))) => match parse_client(&t) {
                    Ok(ClientMsg::Subscribe(_)) if last_subscribe.elapsed() < MIN_SUBSCRIBE_INTERVAL => {
                        s.send(error_msg("type", "subscribe at most once per second; the previous subscription stays in force")).await?;
                    }
                    Ok(ClientMsg::Subscribe(w)) => {
                        want = w;
                        sub = subscribe(s, world, &want).await?;
                        last_subscribe = tokio::time::Instant::now();
                    }
                    Ok(ClientMsg::Ping) => s.send(json!({"type":"pong","seq":world.seq()}).to_string()).await?,
                    Err(e) => s.send(e).await?,
                },
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return Ok(()),
                Some(Ok(_)) => {}
            }
        }
    }
}

/// A subscription with the sequence number of its snapshot, so events
/// already contained in the snapshot are skipped.
struct LiveSub {
    seq: u64,
    events: tokio::sync::broadcast::Receiver<Arc<StreamEvent>>,
}

impl LiveSub {
    async fn recv(&mut self) -> Result<Arc<StreamEvent>, RecvError> {
        self.events.recv().await
    }
}

async fn subscribe(s: &mut Session, world: &WorldHandle, want: &Want) -> Result<LiveSub, Closed> {
    let sub = world
        .subscribe_with(
            want.bbox,
            s.settings.snapshot_limit,
            want.responders,
            want.heat.clone(),
            want.clusters,
        )
        .await
        .ok_or(Closed)?;
    s.send(snapshot_msg(&sub, want)).await?;
    Ok(LiveSub {
        seq: sub.seq,
        events: sub.events,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_subscribe_and_rejects_bad_messages() {
        assert_eq!(
            parse_client(
                r#"{"type":"subscribe","bbox":[121,28.5,121.3,28.7],"layers":["incidents"]}"#
            )
            .unwrap(),
            ClientMsg::Subscribe(Want {
                bbox: Bbox::new(121.0, 28.5, 121.3, 28.7).unwrap(),
                incidents: true,
                responders: false,
                heat: None,
                clusters: false
            })
        );
        assert_eq!(
            parse_client(r#"{"type":"subscribe"}"#).unwrap(),
            ClientMsg::Subscribe(Want {
                bbox: Bbox::world(),
                incidents: true,
                responders: false,
                heat: None,
                clusters: false
            })
        );
        assert_eq!(
            parse_client(r#"{"type":"subscribe","layers":["responders"]}"#).unwrap(),
            ClientMsg::Subscribe(Want {
                bbox: Bbox::world(),
                incidents: false,
                responders: true,
                heat: None,
                clusters: false
            })
        );
        assert_eq!(
            parse_client(r#"{"type":"subscribe","layers":["clusters","incidents"]}"#).unwrap(),
            ClientMsg::Subscribe(Want {
                bbox: Bbox::world(),
                incidents: true,
                responders: false,
                heat: None,
                clusters: true
            })
        );
        assert_eq!(parse_client(r#"{"type":"ping"}"#).unwrap(), ClientMsg::Ping);
        let field = |t: &str| {
            let e: Value = serde_json::from_str(&parse_client(t).unwrap_err()).unwrap();
            assert_eq!(e["type"], "error");
            e["field"].as_str().unwrap().to_string()
        };
        assert_eq!(field(r#"{"type":"subscribe","bbox":[3,0,1,1]}"#), "bbox");
        assert_eq!(field(r#"{"type":"subscribe","bbox":"x"}"#), "bbox");
        assert_eq!(field(r#"{"type":"subscribe","layers":["cars"]}"#), "layers");
        assert_eq!(field(r#"{"type":"dance"}"#), "type");
        assert_eq!(field(r#"{}"#), "type");
        assert_eq!(field("not json"), "message");
    }
}
